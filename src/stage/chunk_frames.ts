/**
 * How chunks cross to the staging area: a stream of frames on a command's
 * standard input, each a 12-byte header (kind, chunk index, payload
 * length) and its payload. A chunk of zeros crosses as its header alone; one
 * that packs well, zstd-packed.
 */
import { CHUNK_BYTES } from "./chunk_hashes.ts";

export const FRAME_HEADER_BYTES = 12;
const MAGIC = 0x5032; // "P2"

export type FrameKind = "raw" | "zstd" | "zero";
const KIND_CODES: Record<FrameKind, number> = { raw: 1, zstd: 2, zero: 3 };
const KINDS: Record<number, FrameKind> = { 1: "raw", 2: "zstd", 3: "zero" };

/** No payload is larger than a chunk (a packed one that is larger is sent raw). */
export const MAX_PAYLOAD = CHUNK_BYTES;

export interface ChunkFrame {
  kind: FrameKind;
  index: number;
  payload: Uint8Array;
}

export function encodeFrameHeader(
  kind: FrameKind,
  index: number,
  payloadBytes: number,
): Uint8Array {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint16(0, MAGIC);
  view.setUint8(2, KIND_CODES[kind]);
  view.setUint32(4, index);
  view.setUint32(8, payloadBytes);
  return header;
}

/**
 * Cuts a byte stream into frames; throws on anything that is not one (a
 * bad magic, an unknown kind, a payload over the bound).
 */
export class FrameReader {
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  /** Adds `data`; returns the frames it completes. */
  push(data: Uint8Array): ChunkFrame[] {
    this.#pending.push(data);
    this.#pendingBytes += data.length;
    const frames: ChunkFrame[] = [];
    for (;;) {
      if (this.#pendingBytes < FRAME_HEADER_BYTES) break;
      const head = this.#peek(FRAME_HEADER_BYTES);
      const view = new DataView(head.buffer, head.byteOffset, FRAME_HEADER_BYTES);
      if (view.getUint16(0) !== MAGIC) throw new Error("not a chunk frame (bad magic)");
      const kind = KINDS[view.getUint8(2)];
      if (kind === undefined) throw new Error(`unknown chunk frame kind ${view.getUint8(2)}`);
      const length = view.getUint32(8);
      if (length > MAX_PAYLOAD) throw new Error(`chunk frame of ${length} bytes is too large`);
      if (this.#pendingBytes < FRAME_HEADER_BYTES + length) break;
      const whole = this.#take(FRAME_HEADER_BYTES + length);
      frames.push({ kind, index: view.getUint32(4), payload: whole.subarray(FRAME_HEADER_BYTES) });
    }
    return frames;
  }

  /** Bytes of an unfinished frame (a stream cut mid-frame ends with some). */
  get leftover(): number {
    return this.#pendingBytes;
  }

  #peek(n: number): Uint8Array {
    if (this.#pending[0].length >= n) return this.#pending[0].subarray(0, n);
    const joined = this.#take(this.#pendingBytes);
    this.#pending = [joined];
    this.#pendingBytes = joined.length;
    return joined.subarray(0, n);
  }

  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const first = this.#pending[0];
      const piece = first.subarray(0, n - at);
      out.set(piece, at);
      at += piece.length;
      if (piece.length === first.length) this.#pending.shift();
      else this.#pending[0] = first.subarray(piece.length);
    }
    this.#pendingBytes -= n;
    return out;
  }
}
