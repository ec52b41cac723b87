/**
 * A staged image's chunk hashes, kept beside it (`disk-N.hashes`) so that
 * the next run need not read the whole image again: on a cutover the
 * server's hashing then costs a file read, not a pass over the disk.
 *
 * The index names the image as it was when the index was written (inode,
 * size, modification and change times, to the nanosecond, as coreutils'
 * `stat` reads them: the runtime's own stat rounds change times to the
 * second); any write to the image since — by us or by anything else, even
 * one that puts the modification time back — changes its change time, and
 * the index no longer counts. Where `stat` cannot tell, no index is used. A run drops the index (durably) before
 * its first write, so a run that dies half-way leaves none behind.
 */
import fs from "node:fs";
import { dirname } from "node:path";
import { CHUNK_BYTES, chunkCount, HASH_BYTES } from "./chunk_hashes.ts";

const MAGIC = "P2VHASH1";
/** Magic, chunk size, then the image's size, inode, mtime and ctime (ns). */
const HEADER_BYTES = 8 + 8 + 4 * 8;

export function hashIndexPath(image: string): string {
  return image.replace(/\.img$/, "") + ".hashes";
}

/** Whole seconds and a 9-digit fraction, as nanoseconds. */
function nanoseconds(text: string): bigint | undefined {
  const m = /^([0-9]{1,12})\.([0-9]{9})$/.exec(text);
  return m ? BigInt(m[1]) * 1_000_000_000n + BigInt(m[2]) : undefined;
}

/**
 * What the index says of its image: its size, inode, modification and
 * change times; these must all still hold for it to count. Undefined when
 * they cannot be read.
 */
function stampOf(image: string): bigint[] | undefined {
  let out: Deno.CommandOutput;
  try {
    out = new Deno.Command("stat", {
      args: ["--format=%s %i %.9Y %.9Z", "--", image],
      env: { LC_ALL: "C" },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
  } catch {
    return undefined;
  }
  if (!out.success) return undefined;
  const m = /^([0-9]{1,20}) ([0-9]{1,20}) ([0-9.]+) ([0-9.]+)\n?$/.exec(
    new TextDecoder().decode(out.stdout),
  );
  if (!m) return undefined;
  const mtime = nanoseconds(m[3]);
  const ctime = nanoseconds(m[4]);
  if (mtime === undefined || ctime === undefined) return undefined;
  return [BigInt(m[1]), BigInt(m[2]), mtime, ctime];
}

/** The hashes kept for `image` (of `size` bytes), or undefined when there are none that hold. */
export function readHashIndex(image: string, size: number): Uint8Array | undefined {
  const path = hashIndexPath(image);
  const want = HEADER_BYTES + chunkCount(size) * HASH_BYTES;
  let data: Uint8Array;
  try {
    const st = fs.lstatSync(path);
    if (!st.isFile() || st.size !== want) return undefined;
    data = fs.readFileSync(path);
  } catch {
    return undefined;
  }
  if (data.length !== want || new TextDecoder().decode(data.subarray(0, 8)) !== MAGIC) {
    return undefined;
  }
  const view = new DataView(data.buffer, data.byteOffset, HEADER_BYTES);
  if (view.getBigUint64(8) !== BigInt(CHUNK_BYTES)) return undefined;
  const stamp = stampOf(image);
  if (stamp === undefined || stamp[0] !== BigInt(size)) return undefined;
  for (const [i, value] of stamp.entries()) {
    if (view.getBigUint64(16 + i * 8) !== value) return undefined;
  }
  return new Uint8Array(data.subarray(HEADER_BYTES));
}

/**
 * Keeps `hashes` as the index of `image` as it is now; the caller has
 * synced the image and knows the hashes are of what it holds. Keeps none
 * where the image's times cannot be read to the nanosecond.
 */
export function writeHashIndex(image: string, hashes: Uint8Array): void {
  const path = hashIndexPath(image);
  const stamp = stampOf(image);
  if (stamp === undefined) return;
  const data = new Uint8Array(HEADER_BYTES + hashes.length);
  data.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(data.buffer, 0, HEADER_BYTES);
  view.setBigUint64(8, BigInt(CHUNK_BYTES));
  stamp.forEach((value, i) => view.setBigUint64(16 + i * 8, value));
  data.set(hashes, HEADER_BYTES);
  const tmp = `${path}.tmp`;
  const fd = fs.openSync(tmp, "w", 0o600);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
  syncDirectory(dirname(path));
}

/** Drops the index of `image`, durably: after this, a crash cannot bring it back. */
export function dropHashIndex(image: string): void {
  try {
    fs.unlinkSync(hashIndexPath(image));
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return;
    throw err;
  }
  syncDirectory(dirname(image));
}

function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
