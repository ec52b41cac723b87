/**
 * The built-in NBD server's bounds across connections: how many may be open,
 * how long one may take to negotiate, and how many bytes all of an export's
 * reads may hold together. Raw clients misbehave on purpose.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { makeLayoutImage } from "./helpers/nbd_images.ts";
import { RawNbdClient } from "./helpers/nbd_raw_client.ts";
import { withServer } from "./helpers/nbd_server.ts";
import { DEFAULT_EXPORT_LIMITS } from "../src/nbd/builtin_export.ts";
import { tempDir } from "./helpers/cleanup.ts";

const MiB = 1024 * 1024;
const CMD_READ = 0;

const work = await tempDir({ prefix: "p2v-nbd-limits." });
addEventListener("unload", () => {
  try {
    Deno.removeSync(work, { recursive: true });
  } catch { /* already gone */ }
});
const SIZE = 64 * MiB;
const img = await makeLayoutImage(work, "layout.img", SIZE, [[0, SIZE]]);

/** Open `n` raw clients; all are destroyed by `fn`'s end, whatever happens. */
async function withClients(
  path: string,
  n: number,
  fn: (clients: RawNbdClient[]) => Promise<void>,
): Promise<void> {
  const clients: RawNbdClient[] = [];
  try {
    for (let i = 0; i < n; i++) clients.push(await RawNbdClient.connect(path));
    await fn(clients);
  } finally {
    for (const c of clients) c.destroy();
    await Promise.all(clients.map((c) => c.closed));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("connections beyond the export's cap are closed at once, without a greeting", async () => {
  const cap = DEFAULT_EXPORT_LIMITS.maxConnections;
  await withServer(img.path, async (s) => {
    await withClients(s.socketPath, cap, async (held) => {
      for (const c of held) await c.greeting();
      assert.equal(s.exp.connections, cap);
      await withClients(s.socketPath, 3, async (extra) => {
        for (const c of extra) {
          assert.ok(await c.closesWithin(2000), "a connection beyond the cap was kept");
          assert.equal(c.buffered, 0, "a refused connection got a greeting");
        }
      });
      assert.match(s.clientErrors.join("\n"), new RegExp(`beyond the ${cap} allowed`));
      // A slot that frees up is usable again.
      held[0].destroy();
      await held[0].closed;
      for (let i = 0; i < 100 && s.exp.connections >= cap; i++) await sleep(20);
      await withClients(s.socketPath, 1, async ([c]) => {
        const { size } = await c.handshake();
        assert.equal(size, SIZE);
      });
    });
  });
});

Deno.test("a connection that does not finish the handshake in time is closed", async () => {
  await withServer(img.path, async (s) => {
    await withClients(s.socketPath, 2, async ([idle, prompt]) => {
      await idle.greeting();
      await prompt.handshake();
      assert.ok(await idle.closesWithin(5000), "the idle connection was kept");
      assert.match(s.clientErrors.join("\n"), /no NBD handshake within 300 ms/);
      // The deadline is for negotiating only: a negotiated connection stays.
      await sleep(400);
      prompt.sendRequest({ type: CMD_READ, cookie: 1n, offset: 0, length: 4096 });
      assert.deepEqual(await prompt.simpleReply(), { error: 0, cookie: 1n });
      assert.ok(Buffer.from(await prompt.read(4096)).equals(img.expected(0, 4096)));
      assert.equal(s.exp.connections, 1);
    });
  }, { limits: { handshakeTimeoutMs: 300 } });
});

Deno.test("reads of all connections together stay within the export's budget; the rest wait", async () => {
  const budget = DEFAULT_EXPORT_LIMITS.maxBytesInFlight;
  const clients = 10;
  const length = 32 * MiB;
  await withServer(img.path, async (s) => {
    await withClients(s.socketPath, clients, async (cs) => {
      for (const c of cs) await c.handshake();
      const rssBefore = Deno.memoryUsage().rss;
      // Each asks for the largest read and does not read the reply (yet).
      cs.forEach((c, i) => {
        c.socket.pause();
        c.sendRequest({ type: CMD_READ, cookie: BigInt(i), offset: 0, length });
      });
      let peak = 0;
      for (let i = 0; i < 40; i++) {
        await sleep(25);
        peak = Math.max(peak, s.exp.bytesInFlight);
      }
      const grownMiB = (Deno.memoryUsage().rss - rssBefore) / MiB;
      console.log(
        `${clients} connections × ${length / MiB} MiB unread: ${(peak / MiB).toFixed(1)} MiB ` +
          `in flight, RSS grew ${grownMiB.toFixed(0)} MiB`,
      );
      assert.ok(peak > 0, "no read started");
      assert.ok(peak <= budget, `${peak} bytes in flight, budget ${budget}`);
      assert.ok(grownMiB < 200, `RSS grew ${grownMiB.toFixed(0)} MiB`);
      // Once the clients read, every waiting request is answered in turn.
      const expected = img.expected(0, length);
      await Promise.all(cs.map(async (c, i) => {
        c.socket.resume();
        // Replies come one budget's worth at a time: later ones wait for earlier ones.
        const header = await c.read(16, 120_000);
        assert.equal(header.readUInt32BE(4), 0, `reply ${i}: error`);
        assert.equal(header.readBigUInt64BE(8), BigInt(i));
        assert.ok(Buffer.from(await c.read(length, 120_000)).equals(expected), `reply ${i}`);
      }));
      for (let i = 0; i < 100 && s.exp.bytesInFlight > 0; i++) await sleep(20);
      assert.equal(s.exp.bytesInFlight, 0, "bytes were not given back");
    });
  });
});
