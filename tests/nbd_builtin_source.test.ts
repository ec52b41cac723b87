/**
 * The built-in server's disk reader: positional reads, hole detection with
 * SEEK_DATA/SEEK_HOLE (and the all-data fallback), block devices, and the
 * errors for things that cannot be served.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { UserError } from "../src/errors.ts";
import { startBuiltinExport } from "../src/nbd/builtin_export.ts";
import { loadHoleSeeker } from "../src/nbd/builtin/seek_hole.ts";
import { DiskSource } from "../src/nbd/builtin/source.ts";
import { makeLayoutImage } from "./helpers/nbd_images.ts";
import { RawNbdClient } from "./helpers/nbd_raw_client.ts";
import { withServer } from "./helpers/nbd_server.ts";
import { run } from "./helpers/process.ts";
import { tempDir } from "./helpers/cleanup.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const HOLE = 3; // NBD_STATE_HOLE | NBD_STATE_ZERO

const work = await tempDir({ prefix: "p2v-nbd-src." });
addEventListener("unload", () => {
  try {
    Deno.removeSync(work, { recursive: true });
  } catch { /* already gone */ }
});
const img = await makeLayoutImage(work, "layout.img", 16 * MiB, [
  [0, 64 * KiB],
  [4 * MiB, 1 * MiB],
  [10 * MiB + 8 * KiB, 4 * KiB],
]);

function read(src: DiskSource, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length + 7);
  return new Promise((resolve, reject) =>
    src.read(buf, 7, length, offset, (err) => err ? reject(err) : resolve(buf.subarray(7)))
  );
}

Deno.test("the C library's lseek is reachable through FFI under -A", () => {
  assert.ok(loadHoleSeeker(), "FFI lseek should load on Linux with --allow-ffi");
});

Deno.test("extents of a sparse file: holes as hole+zero, data as data, clipped and limited", async () => {
  const src = await DiskSource.open(img.path);
  try {
    assert.equal(src.size, 16 * MiB);
    assert.equal(src.kind, "file");
    assert.ok(src.detectsHoles);
    const all = src.extents(0, src.size, 100).map((e) => [e.length, e.flags]);
    assert.deepEqual(all, [
      [64 * KiB, 0],
      [4 * MiB - 64 * KiB, HOLE],
      [MiB, 0],
      [5 * MiB + 8 * KiB, HOLE],
      [4 * KiB, 0],
      [16 * MiB - 10 * MiB - 12 * KiB, HOLE],
    ]);
    assert.equal(all.reduce((n, [len]) => n + len, 0), src.size);
    // Starting inside an extent, ending inside another.
    assert.deepEqual(src.extents(32 * KiB, 4 * MiB, 100).map((e) => [e.length, e.flags]), [
      [32 * KiB, 0],
      [4 * MiB - 64 * KiB, HOLE],
      [32 * KiB, 0],
    ]);
    // A limit on the number of extents shortens the answer, never breaks it.
    assert.deepEqual(src.extents(0, src.size, 2).map((e) => [e.length, e.flags]), [
      [64 * KiB, 0],
      [4 * MiB - 64 * KiB, HOLE],
    ]);
    assert.ok(src.isHole(5 * MiB, 5 * MiB));
    assert.ok(!src.isHole(5 * MiB, 5 * MiB + 8 * KiB + 1));
    assert.ok(src.isHole(11 * MiB, 5 * MiB), "the trailing hole");
    assert.ok(!src.isHole(0, 1));
  } finally {
    await src.close();
  }
});

Deno.test("without hole detection everything is data", async () => {
  const src = await DiskSource.open(img.path, { seeker: null });
  try {
    assert.ok(!src.detectsHoles);
    assert.deepEqual(src.extents(MiB, 2 * MiB, 100), [{ length: 2 * MiB, flags: 0 }]);
    assert.ok(!src.isHole(5 * MiB, MiB));
  } finally {
    await src.close();
  }
});

Deno.test("positional reads return the right bytes, concurrently and at odd offsets", async () => {
  const src = await DiskSource.open(img.path);
  try {
    const ranges: [number, number][] = [];
    for (let i = 0; i < 200; i++) {
      const len = 1 + ((i * 7919) % (300 * KiB));
      const off = (i * 104729 * 13) % (src.size - len);
      ranges.push([off, len]);
    }
    ranges.push([4 * MiB - 1, 2], [src.size - 1, 1], [0, 0]);
    const got = await Promise.all(ranges.map(([o, l]) => read(src, o, l)));
    ranges.forEach(([o, l], i) => {
      assert.ok(got[i].equals(Buffer.from(img.expected(o, l))), `read ${o}+${l}`);
    });
  } finally {
    await src.close();
  }
});

Deno.test("a file that shrinks under us gives a read error, not short data", async () => {
  const path = join(work, "shrinking.img");
  await Deno.writeFile(path, new Uint8Array(2 * MiB).fill(1));
  const src = await DiskSource.open(path);
  try {
    await Deno.truncate(path, MiB);
    await assert.rejects(() => read(src, MiB - 4096, 8192), /unexpected end/);
  } finally {
    await src.close();
    await Deno.remove(path);
  }
});

Deno.test("close() waits for reads in flight before closing the descriptor", async () => {
  const src = await DiskSource.open(img.path);
  const pending = read(src, 4 * MiB, MiB);
  const closed = src.close();
  const data = await pending;
  await closed;
  assert.ok(data.equals(Buffer.from(img.expected(4 * MiB, MiB))));
  await assert.rejects(() => read(src, 0, 1), /closed/);
});

Deno.test("what cannot be served is refused with a UserError naming the path", async () => {
  for (const path of [join(work, "missing.img"), work, "/dev/null"]) {
    await assert.rejects(
      () => startBuiltinExport(path),
      (err: unknown) => err instanceof UserError && err.message.includes(path),
      path,
    );
  }
});

async function loopDevice(file: string): Promise<string | null> {
  if (Deno.uid() !== 0) return null;
  const r = await run("losetup", ["--show", "-f", "-r", file], { check: false });
  return r.code === 0 ? r.stdout.trim() : null;
}

Deno.test("a block device is served whole, as data, with its real size", async (t) => {
  const dev = await loopDevice(img.path);
  if (dev === null) {
    await t.step({ name: "skipped: no loop device available", ignore: true, fn: () => {} });
    return;
  }
  try {
    await withServer(dev, async (s) => {
      assert.equal(s.exp.size, 16 * MiB);
      assert.equal(s.exp.detectsHoles, false);
      const c = await RawNbdClient.connect(s.socketPath);
      try {
        await c.handshake({ structured: true, meta: true });
        c.sendRequest({ type: 7, cookie: 1n, offset: 0, length: 16 * MiB });
        const bs = await c.chunk();
        assert.deepEqual([bs.payload.readUInt32BE(4), bs.payload.readUInt32BE(8)], [16 * MiB, 0]);
        c.sendRequest({ type: 0, cookie: 2n, offset: 4 * MiB - 4096, length: 8192 });
        const ch = await c.chunk();
        assert.equal(ch.type, 1);
        assert.ok(ch.payload.subarray(8).equals(Buffer.from(img.expected(4 * MiB - 4096, 8192))));
      } finally {
        c.destroy();
        await c.closed;
      }
    });
  } finally {
    await run("losetup", ["-d", dev], { check: false });
  }
});
