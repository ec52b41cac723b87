/**
 * Reusable reply buffers. A read reply is one buffer (header + payload) that
 * the file is read into directly; once the stream has finished writing it
 * (the write callback), it comes back here for the next request of the same
 * size class. Saves allocating, zeroing and collecting a fresh 256 KiB buffer
 * per request. Bounded: beyond `maxBytes` kept, returned buffers are dropped.
 */
import { Buffer } from "node:buffer";

const CLASS_GRANULE = 4096;

export class BufferPool {
  #free = new Map<number, Buffer[]>();
  #kept = 0;

  constructor(private readonly maxBytes = 32 * 1024 * 1024) {}

  /** A buffer of at least `size` bytes (its length is the size class). */
  get(size: number): Buffer {
    const cls = Math.ceil(size / CLASS_GRANULE) * CLASS_GRANULE;
    const list = this.#free.get(cls);
    const buf = list?.pop();
    if (buf !== undefined) {
      this.#kept -= cls;
      return buf;
    }
    return Buffer.allocUnsafeSlow(cls);
  }

  /** Give back a buffer obtained from `get`. */
  put(buf: Buffer): void {
    const cls = buf.length;
    if (cls % CLASS_GRANULE !== 0 || this.#kept + cls > this.maxBytes) return;
    let list = this.#free.get(cls);
    if (list === undefined) {
      list = [];
      this.#free.set(cls, list);
    }
    list.push(buf);
    this.#kept += cls;
  }

  /** Bytes currently held for reuse. */
  get keptBytes(): number {
    return this.#kept;
  }

  clear(): void {
    this.#free.clear();
    this.#kept = 0;
  }
}
