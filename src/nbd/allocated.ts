/**
 * How much of a source disk holds data: the most virt-v2v's copy will read
 * from it. nbdcopy asks NBD block status and reads only the extents reported
 * as data, and every NBD server we run (built-in, qemu-nbd, nbdkit's file
 * plugin) answers block status from lseek SEEK_DATA / SEEK_HOLE — so summing
 * the data extents the same way gives the copy's size before it starts.
 *
 * Only an image file has holes we can see. A block device reads as data from
 * end to end, yet virt-v2v trims the guest's free space in its overlay before
 * copying, so what it reads from a block device is unknown until the copy is
 * over: undefined here, and the views say "total unknown".
 */
import * as fs from "node:fs";
import { loadHoleSeeker, NO_DATA, SEEK_FAILED } from "./builtin/seek_hole.ts";

/** Bytes of data extents in the image file `path`; undefined when that cannot be known. */
export function allocatedBytes(path: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return undefined;
    return dataExtentBytes(fd, st.size) ?? blocksBytes(st);
  } catch {
    // The export reports an unreadable disk in its own words.
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The sum of SEEK_DATA…SEEK_HOLE runs, or undefined when lseek cannot tell. */
function dataExtentBytes(fd: number, size: number): number | undefined {
  const seeker = loadHoleSeeker();
  if (seeker === null) return undefined;
  let total = 0;
  let pos = 0;
  while (pos < size) {
    const data = seeker.seekData(fd, pos);
    if (data === NO_DATA) break;
    if (data === SEEK_FAILED) return undefined;
    const hole = seeker.seekHole(fd, data);
    if (hole === SEEK_FAILED || hole <= data) return undefined;
    const end = Math.min(hole, size);
    total += end - data;
    pos = end;
  }
  return total;
}

/**
 * Without FFI, the blocks the file system gave the file: close to the data
 * extents (it counts preallocated space too), never more than the size.
 */
function blocksBytes(st: fs.Stats): number | undefined {
  if (!Number.isFinite(st.blocks)) return undefined;
  return Math.min(st.size, st.blocks * 512);
}
