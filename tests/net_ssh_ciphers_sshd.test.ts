/**
 * Every cipher we offer, against the real OpenSSH server: 48 MiB sent through
 * ssh2 over our TcpSocket into `sha256sum` on the server must hash the same,
 * while the server re-keys every few MiB (new keys, new cipher objects
 * mid-stream). A corrupted or misauthenticated packet makes sshd drop the
 * connection, so a match means every packet was right.
 *
 * Then the product path (SshSession) through a reverse forward, with
 * libcrypto and — in a process without FFI permission — with the automatic
 * fall-back to ssh2's node:crypto code.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { cipherPreference, libcryptoCiphersInUse } from "../src/net/ssh2_fast_ciphers.ts";
import { TcpSocket } from "../src/net/tcp_socket.ts";
// @ts-types="npm:@types/ssh2@1.15.6"
import { type CipherAlgorithm, Client, type ClientChannel } from "ssh2";
import { startSshd, TEST_USER } from "./helpers/sshd.ts";

const MiB = 1048576;
const sshd = await startSshd({ extraConfig: ["RekeyLimit 4M"] });
addEventListener("unload", () => sshd.stopSync());
const key = Buffer.from(await Deno.readFile(sshd.userKeyPath));

/**
 * Send `bytes` of fresh random data in 256 KiB pieces (the size of NBD read
 * replies) into the channel, end it, and return the SHA-256 of what was
 * sent and the first word the server printed.
 */
async function sendThrough(channel: ClientChannel, bytes: number) {
  let out = "";
  channel.on("data", (d: Buffer) => out += d.toString());
  const hash = createHash("sha256");
  for (let sent = 0; sent < bytes; sent += 256 * 1024) {
    const piece = Buffer.allocUnsafe(256 * 1024);
    for (let at = 0; at < piece.length; at += 65536) {
      crypto.getRandomValues(piece.subarray(at, at + 65536));
    }
    hash.update(piece);
    if (!channel.write(piece)) await new Promise((r) => channel.once("drain", r));
  }
  channel.end();
  await new Promise((r) => channel.once("close", r));
  return { local: hash.digest("hex"), remote: out.split(/\s/)[0] };
}

for (const cipher of cipherPreference()) {
  Deno.test(`${cipher}: 48 MiB reach sshd intact across re-keys`, async () => {
    const logStart = (await Deno.readTextFile(sshd.logPath)).length;
    const client = new Client();
    let negotiated = "";
    let cipherClass = "";
    let handshakes = 0;
    client.on("handshake", (n) => {
      handshakes++;
      negotiated = n.cs.cipher;
      // The object that encrypts from now on (ssh2 1.17 keeps it here).
      const proto = (client as unknown as { _protocol: { _cipher: object } })._protocol;
      queueMicrotask(() => cipherClass = proto._cipher.constructor.name);
    });
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("error", reject);
      client.connect({
        sock: new TcpSocket("127.0.0.1", sshd.port),
        username: TEST_USER,
        privateKey: key,
        algorithms: { cipher: [cipher as CipherAlgorithm] },
      });
    });
    try {
      const channel = await new Promise<ClientChannel>((resolve, reject) =>
        client.exec("sha256sum", (err, ch) => err ? reject(err) : resolve(ch))
      );
      const { local, remote } = await sendThrough(channel, 48 * MiB);
      assert.equal(remote, local);
      assert.equal(negotiated, cipher);
      assert.ok(handshakes >= 5, `only ${handshakes} key exchanges: RekeyLimit did not apply`);
      const ours = libcryptoCiphersInUse() && /gcm|chacha20/.test(cipher);
      assert.equal(
        /^(AesGcm|ChaChaPoly)Cipher$/.test(cipherClass),
        ours,
        `packets were encrypted by ${cipherClass}`,
      );
    } finally {
      const closed = new Promise((r) => client.once("close", () => r(undefined)));
      client.end();
      await closed;
    }
    const log = (await Deno.readTextFile(sshd.logPath)).slice(logStart);
    assert.doesNotMatch(log, /Corrupted MAC|message authentication code incorrect|Bad packet/i);
  });
}

const CLIENT = fileURLToPath(new URL("./fixtures/forward_checksum_client.ts", import.meta.url));

/** Run the SshSession client in its own process, with the given permission flags. */
async function runForwardClient(permissions: string[]): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...permissions,
      CLIENT,
      String(sshd.port),
      TEST_USER,
      sshd.userKeyPath,
      String(32 * MiB),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `the client failed: ${stderr}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("SshSession: a reverse forward carries 32 MiB intact with libcrypto", async () => {
  const r = await runForwardClient(["--allow-all"]);
  assert.equal(r.libcrypto, true);
  assert.equal(r.remoteSha, r.localSha);
});

Deno.test("SshSession without FFI permission falls back to node:crypto and still works", async () => {
  const r = await runForwardClient([
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-run",
    "--allow-sys",
  ]);
  assert.equal(r.libcrypto, false);
  assert.equal(r.cipher, "chacha20-poly1305@openssh.com");
  assert.equal(r.remoteSha, r.localSha);
});
