/**
 * What the fan-out keeps of the disk, so that virt-v2v's small reads do not
 * each wait a round trip of the link.
 *
 * Before it copies, virt-v2v inspects and converts the guest, and the
 * appliance's kernel reads the disk a few KiB at a time, most reads waiting
 * on the one before: each costs a round trip. So a small read fetches the
 * whole aligned block around it (files and metadata sit close together),
 * a run of small reads in a row fetches the blocks after it too, and the
 * blocks are kept: the copy that follows reads them again, and takes them
 * from here instead of from the link.
 *
 * Reads of a whole block or more fetch exactly what they ask and are not
 * kept: such a read is a copy, which reads each block once, and keeping it
 * would only push out the blocks the conversion read. (With 1 MiB blocks,
 * nbdcopy's 256 KiB reads count as small: their runs fetch ahead, which
 * keeps a long link full when the client has too few reads in flight.)
 */
import type { ReadDone } from "../builtin/source.ts";

/** Where blocks come from: the upstream pool's read. */
export type BlockFetch = (
  dest: Uint8Array,
  at: number,
  length: number,
  position: number,
  done: ReadDone,
) => void;

export interface BlockCacheOptions {
  size: number;
  /** Bytes per block: the most a small read fetches around itself. */
  blockSize: number;
  /** Most bytes kept; the least recently used block goes first. */
  maxBytes: number;
  /** Most blocks fetched ahead of a run of small reads. */
  maxAheadBlocks: number;
  /** Whether [offset, offset+length) holds data (read-ahead does not fetch holes). */
  isData: (offset: number, length: number) => boolean;
}

export interface BlockCacheStats {
  /** Blocks of small reads found here. */
  hits: number;
  /** Blocks of large reads found here (read before, by the conversion). */
  bulkHits: number;
  /** Blocks fetched for small reads, and ahead of them. */
  fetched: number;
  ahead: number;
  /** Bytes fetched through the link, all reads together. */
  bytesFetched: number;
}

type BlockDone = (err: Error | null, block: Uint8Array | undefined) => void;

export class BlockCache {
  /** Kept blocks by index, least recently used first. */
  readonly #kept = new Map<number, Uint8Array>();
  #keptBytes = 0;
  /** Blocks being fetched, with who waits for each. */
  readonly #fetching = new Map<number, BlockDone[]>();
  /** The last block of the previous small read, and how many small reads ran in a row. */
  #lastBlock = -2;
  #run = 0;
  readonly stats: BlockCacheStats = { hits: 0, bulkHits: 0, fetched: 0, ahead: 0, bytesFetched: 0 };

  constructor(private readonly fetch: BlockFetch, private readonly opts: BlockCacheOptions) {}

  read(dest: Uint8Array, at: number, length: number, position: number, done: ReadDone): void {
    if (length === 0) {
      queueMicrotask(() => done(null));
      return;
    }
    if (length >= this.opts.blockSize) return this.#bulk(dest, at, length, position, done);
    const B = this.opts.blockSize;
    const first = Math.floor(position / B);
    const last = Math.floor((position + length - 1) / B);
    let waiting = last - first + 1;
    let failed: Error | null = null;
    for (let k = first; k <= last; k++) {
      this.#block(k, false, (err, block) => {
        if (err === null && block !== undefined) {
          const from = Math.max(position, k * B);
          const to = Math.min(position + length, k * B + block.length);
          dest.set(block.subarray(from - k * B, to - k * B), at + (from - position));
        }
        failed ??= err;
        if (--waiting === 0) done(failed);
      });
    }
    // A run: each read starts where the last ended, and goes further. Reads
    // inside the last block (metadata, read again and again) leave it as is.
    const advances = first === this.#lastBlock + 1 ||
      (first === this.#lastBlock && last > this.#lastBlock);
    const inPlace = first === this.#lastBlock && last === this.#lastBlock;
    this.#run = advances ? this.#run + 1 : inPlace ? this.#run : 0;
    this.#lastBlock = last;
    if (this.#run >= 2) {
      const ahead = Math.min(this.opts.maxAheadBlocks, 2 ** (this.#run - 2));
      for (let k = last + 1; k <= last + ahead && k * B < this.opts.size; k++) {
        if (this.#kept.has(k) || this.#fetching.has(k)) continue;
        if (!this.opts.isData(k * B, Math.min(B, this.opts.size - k * B))) break;
        this.stats.ahead++;
        this.#block(k, true, () => {});
      }
    }
  }

  /** A large read: kept blocks from here (and let go), the rest fetched as asked. */
  #bulk(dest: Uint8Array, at: number, length: number, position: number, done: ReadDone): void {
    const B = this.opts.blockSize;
    const spans: { pos: number; len: number }[] = [];
    let pos = position;
    const end = position + length;
    while (pos < end) {
      const k = Math.floor(pos / B);
      const stop = Math.min(end, (k + 1) * B);
      const kept = this.#kept.get(k);
      if (kept !== undefined) {
        dest.set(kept.subarray(pos - k * B, stop - k * B), at + (pos - position));
        this.stats.bulkHits++;
        // The copy reads a block once: it is not needed again.
        if (stop === (k + 1) * B || stop === this.opts.size) this.#drop(k);
      } else {
        const previous = spans[spans.length - 1];
        if (previous !== undefined && previous.pos + previous.len === pos) {
          previous.len += stop - pos;
        } else spans.push({ pos, len: stop - pos });
      }
      pos = stop;
    }
    if (spans.length === 0) {
      queueMicrotask(() => done(null));
      return;
    }
    let waiting = spans.length;
    let failed: Error | null = null;
    for (const s of spans) {
      this.stats.bytesFetched += s.len;
      this.fetch(dest, at + (s.pos - position), s.len, s.pos, (err) => {
        failed ??= err;
        if (--waiting === 0) done(failed);
      });
    }
  }

  /** Block `k`, kept, being fetched, or fetched now. */
  #block(k: number, ahead: boolean, cb: BlockDone): void {
    const kept = this.#kept.get(k);
    if (kept !== undefined) {
      // Most recently used now.
      this.#kept.delete(k);
      this.#kept.set(k, kept);
      this.stats.hits++;
      queueMicrotask(() => cb(null, kept));
      return;
    }
    const waiters = this.#fetching.get(k);
    if (waiters !== undefined) {
      waiters.push(cb);
      return;
    }
    this.#fetching.set(k, [cb]);
    if (!ahead) this.stats.fetched++;
    const B = this.opts.blockSize;
    const block = new Uint8Array(Math.min(B, this.opts.size - k * B));
    this.stats.bytesFetched += block.length;
    this.fetch(block, 0, block.length, k * B, (err) => {
      const all = this.#fetching.get(k) ?? [];
      this.#fetching.delete(k);
      if (err === null) this.#keep(k, block);
      for (const w of all) w(err, err === null ? block : undefined);
    });
  }

  #keep(k: number, block: Uint8Array): void {
    this.#kept.set(k, block);
    this.#keptBytes += block.length;
    for (const [old] of this.#kept) {
      if (this.#keptBytes <= this.opts.maxBytes) break;
      this.#drop(old);
    }
  }

  #drop(k: number): void {
    const block = this.#kept.get(k);
    if (block === undefined) return;
    this.#kept.delete(k);
    this.#keptBytes -= block.length;
  }

  /** Bytes kept now. */
  get keptBytes(): number {
    return this.#keptBytes;
  }
}
