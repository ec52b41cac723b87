/**
 * The hashes a run keeps beside a staged image: the next run takes them
 * instead of reading the image, but only while the image is exactly as it
 * was when they were kept — a write by anything, even one that puts the
 * modification time back, or a damaged index, means reading it again.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { join } from "node:path";
import { tempDir } from "./helpers/cleanup.ts";
import { CHUNK_BYTES, hashChunks } from "../src/stage/chunk_hashes.ts";
import { encodeFrameHeader } from "../src/stage/chunk_frames.ts";
import {
  dropHashIndex,
  hashIndexPath,
  readHashIndex,
  writeHashIndex,
} from "../src/stage/hash_index.ts";
import { StagedDisk } from "../src/stage/staged_disk.ts";

const SIZE = 8 * CHUNK_BYTES + 4096;

async function image(): Promise<string> {
  const dir = await tempDir({ prefix: "p2v-hash-index." });
  const path = join(dir, "disk-0.img");
  const data = new Uint8Array(SIZE);
  crypto.getRandomValues(data.subarray(0, 65536));
  data.copyWithin(3 * CHUNK_BYTES, 0, 65536);
  fs.writeFileSync(path, data);
  return path;
}

Deno.test("hash index: kept hashes are read back while the image is untouched", async () => {
  const path = await image();
  const hashes = await hashChunks(path, SIZE);
  writeHashIndex(path, hashes);
  assert.equal(hashIndexPath(path), path.replace(/\.img$/, ".hashes"));
  assert.equal(fs.statSync(hashIndexPath(path)).mode & 0o777, 0o600);
  assert.deepEqual(readHashIndex(path, SIZE), hashes);
  // Reading the image does not count as a change.
  fs.readFileSync(path);
  assert.deepEqual(readHashIndex(path, SIZE), hashes);
  dropHashIndex(path);
  assert.equal(readHashIndex(path, SIZE), undefined);
  dropHashIndex(path); // nothing left to drop is not an error
});

Deno.test("hash index: a write to the image voids it, even with its modification time put back", async () => {
  const path = await image();
  writeHashIndex(path, await hashChunks(path, SIZE));
  const before = fs.statSync(path);
  // Let the kernel's clock tick past the index's change time.
  await new Promise((r) => setTimeout(r, 20));
  const fd = fs.openSync(path, "r+");
  fs.writeSync(fd, new Uint8Array([1, 2, 3]), 0, 3, 5 * CHUNK_BYTES);
  fs.closeSync(fd);
  fs.utimesSync(path, before.atime, before.mtime);
  assert.equal(fs.statSync(path).mtimeMs, before.mtimeMs);
  assert.equal(readHashIndex(path, SIZE), undefined);
});

Deno.test("hash index: a damaged, truncated, foreign or mis-sized index is not used", async () => {
  const path = await image();
  const hashes = await hashChunks(path, SIZE);
  const index = hashIndexPath(path);

  writeHashIndex(path, hashes);
  const good = fs.readFileSync(index);
  assert.equal(readHashIndex(path, SIZE + CHUNK_BYTES), undefined, "another disk size");

  fs.writeFileSync(index, good.subarray(0, good.length - 1));
  assert.equal(readHashIndex(path, SIZE), undefined, "truncated");

  const foreign = Uint8Array.from(good);
  foreign.set(new TextEncoder().encode("NOTOURS!"), 0);
  fs.writeFileSync(index, foreign);
  assert.equal(readHashIndex(path, SIZE), undefined, "another magic");

  const otherChunk = Uint8Array.from(good);
  new DataView(otherChunk.buffer).setBigUint64(8, BigInt(CHUNK_BYTES * 2));
  fs.writeFileSync(index, otherChunk);
  assert.equal(readHashIndex(path, SIZE), undefined, "another chunk size");

  fs.rmSync(index);
  fs.symlinkSync(path, index);
  assert.equal(readHashIndex(path, SIZE), undefined, "a symlink");
});

/** Frames for chunks `indexes` of `source`, raw. */
function* frames(source: Uint8Array, indexes: number[]): Generator<Uint8Array> {
  for (const c of indexes) {
    const data = source.subarray(c * CHUNK_BYTES, Math.min(SIZE, (c + 1) * CHUNK_BYTES));
    yield encodeFrameHeader("raw", c, data.length);
    yield data;
  }
}

async function* stream(parts: Iterable<Uint8Array>): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

Deno.test("staged disk: a run keeps the hashes of what it wrote; the next run takes them; a failed write keeps none", async () => {
  const path = await image();
  const first = new StagedDisk(0, path, SIZE);
  assert.deepEqual(await first.hashes(), await hashChunks(path, SIZE));
  assert.equal(first.hashesKept, false);

  const source = new Uint8Array(SIZE);
  crypto.getRandomValues(source.subarray(0, 65536));
  source.copyWithin(6 * CHUNK_BYTES, 0, 65536);
  const wanted = fs.readFileSync(path);
  wanted.set(source.subarray(0, CHUNK_BYTES), 0);
  wanted.set(source.subarray(6 * CHUNK_BYTES, 7 * CHUNK_BYTES), 6 * CHUNK_BYTES);
  wanted.set(source.subarray(8 * CHUNK_BYTES), 8 * CHUNK_BYTES);
  let reported = "";
  await first.write(stream(frames(source, [0, 6, 8])), (lines) => {
    reported += lines;
    return Promise.resolve();
  });
  assert.deepEqual(reported.trim().split("\n").map((l) => Number(l.split(" ")[0])), [0, 6, 8]);
  assert.deepEqual(fs.readFileSync(path), Buffer.from(wanted));
  await first.keep();

  const second = new StagedDisk(0, path, SIZE);
  assert.deepEqual(await second.hashes(), await hashChunks(path, SIZE));
  assert.equal(second.hashesKept, true);

  // A write that breaks off half-way through its second chunk: the index is gone, and none is kept.
  const header = encodeFrameHeader("raw", 3, CHUNK_BYTES);
  await assert.rejects(
    second.write(
      stream([...frames(source, [2]), header, new Uint8Array(100)]),
      () => Promise.resolve(),
    ),
    /half-way/,
  );
  assert.equal(fs.existsSync(hashIndexPath(path)), false);
  await second.keep();
  assert.equal(fs.existsSync(hashIndexPath(path)), false);
  const third = new StagedDisk(0, path, SIZE);
  await third.hashes();
  assert.equal(third.hashesKept, false);
});

Deno.test("staged disk: a write that comes before the hash request still takes the kept hashes, and keeps them updated", async () => {
  const path = await image();
  const first = new StagedDisk(0, path, SIZE);
  await first.hashes();
  await first.keep();
  assert.equal(fs.existsSync(hashIndexPath(path)), true);

  const source = new Uint8Array(SIZE).fill(7);
  const early = new StagedDisk(0, path, SIZE);
  await early.write(stream(frames(source, [2])), () => Promise.resolve());
  assert.equal(early.hashesKept, true, "the index was read before the write dropped it");
  assert.deepEqual(await early.hashes(), await hashChunks(path, SIZE));
  await early.keep();

  const next = new StagedDisk(0, path, SIZE);
  assert.deepEqual(await next.hashes(), await hashChunks(path, SIZE));
  assert.equal(next.hashesKept, true);
});
