/**
 * The disk being served: an image file or block device opened read-only
 * (O_RDONLY; nothing here ever writes), read with positional reads so any
 * number of requests can be in flight on one descriptor, plus its allocation
 * map (data / hole extents) for NBD_CMD_BLOCK_STATUS.
 *
 * Holes are found with lseek SEEK_DATA / SEEK_HOLE (see `seek_hole.ts`). A
 * block device, a file system without SEEK_HOLE support, or a runtime without
 * FFI reports everything as data.
 */
import * as fs from "node:fs";
import { sizeBySeeking } from "../disk_size.ts";
import { type HoleSeeker, loadHoleSeeker, NO_DATA, SEEK_FAILED } from "./seek_hole.ts";
import { STATE_HOLE, STATE_ZERO } from "./protocol.ts";

/** A run of bytes with the same base:allocation status. */
export interface Extent {
  length: number;
  /** 0 for data, STATE_HOLE | STATE_ZERO for a hole. */
  flags: number;
}

export type ReadDone = (err: Error | null) => void;

export interface SourceOptions {
  /** Hole detection; `null` forces "all data". Defaults to `loadHoleSeeker()`. */
  seeker?: HoleSeeker | null;
}

/**
 * What the transmission phase serves from: a fixed size, positional reads
 * that may run concurrently, and the allocation map answered without
 * waiting (a hole is known or it is treated as data).
 */
export interface ExportSource {
  readonly size: number;
  read(buf: Uint8Array, bufOffset: number, length: number, position: number, done: ReadDone): void;
  isHole(offset: number, length: number): boolean;
  extents(offset: number, length: number, maxExtents: number): Extent[];
}

export class DiskSource implements ExportSource {
  #fd: number;
  #seeker: HoleSeeker | null;
  #inFlight = 0;
  #idle: (() => void)[] = [];
  #closed = false;
  /** Last data extent found by `isHole`. */
  #dataStart = 0;
  #dataEnd = 0;

  private constructor(
    readonly path: string,
    fd: number,
    /** Export size in bytes, fixed when opened. */
    readonly size: number,
    /** "file" or "block". */
    readonly kind: "file" | "block",
    seeker: HoleSeeker | null,
  ) {
    this.#fd = fd;
    this.#seeker = seeker;
  }

  /** Open `path` read-only. Throws (a plain Error) when it cannot be served. */
  static async open(path: string, options: SourceOptions = {}): Promise<DiskSource> {
    const fd = await new Promise<number>((resolve, reject) =>
      fs.open(path, fs.constants.O_RDONLY, (err, fd) => err ? reject(err) : resolve(fd))
    );
    try {
      const st = await new Promise<fs.Stats>((resolve, reject) =>
        fs.fstat(fd, (err, st) => err ? reject(err) : resolve(st))
      );
      const seeker = options.seeker === undefined ? loadHoleSeeker() : options.seeker;
      if (st.isFile()) {
        return new DiskSource(path, fd, st.size, "file", trustSeeker(seeker, fd, st.size));
      }
      if (st.isBlockDevice()) {
        const size = await blockDeviceSize(path, fd, seeker);
        // A block device has no holes we could see from here: all data.
        return new DiskSource(path, fd, size, "block", null);
      }
      throw new Error("not a regular file or block device");
    } catch (err) {
      fs.close(fd, () => {});
      throw err;
    }
  }

  /** True when holes are reported (otherwise everything is data). */
  get detectsHoles(): boolean {
    return this.#seeker !== null;
  }

