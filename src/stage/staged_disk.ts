/**
 * One staged image as the run that holds it on the server sees it: its
 * chunk hashes (kept from the last run when they still hold, else read
 * from the image), and the chunks the physical machine sends into it.
 * At the end of the run the hashes are kept beside the image for the next
 * run — unless a write went wrong, and what the image holds is not known
 * chunk by chunk.
 */
import fs from "node:fs";
import { CHUNK_BYTES, chunkLength, HASH_BYTES, hashChunk, hashChunks } from "./chunk_hashes.ts";
import { FrameReader } from "./chunk_frames.ts";
import { dropHashIndex, readHashIndex, writeHashIndex } from "./hash_index.ts";
import { unpackBlock } from "../nbd/zstd_block.ts";
import { describeError, UserError } from "../errors.ts";
import { hexOf } from "../text/hex.ts";

/** Written chunks are synced and read back for their hash this often. */
const VERIFY_EVERY_BYTES = 64 * 1024 * 1024;

export class StagedDisk {
  /** The hashes as this run knows them (what the image holds, chunk by chunk). */
  #hashes: Promise<Uint8Array> | undefined;
  /** Taken from the kept index, and the image not written since. */
  #fromIndex = false;
  /** The kept index was dropped before this run's first write to the image. */
  #dropped = false;
  /** A write went wrong, or came before the hashes were known: keep no index. */
  #spoiled = false;

  constructor(
    readonly number: number,
    readonly image: string,
    readonly size: number,
  ) {}

  /** Every chunk's SHA-256, in order: from the kept index when it holds, else read. */
  hashes(): Promise<Uint8Array> {
    if (this.#hashes === undefined) {
      const kept = readHashIndex(this.image, this.size);
      this.#fromIndex = kept !== undefined;
      this.#hashes = kept !== undefined
        ? Promise.resolve(kept)
        : hashChunks(this.image, this.size).catch((err) => {
          this.#hashes = undefined;
          throw err;
        });
    }
    return this.#hashes;
  }

  /** Where the hashes came from, for the run's report. */
  get hashesKept(): boolean {
    return this.#fromIndex;
  }

  /**
   * Writes the chunks framed on `input`; every 64 MiB and at the end, syncs
   * them, reads each back, and tells `report` "INDEX HASH" of what is now
   * on the server's disk.
   */
  async write(
    input: AsyncIterable<Uint8Array>,
    report: (lines: string) => Promise<void>,
  ): Promise<void> {
    // The hashes are had before anything is written (a write request may come before the
    // hash request): from the kept index while it still holds, else from the image as it is.
    const known = await this.hashes().catch(() => undefined);
    if (known === undefined) this.#spoiled = true;
    const fd = fs.openSync(this.image, fs.constants.O_RDWR);
    const reader = new FrameReader();
    let written: number[] = [];
    let since = 0;
    const zeros = new Uint8Array(CHUNK_BYTES);
    const verify = async () => {
      fs.fdatasyncSync(fd);
      const lines: string[] = [];
      for (const index of written) {
        const hash = hashChunk(readBack(fd, this.size, index));
        known?.set(hash, index * HASH_BYTES);
        lines.push(`${index} ${hexOf(hash)}`);
      }
      written = [];
      since = 0;
      if (lines.length > 0) await report(lines.join("\n") + "\n");
    };
    try {
      for await (const data of input) {
        for (const frame of reader.push(data)) {
          const length = frame.index * CHUNK_BYTES < this.size
            ? chunkLength(this.size, frame.index)
            : -1;
          if (length < 0) throw new Error(`chunk ${frame.index} is past the end of the disk`);
          const bytes = frame.kind === "zero"
            ? zeros.subarray(0, length)
            : frame.kind === "zstd"
            ? await unpackBlock(frame.payload, length)
            : frame.payload;
          if (bytes.length !== length) {
            throw new Error(`chunk ${frame.index} holds ${bytes.length} bytes, not ${length}`);
          }
          if (!this.#dropped) {
            dropHashIndex(this.image);
            this.#dropped = true;
          }
          let at = 0;
          while (at < length) {
            at += fs.writeSync(fd, bytes, at, length - at, frame.index * CHUNK_BYTES + at);
          }
          written.push(frame.index);
          since += length;
          if (since >= VERIFY_EVERY_BYTES) await verify();
        }
      }
      if (reader.leftover > 0) throw new Error("the chunks ended half-way through one");
      await verify();
    } catch (err) {
      // What was written stays, synced: the next run sends only what is missing.
      this.#spoiled = true;
      await verify().catch(() => {});
      throw new UserError(`writing the staged disk ${this.number}: ${describeError(err)}`);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** At the end of the run: keeps the hashes beside the image when they are known to hold. */
  async keep(): Promise<void> {
    if (this.#spoiled || this.#hashes === undefined) return;
    if (this.#fromIndex && !this.#dropped) return;
    const hashes = await this.#hashes.catch(() => undefined);
    if (hashes !== undefined) writeHashIndex(this.image, hashes);
  }
}

function readBack(fd: number, size: number, index: number): Uint8Array {
  const length = chunkLength(size, index);
  const back = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, back, got, length - got, index * CHUNK_BYTES + got);
    if (n === 0) break;
    got += n;
  }
  return back;
}
