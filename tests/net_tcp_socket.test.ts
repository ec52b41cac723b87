/**
 * TcpSocket behaves like a connecting net.Socket for ssh2: 'connect' once up,
 * every byte delivered in order both ways (including batched writes of slab
 * packets), half-close, and system error codes on failure.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { PacketSlab } from "../src/net/packet_slab.ts";
import { TcpSocket } from "../src/net/tcp_socket.ts";
import { freePort } from "./helpers/process.ts";

/** A listener that hashes everything one client sends, then answers with the hash and closes. */
function hashingServer(): { port: number; done: Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    const conn = await listener.accept();
    listener.close();
    const hash = createHash("sha256");
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      hash.update(buf.subarray(0, n));
    }
    await conn.write(new TextEncoder().encode(hash.digest("hex")));
    conn.close();
  })();
  return { port: (listener.addr as Deno.NetAddr).port, done };
}

function readAll(sock: TcpSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    sock.on("data", (d: Buffer) => text += d.toString());
    sock.on("end", () => resolve(text));
    sock.on("error", reject);
  });
}

Deno.test("connects, sends 64 MiB of slab packets in batches, half-closes and reads the answer", async () => {
  const server = hashingServer();
  const sock = new TcpSocket("127.0.0.1", server.port);
  const closed = new Promise((r) => sock.once("close", r));
  assert.equal(sock.connecting, true);
  await new Promise((r) => sock.once("connect", r));
  assert.equal(sock.connecting, false);
  const answer = readAll(sock);
  const slab = new PacketSlab();
  const expected = createHash("sha256");
  for (let i = 0; i < 2048; i++) {
    // Packet-sized pieces, most of them neighbours in a slab, some small separate ones.
    const packet = slab.take(32768 + 52);
    crypto.getRandomValues(packet.subarray(0, 65536));
    expected.update(packet);
    sock.write(packet);
    if (i % 100 === 0) {
      const extra = Buffer.from(`message ${i}`);
      expected.update(extra);
      sock.write(extra);
    }
  }
  sock.end();
  assert.equal(await answer, expected.digest("hex"));
  await server.done;
  await closed;
});

Deno.test("a refused connection is an error with code ECONNREFUSED, then close", async () => {
  const sock = new TcpSocket("127.0.0.1", freePort());
  const closed = new Promise((r) => sock.once("close", r));
  const err = await new Promise<Error & { code?: string }>((r) => sock.once("error", r));
  assert.equal(err.code, "ECONNREFUSED");
  await closed;
});

Deno.test("destroyed while connecting: no error, the connection is not left open", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const sock = new TcpSocket("127.0.0.1", (listener.addr as Deno.NetAddr).port);
  let failed = false;
  sock.on("error", () => failed = true);
  sock.destroy();
  await new Promise((r) => sock.once("close", r));
  // If the connect got through before the abort, the server sees EOF at once.
  const accepted = await Promise.race([
    listener.accept(),
    new Promise<null>((r) => setTimeout(() => r(null), 200)),
  ]);
  if (accepted !== null) {
    assert.equal(await accepted.read(new Uint8Array(16)), null);
    accepted.close();
  }
  listener.close();
  assert.equal(failed, false);
});

Deno.test("an unknown host name is an error that says so", async () => {
  const sock = new TcpSocket("no-such-host.invalid", 22);
  const err = await new Promise<Error>((r) => sock.once("error", r));
  assert.match(err.message, /lookup|resolve|Name or service/i);
});