  /**
   * Read exactly `length` bytes at `position` into `buf[bufOffset…]`, then call
   * `done` (asynchronously, never by throwing). A short read (the file shrank
   * under us) is reported as an error.
   */
  read(buf: Uint8Array, bufOffset: number, length: number, position: number, done: ReadDone) {
    if (this.#closed) {
      queueMicrotask(() => done(new Error("source is closed")));
      return;
    }
    this.#inFlight++;
    const finish = (err: Error | null) => {
      if (--this.#inFlight === 0) this.#wakeIdle();
      done(err);
    };
    const step = (got: number) => {
      try {
        fs.read(this.#fd, buf, bufOffset + got, length - got, position + got, (err, n) => {
          if (err) return finish(err);
          got += n;
          if (got === length) return finish(null);
          if (n === 0) {
            return finish(new Error(`unexpected end of ${this.path} at ${position + got}`));
          }
          step(got);
        });
      } catch (err) {
        // Argument checks throw synchronously; report them like an I/O error.
        queueMicrotask(() => finish(err instanceof Error ? err : new Error(String(err))));
      }
    };
    if (length === 0) {
      queueMicrotask(() => finish(null));
      return;
    }
    step(0);
  }

  /**
   * True if [offset, offset+length) is known to read as zeroes without touching
   * the disk. Remembers the last data extent seen, so reads of dense regions
   * cost no system call (a stale "data" answer is always safe).
   */
  isHole(offset: number, length: number): boolean {
    const seeker = this.#seeker;
    if (seeker === null || length === 0) return false;
    if (offset >= this.#dataStart && offset < this.#dataEnd) return false;
    const data = seeker.seekData(this.#fd, offset);
    if (data === NO_DATA) return true;
    if (data === SEEK_FAILED) return false;
    if (data >= offset + length) return true;
    const hole = seeker.seekHole(this.#fd, data);
    if (hole > data) {
      this.#dataStart = data;
      this.#dataEnd = hole;
    }
    return false;
  }

  /**
   * Consecutive extents starting at `offset` covering [offset, offset+length)
   * (clipped to the export), at most `maxExtents` of them (then they cover
   * less). Adjacent extents always differ in flags. Requires a valid range.
   */
  extents(offset: number, length: number, maxExtents: number): Extent[] {
    const end = Math.min(offset + length, this.size);
    const seeker = this.#seeker;
    if (seeker === null) return [{ length: end - offset, flags: 0 }];
    const out: Extent[] = [];
    let pos = offset;
    while (pos < end && out.length < maxExtents) {
      let data = seeker.seekData(this.#fd, pos);
      if (data === SEEK_FAILED) {
        pushExtent(out, end - pos, 0);
        break;
      }
      if (data === NO_DATA || data > end) data = end;
      if (data > pos) {
        pushExtent(out, data - pos, STATE_HOLE | STATE_ZERO);
        pos = data;
        continue;
      }
      let hole = seeker.seekHole(this.#fd, pos);
      if (hole === SEEK_FAILED || hole > end) hole = end;
      // A hole at pos right after SEEK_DATA said data (file changed): call it data.
      if (hole <= pos) hole = Math.min(end, pos + 4096);
      pushExtent(out, hole - pos, 0);
      pos = hole;
    }
    return out;
  }

  /** Close the descriptor once every read in flight has finished. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#inFlight > 0) await new Promise<void>((r) => this.#idle.push(r));
    await new Promise<void>((r) => fs.close(this.#fd, () => r()));
  }

  #wakeIdle() {
    const waiters = this.#idle;
    this.#idle = [];
    for (const w of waiters) w();
  }
}

function pushExtent(out: Extent[], length: number, flags: number) {
  const last = out[out.length - 1];
  if (last !== undefined && last.flags === flags) last.length += length;
  else out.push({ length, flags });
}

/**
 * Use the seeker for this file only if it demonstrably works on this
 * descriptor: SEEK_END must give the size fstat gave, and SEEK_HOLE must be
 * supported by the file system.
 */
function trustSeeker(seeker: HoleSeeker | null, fd: number, size: number): HoleSeeker | null {
  if (seeker === null) return null;
  try {
    if (seeker.seekEnd(fd) !== size) return null;
    if (size > 0 && seeker.seekHole(fd, 0) === SEEK_FAILED) return null;
    return seeker;
  } catch {
    return null;
  }
}

async function blockDeviceSize(
  path: string,
  fd: number,
  seeker: HoleSeeker | null,
): Promise<number> {
  if (seeker !== null) {
    const end = seeker.seekEnd(fd);
    if (end >= 0) return end;
  }
  return await sizeBySeeking(path);
}
