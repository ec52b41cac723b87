/**
 * Collects one output stream of a remote command up to a byte cap. What a
 * server prints is outside our control: without a cap, a command that floods
 * its output would grow our memory until the process dies.
 */
import { Buffer } from "node:buffer";

export class BoundedOutput {
  readonly #chunks: Uint8Array[] = [];
  #bytes = 0;
  #overflowed = false;

  constructor(readonly maxBytes: number) {}

  /** Keep `chunk`; false (and nothing kept any more) once the cap is passed. */
  push(chunk: Uint8Array): boolean {
    if (this.#overflowed) return false;
    this.#bytes += chunk.length;
    if (this.#bytes > this.maxBytes) {
      this.#overflowed = true;
      this.#chunks.length = 0;
      return false;
    }
    this.#chunks.push(chunk);
    return true;
  }

  get overflowed(): boolean {
    return this.#overflowed;
  }

  text(): string {
    return Buffer.concat(this.#chunks).toString("utf8");
  }
}
