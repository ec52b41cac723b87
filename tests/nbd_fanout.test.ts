/**
 * The disk fan-out against real clients, reached the way virt-v2v reaches a
 * disk: nbdkit's nbd plugin with `shared=true` (one connection) under the cow
 * filter, nbdcopy behind it. Upstream is our built-in server on a Unix
 * socket, standing in for the forward; the test can cut every upstream
 * connection, or take the socket away, while the copy runs.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { startBuiltinExport } from "../src/nbd/builtin_export.ts";
import { type Fanout, startFanout } from "../src/nbd/fanout/fanout_server.ts";
import { tempDir } from "./helpers/cleanup.ts";
import { GiB, makeDenseImage, makePackableImage, makeSparseImage, MiB } from "./helpers/images.ts";
import { freePort, run, sha256File, waitFor } from "./helpers/process.ts";

const work = await tempDir({ prefix: "p2v-fanout." });
const dense = await makeDenseImage(work, "dense.img", 256 * MiB);
const denseSum = await sha256File(dense);
const sparse = await makeSparseImage(work, "sparse.img", 4 * GiB, 32);
const packable = await makePackableImage(work, "packable.img", 128 * MiB);
const packableSum = await sha256File(packable);

/** Our built-in server on a Unix socket, whose connections the test can cut. */
async function upstream(image: string) {
  const exp = await startBuiltinExport(image);
  const socket = join(await tempDir({ prefix: "p2v-up." }), "nbd.sock");
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async () => {
    server = createServer((s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      exp.attach(s);
    });
    await new Promise<void>((r) => server!.listen(socket, () => r()));
  };
  await listen();
  return {
    socket,
    exp,
    get connections() {
      return sockets.size;
    },
    /** Cuts every connection (as a dropped link does); the socket stays. */
    cut() {
      for (const s of sockets) s.destroy();
    },
    /** Takes the socket away (as a dropped SSH session does), cutting everything. */
    async unlisten() {
      await new Promise<void>((r) => {
        server!.close(() => r());
        this.cut();
      });
      await Deno.remove(socket).catch(() => {});
    },
    listen,
    async stop() {
      await this.unlisten();
      await exp.stop();
    },
  };
}

async function withFanout(
  image: string,
  options: { connections?: number; boundMs?: number; zstd?: boolean },
  fn: (
    f: Fanout,
    port: number,
    up: Awaited<ReturnType<typeof upstream>>,
    log: string[],
  ) => Promise<void>,
) {
  const up = await upstream(image);
  const port = freePort();
  const log: string[] = [];
  const fanout = await startFanout({
    addresses: ["127.0.0.1"],
    disks: [{ port, upstreamSocket: up.socket }],
    connections: options.connections ?? 4,
    retryDelayMs: 200,
    boundMs: options.boundMs ?? 20_000,
    zstd: options.zstd ?? true,
    log: (line) => log.push(line),
  });
  try {
    await fn(fanout, port, up, log);
  } finally {
    await fanout.close();
    await up.stop();
  }
}

/** Copies the disk as virt-v2v reads it: cow filter over one shared nbd connection. */
async function copyAsVirtV2v(port: number, out: string): Promise<{ code: number; stderr: string }> {
  const r = await run("nbdkit", [
    "-U",
    "-",
    "--filter=cow",
    "nbd",
    "hostname=127.0.0.1",
    `port=${port}`,
    "shared=true",
    "--run",
    `nbdcopy "$uri" ${out}`,
  ], { check: false });
  return { code: r.code, stderr: r.stderr };
}

Deno.test("fan-out: virt-v2v's path reads every byte, spread over every connection", async () => {
  await withFanout(dense, { connections: 4 }, async (f, port, up) => {
    assert.equal(up.connections, 4);
    const out = join(work, "dense.out");
    const r = await copyAsVirtV2v(port, out);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(out), denseSum);
    const per = f.stats[0].bytesPerConnection;
    assert.equal(per.reduce((a, b) => a + b, 0), 256 * MiB);
    for (const n of per) assert.ok(n > 16 * MiB, `uneven spread: ${per.join(", ")}`);
    await Deno.remove(out);
  });
});

Deno.test("fan-out: the allocation map is the source's, and holes do not cross the link", async () => {
  await withFanout(sparse, {}, async (f, port, up) => {
    const map = async (uri: string) => (await run("nbdinfo", ["--map", "--json", uri])).stdout;
    const through = await map(`nbd://127.0.0.1:${port}`);
    const direct = await map(`nbd+unix:///?socket=${up.socket}`);
    assert.deepEqual(JSON.parse(through), JSON.parse(direct));
    const before = up.exp.bytesSent;
    const out = join(work, "sparse.out");
    const r = await copyAsVirtV2v(port, out);
    assert.equal(r.code, 0, r.stderr);
    const cmp = await run("qemu-img", ["compare", "-q", "-f", "raw", "-F", "raw", sparse, out], {
      check: false,
    });
    assert.equal(cmp.code, 0, "the copy differs from the source");
    // 32 MiB of data in 4 GiB: what crossed is the data plus headers, not the holes.
    const crossed = up.exp.bytesSent - before;
    assert.ok(crossed < 40 * MiB, `${crossed} bytes crossed for 32 MiB of data`);
    assert.ok(f.stats[0].mapExtents > 32);
    await Deno.remove(out);
  });
});

