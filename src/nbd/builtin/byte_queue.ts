/**
 * Bytes received from a client and not yet parsed. Chunks are kept as they
 * arrived; `take` returns a view into a chunk when the bytes lie within one
 * (the common case) and copies only when a message straddles two chunks.
 */
import { Buffer } from "node:buffer";

export class ByteQueue {
  #chunks: Buffer[] = [];
  #first = 0; // index of the first live chunk
  #offset = 0; // bytes already consumed from the first live chunk
  #length = 0;

  /** Bytes available. */
  get length(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#chunks.push(buf);
    this.#length += buf.length;
  }

  /** Remove and return exactly `n` bytes; the caller checked `length >= n`. */
  take(n: number): Buffer {
    if (n > this.#length) throw new RangeError(`take(${n}) with ${this.#length} bytes queued`);
    const head = this.#chunks[this.#first];
    if (head !== undefined && head.length - this.#offset >= n) {
      const view = head.subarray(this.#offset, this.#offset + n);
      this.#consume(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[this.#first];
      const part = Math.min(n - filled, chunk.length - this.#offset);
      chunk.copy(out, filled, this.#offset, this.#offset + part);
      filled += part;
      this.#consume(part);
    }
    return out;
  }

  /** Remove exactly `n` bytes into `dest[at…]`; the caller checked `length >= n`. */
  takeInto(dest: Uint8Array, at: number, n: number): void {
    if (n > this.#length) throw new RangeError(`takeInto(${n}) with ${this.#length} bytes queued`);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[this.#first];
      const part = Math.min(n - filled, chunk.length - this.#offset);
      dest.set(chunk.subarray(this.#offset, this.#offset + part), at + filled);
      filled += part;
      this.#consume(part);
    }
  }

  /** Drop up to `n` bytes; returns how many were dropped. */
  skip(n: number): number {
    let dropped = 0;
    while (dropped < n && this.#length > 0) {
      const chunk = this.#chunks[this.#first];
      const part = Math.min(n - dropped, chunk.length - this.#offset);
      this.#consume(part);
      dropped += part;
    }
    return dropped;
  }

  /** Forget everything queued. */
  clear(): void {
    this.#chunks = [];
    this.#first = 0;
    this.#offset = 0;
    this.#length = 0;
  }

  #consume(n: number) {
    this.#offset += n;
    this.#length -= n;
    if (this.#offset === this.#chunks[this.#first].length) {
      this.#offset = 0;
      this.#first++;
      if (this.#first === this.#chunks.length) {
        this.#chunks.length = 0;
        this.#first = 0;
      } else if (this.#first >= 64) {
        this.#chunks = this.#chunks.slice(this.#first);
        this.#first = 0;
      }
    }
  }
}
