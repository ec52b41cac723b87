/**
 * Where outgoing SSH packets are built: one after another in a large buffer
 * (a slab), each with room for its MAC, so that a packet is filled, encrypted
 * in place and handed to the socket without a buffer of its own, and
 * consecutive packets lie next to each other in memory (the transport writes
 * such runs with one system call).
 *
 * Slabs are reused: a writer that has finished with bytes of a slab reports
 * it with `releaseWritten(view)` (tcp_socket.ts does, after each write). A
 * full slab whose every byte has been reported goes back to a small free
 * list. Bytes never reported (a packet that was not sent, a socket that does
 * not report, a connection that died) only mean that slab is left to the
 * garbage collector instead: reuse can never hand out bytes still queued.
 *
 * The padding of each packet comes from a pool of random bytes refilled in
 * large steps instead of one random-number call per packet.
 */
import { Buffer } from "node:buffer";
import { addressOf } from "./libcrypto.ts";

const DEFAULT_SLAB_BYTES = 1024 * 1024;
const MAX_FREE_SLABS = 8;
/** crypto.getRandomValues' limit per call. */
const RANDOM_POOL_BYTES = 65536;

const RELEASE = Symbol("packet-slab.release");

interface Releasable {
  [RELEASE]?: (bytes: number) => void;
}

/** Tell the slab that owns `view` (if any) that its bytes have been written. */
export function releaseWritten(view: Uint8Array): void {
  (view.buffer as Releasable)[RELEASE]?.(view.byteLength);
}

class Slab {
  readonly bytes: Buffer;
  readonly address: number;
  /** Bytes handed out since the slab was (re)started. */
  taken = 0;
  released = 0;
  retired = false;

  constructor(size: number, onReleased: (slab: Slab) => void) {
    this.bytes = Buffer.allocUnsafeSlow(size);
    this.address = addressOf(this.bytes);
    (this.bytes.buffer as Releasable)[RELEASE] = (n) => {
      this.released += n;
      if (this.retired && this.released === this.taken) onReleased(this);
    };
  }

  restart(): void {
    this.taken = 0;
    this.released = 0;
    this.retired = false;
  }
}

export class PacketSlab {
  #slab: Slab;
  readonly #free: Slab[] = [];
  readonly #recycle = (slab: Slab) => {
    if (this.#free.length < MAX_FREE_SLABS && slab.bytes.length === this.slabBytes) {
      this.#free.push(slab);
    }
  };
  #random = new Uint8Array(RANDOM_POOL_BYTES);
  #randomUsed = RANDOM_POOL_BYTES;

  constructor(private readonly slabBytes = DEFAULT_SLAB_BYTES) {
    this.#slab = new Slab(slabBytes, this.#recycle);
  }

  /** A region of `size` bytes, right after the previous one when it fits. */
  take(size: number): Buffer {
    let slab = this.#slab;
    if (slab.taken + size > slab.bytes.length) {
      slab.retired = true;
      if (slab.released === slab.taken) this.#recycle(slab);
      slab = this.#free.pop() ?? new Slab(Math.max(size, this.slabBytes), this.#recycle);
      slab.restart();
      this.#slab = slab;
    }
    const at = slab.taken;
    slab.taken += size;
    return Buffer.from(slab.bytes.buffer, slab.bytes.byteOffset + at, size);
  }

  /**
   * The memory address of `view`'s first byte if it lies in the current slab,
   * else -1 (then copy it into a fresh region first: only slab memory is
   * known never to move or go away while libcrypto works on it).
   */
  addressIn(view: Uint8Array): number {
    const slab = this.#slab;
    return view.buffer === slab.bytes.buffer
      ? slab.address + view.byteOffset - slab.bytes.byteOffset
      : -1;
  }

  /** Fill `view[start, start + length)` with random bytes (length ≤ 255). */
  randomFill(view: Uint8Array, start: number, length: number): void {
    if (this.#randomUsed + length > RANDOM_POOL_BYTES) {
      crypto.getRandomValues(this.#random);
      this.#randomUsed = 0;
    }
    // Padding is 4 to 19 bytes: a loop beats making a view to copy from.
    const pool = this.#random;
    for (let i = 0; i < length; i++) view[start + i] = pool[this.#randomUsed++];
  }
}