for (
  const [kind, image, sum, size] of [
    ["random", dense, denseSum, 256 * MiB],
    ["zstd-packed", packable, packableSum, 128 * MiB],
  ] as const
) {
  Deno.test(`fan-out: connections cut mid-copy, and the socket gone for a while, lose nothing (${kind} data)`, async () => {
    await withFanout(image, { connections: 4 }, async (f, port, up, log) => {
      const out = join(work, "resume.out");
      const copy = copyAsVirtV2v(port, out);
      await waitFor(() => f.stats[0].bytesPerConnection.some((n) => n > size / 8), 60_000, "copy");
      up.cut();
      await waitFor(() => f.stats[0].reconnects === 4, 10_000, "the cut noticed");
      await waitFor(() => f.stats[0].live === 4, 10_000, "reconnect after the cut");
      // At once: on a busy machine the rest of the copy could otherwise end first.
      await up.unlisten();
      await new Promise((r) => setTimeout(r, 1500));
      await up.listen();
      const r = await copy;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await sha256File(out), sum);
      assert.ok(f.stats[0].reconnects >= 8, `reconnects: ${f.stats[0].reconnects}`);
      assert.ok(log.some((l) => /is back after/.test(l)), log.join("\n"));
      await Deno.remove(out);
    });
  });
}

Deno.test("fan-out: data that packs well crosses zstd-packed, the rest as it is, every byte intact", async () => {
  await withFanout(packable, { connections: 4 }, async (f, port, up) => {
    const before = up.exp.bytesSent;
    const out = join(work, "packable.out");
    const r = await copyAsVirtV2v(port, out);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(out), packableSum);
    // 96 of the 128 MiB are text: those come packed, to about 3/4; the random 32 MiB do not.
    const { raw, wire } = f.stats[0].packed;
    assert.ok(raw >= 90 * MiB && raw <= 100 * MiB, `${raw} bytes came packed`);
    assert.ok(wire < 0.8 * raw, `packed ${raw} into ${wire}`);
    // Both ends agree on what was packed; progress still counts the disk's bytes.
    assert.deepEqual(up.exp.packed, { raw, wire });
    assert.ok(up.exp.bytesSent - before >= 128 * MiB);
    await Deno.remove(out);
  });
  // Asked not to, nothing is packed.
  await withFanout(packable, { connections: 2, zstd: false }, async (f, port, up) => {
    const before = up.exp.bytesSent;
    const out = join(work, "unpacked.out");
    const r = await copyAsVirtV2v(port, out);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(out), packableSum);
    assert.equal(f.stats[0].packed.raw, 0);
    assert.ok(up.exp.bytesSent - before >= 128 * MiB);
    await Deno.remove(out);
  });
});

Deno.test("fan-out: an upstream NBD server that is not ours is asked for zstd, says no, and serves", async () => {
  const dir = await tempDir({ prefix: "p2v-up." });
  const socket = join(dir, "nbdkit.sock");
  const nbdkit = new Deno.Command("nbdkit", {
    args: ["-f", "-r", "-U", socket, "file", `file=${packable}`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitFor(() => Deno.stat(socket).then(() => true, () => false), 10_000, "nbdkit");
    const port = freePort();
    const fanout = await startFanout({
      addresses: ["127.0.0.1"],
      disks: [{ port, upstreamSocket: socket }],
      connections: 2,
      retryDelayMs: 200,
      boundMs: 5000,
      zstd: true,
      log: () => {},
    });
    try {
      const out = join(work, "nbdkit.out");
      const r = await copyAsVirtV2v(port, out);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await sha256File(out), packableSum);
      assert.equal(fanout.stats[0].packed.raw, 0);
      await Deno.remove(out);
    } finally {
      await fanout.close();
    }
  } finally {
    nbdkit.kill("SIGTERM");
    await nbdkit.status;
  }
});

Deno.test("fan-out: with no upstream past the bound, reads fail instead of waiting for ever", async () => {
  await withFanout(dense, { connections: 2, boundMs: 1500 }, async (_f, port, up) => {
    await up.unlisten();
    const started = Date.now();
    const r = await run("nbdcopy", [`nbd://127.0.0.1:${port}`, "null:"], { check: false });
    const took = Date.now() - started;
    assert.notEqual(r.code, 0);
    assert.ok(took < 15_000, `took ${took} ms`);
  });
});

Deno.test("fan-out: writes are refused and the source stays as it was", async () => {
  await withFanout(dense, { connections: 2 }, async (_f, port) => {
    const r = await run("qemu-io", [
      "-f",
      "raw",
      "-c",
      "write -P 0x55 0 64k",
      `nbd://127.0.0.1:${port}`,
    ], { check: false });
    assert.match(r.stdout + r.stderr, /read-only|not permitted|Permission/i);
    assert.equal(await sha256File(dense), denseSum);
  });
});

Deno.test("fan-out: a port already taken is an error, not a second listener", async () => {
  const up = await upstream(dense);
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      startFanout({
        addresses: ["127.0.0.1"],
        disks: [{ port: (taken.addr as Deno.NetAddr).port, upstreamSocket: up.socket }],
        connections: 2,
        retryDelayMs: 200,
        boundMs: 5000,
        zstd: true,
        log: () => {},
      }),
      /EADDRINUSE|in use/,
    );
    await waitFor(() => up.connections === 0, 5000, "the fan-out to let go of its upstream");
  } finally {
    taken.close();
    await up.stop();
  }
});
