/**
 * The fan-out's block cache, over a fetch that reads a known pattern and
 * counts what it was asked: small reads fetch their whole block once, runs
 * of them fetch ahead (never into holes), large reads fetch exactly what
 * they ask and take kept blocks instead, the cache stays within its bound,
 * and a failed fetch fails every reader waiting on it and keeps nothing.
 */
import assert from "node:assert/strict";
import { BlockCache, type BlockFetch } from "../src/nbd/fanout/block_cache.ts";

const KiB = 1024;
const B = 64 * KiB;
const SIZE = 64 * B;

/** Byte i of the disk. */
const byteAt = (i: number) => (i * 7 + (i >> 13)) & 0xff;

function fakeDisk(opts: { failAt?: number } = {}) {
  const asked: { position: number; length: number }[] = [];
  const pending: (() => void)[] = [];
  const fetch: BlockFetch = (dest, at, length, position, done) => {
    asked.push({ position, length });
    pending.push(() => {
      if (opts.failAt !== undefined && opts.failAt >= position && opts.failAt < position + length) {
        return done(new Error("link lost"));
      }
      for (let i = 0; i < length; i++) dest[at + i] = byteAt(position + i);
      done(null);
    });
  };
  /** Answers every fetch asked so far (and those they lead to), then lets callbacks run. */
  const settle = async () => {
    while (pending.length > 0) pending.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  };
  return { fetch, asked, settle };
}

function cache(
  fetch: BlockFetch,
  over: { maxBytes?: number; isData?: (o: number) => boolean } = {},
) {
  return new BlockCache(fetch, {
    size: SIZE,
    blockSize: B,
    maxBytes: over.maxBytes ?? 16 * B,
    maxAheadBlocks: 4,
    isData: (o) => over.isData?.(o) ?? true,
  });
}

async function read(
  c: BlockCache,
  disk: ReturnType<typeof fakeDisk>,
  position: number,
  length: number,
) {
  const dest = new Uint8Array(length + 3);
  let result: Error | null | undefined;
  c.read(dest, 3, length, position, (err) => result = err);
  await disk.settle();
  await disk.settle();
  assert.notEqual(result, undefined, "the read never finished");
  if (result === null) {
    for (let i = 0; i < length; i++) {
      if (dest[3 + i] !== byteAt(position + i)) assert.fail(`byte ${position + i} differs`);
    }
  }
  return result;
}

Deno.test("block cache: a small read fetches its block once; the next in it is found kept", async () => {
  const disk = fakeDisk();
  const c = cache(disk.fetch);
  assert.equal(await read(c, disk, 5 * B + 100, 4 * KiB), null);
  assert.deepEqual(disk.asked, [{ position: 5 * B, length: B }]);
  assert.equal(await read(c, disk, 5 * B + 9000, 4 * KiB), null);
  assert.equal(disk.asked.length, 1);
  assert.equal(c.stats.hits, 1);
  // Across two blocks: the second is fetched, the first found.
  assert.equal(await read(c, disk, 6 * B - 100, 200), null);
  assert.deepEqual(disk.asked[1], { position: 6 * B, length: B });
  assert.equal(c.stats.bytesFetched, 2 * B);
});

Deno.test("block cache: the same block asked twice at once is fetched once", async () => {
  const disk = fakeDisk();
  const c = cache(disk.fetch);
  const results: (Error | null)[] = [];
  c.read(new Uint8Array(10), 0, 10, 3 * B, (e) => results.push(e));
  c.read(new Uint8Array(10), 0, 10, 3 * B + 50, (e) => results.push(e));
  await disk.settle();
  assert.deepEqual(results, [null, null]);
  assert.equal(disk.asked.length, 1);
});

Deno.test("block cache: a run of small reads fetches ahead, growing, never into a hole", async () => {
  const disk = fakeDisk();
  const c = cache(disk.fetch, { isData: (o) => o < 20 * B });
  for (let k = 10; k < 14; k++) await read(c, disk, k * B, 4 * KiB);
  // Reads at 10 and 11 fetch their blocks; at 12 (third in a row) one block
  // ahead (13); at 13, found, two ahead (14, 15).
  const fetched = disk.asked.map((a) => a.position / B);
  assert.deepEqual(fetched, [10, 11, 12, 13, 14, 15]);
  for (let k = 14; k < 19; k++) await read(c, disk, k * B, 4 * KiB);
  assert.ok(disk.asked.every((a) => a.position < 20 * B), "fetched ahead into a hole");
  assert.ok(c.stats.ahead >= 4);
});

Deno.test("block cache: large reads fetch what they ask, take kept blocks, and let them go", async () => {
  const disk = fakeDisk();
  const c = cache(disk.fetch);
  await read(c, disk, 2 * B + 10, 100); // keeps block 2
  disk.asked.length = 0;
  assert.equal(await read(c, disk, 0, 4 * B), null);
  assert.deepEqual(disk.asked, [{ position: 0, length: 2 * B }, { position: 3 * B, length: B }]);
  assert.equal(c.stats.bulkHits, 1);
  assert.equal(c.keptBytes, 0, "the block the copy took is still kept");
  // Nothing of a large read is kept.
  assert.equal(await read(c, disk, 8 * B, 2 * B), null);
  assert.equal(c.keptBytes, 0);
});

Deno.test("block cache: it keeps at most its bound, the least recently used going first", async () => {
  const disk = fakeDisk();
  const c = cache(disk.fetch, { maxBytes: 3 * B });
  for (const k of [0, 5, 10]) await read(c, disk, k * B, 100);
  await read(c, disk, 0, 100); // 0 is the most recent now
  await read(c, disk, 20 * B, 100); // pushes out 5
  assert.equal(c.keptBytes, 3 * B);
  disk.asked.length = 0;
  await read(c, disk, 0, 100);
  await read(c, disk, 10 * B, 100);
  assert.equal(disk.asked.length, 0, "0 and 10 should still be kept");
  await read(c, disk, 5 * B, 100);
  assert.deepEqual(disk.asked, [{ position: 5 * B, length: B }]);
});

Deno.test("block cache: a failed fetch fails every reader waiting on it and keeps nothing", async () => {
  const disk = fakeDisk({ failAt: 7 * B });
  const c = cache(disk.fetch);
  const results: (Error | null)[] = [];
  c.read(new Uint8Array(10), 0, 10, 7 * B, (e) => results.push(e));
  c.read(new Uint8Array(10), 0, 10, 7 * B + 20, (e) => results.push(e));
  await disk.settle();
  assert.equal(results.length, 2);
  assert.ok(results.every((e) => e?.message === "link lost"));
  assert.equal(c.keptBytes, 0);
  // A large read with a failing part fails as a whole.
  assert.match(String(await read(c, disk, 6 * B, 2 * B)), /link lost/);
});
