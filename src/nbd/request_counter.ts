/**
 * Counts the requests NBD clients send an export, whichever server answers
 * them, by reading along the client's side of each connection: the
 * handshake's options, then the transmission requests (simple or extended
 * headers, skipping write payloads). A disk that virt-v2v converted must
 * have been asked for something; one whose export saw only handshakes was
 * converted from somewhere else.
 *
 * It only watches. Anything it cannot follow (a stream that is not NBD, an
 * option refused and followed by more options) stops the count for that
 * connection, never the connection.
 */
import type { Duplex } from "node:stream";
import {
  CMD_DISC,
  CMD_WRITE,
  OPT_ABORT,
  OPT_EXPORT_NAME,
  OPT_GO,
  REQUEST_MAGIC,
} from "./builtin/protocol.ts";

/** The magic of an extended-header request (NBD_OPT_EXTENDED_HEADERS). */
const EXTENDED_REQUEST_MAGIC = 0x21e41c71;
/** Client flags, then options of 16-byte headers. */
const CLIENT_FLAGS_SIZE = 4;
const OPTION_HEADER_SIZE = 16;
const SIMPLE_REQUEST_SIZE = 28;
const EXTENDED_REQUEST_SIZE = 32;

type State = "flags" | "option" | "request" | "lost";

/** Follows one client stream; `requests` counts every request but the disconnect. */
export class NbdRequestReader {
  requests = 0;
  #state: State = "flags";
  #buffer = new Uint8Array(0);
  /** Bytes to pass over before the next header (option data, write payload). */
  #skip = 0;

  push(chunk: Uint8Array): void {
    if (!this.#following()) return;
    let data = chunk;
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, data.length);
      this.#skip -= n;
      data = data.subarray(n);
    }
    if (data.length === 0) return;
    // Headers are small: keep only what an unfinished header needs.
    const all = new Uint8Array(this.#buffer.length + data.length);
    all.set(this.#buffer);
    all.set(data, this.#buffer.length);
    let at = 0;
    for (;;) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, all.length - at);
        this.#skip -= n;
        at += n;
        if (this.#skip > 0) break;
      }
      const used = this.#header(all.subarray(at));
      if (used === 0) break;
      at += used;
      if (!this.#following()) break;
    }
    this.#buffer = this.#following() ? all.slice(at) : new Uint8Array(0);
  }

  /** A method, so the compiler does not narrow the state across calls that change it. */
  #following(): boolean {
    return this.#state !== "lost";
  }

  /** Reads one header from the start of `b`; returns its size, or 0 until it is whole. */
  #header(b: Uint8Array): number {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    switch (this.#state) {
      case "flags":
        if (b.length < CLIENT_FLAGS_SIZE) return 0;
        this.#state = "option";
        return CLIENT_FLAGS_SIZE;
      case "option": {
        if (b.length < OPTION_HEADER_SIZE) return 0;
        const option = view.getUint32(8);
        this.#skip = view.getUint32(12);
        // Our exports answer GO and EXPORT_NAME by entering transmission.
        if (option === OPT_GO || option === OPT_EXPORT_NAME) this.#state = "request";
        if (option === OPT_ABORT) this.#state = "lost";
        return OPTION_HEADER_SIZE;
      }
      case "request": {
        const magic = b.length >= 4 ? view.getUint32(0) : undefined;
        if (magic === undefined) return 0;
        const size = magic === REQUEST_MAGIC
          ? SIMPLE_REQUEST_SIZE
          : magic === EXTENDED_REQUEST_MAGIC
          ? EXTENDED_REQUEST_SIZE
          : undefined;
        if (size === undefined) {
          this.#state = "lost";
          return 0;
        }
        if (b.length < size) return 0;
        const type = view.getUint16(6);
        if (type !== CMD_DISC) this.requests++;
        if (type === CMD_WRITE) {
          this.#skip = size === SIMPLE_REQUEST_SIZE
            ? view.getUint32(24)
            : Number(view.getBigUint64(24));
        }
        return size;
      }
      case "lost":
        return 0;
    }
  }
}

/** Every connection of one export: the sum of their requests. */
export class ExportRequestCount {
  #readers: NbdRequestReader[] = [];

  /** Reads along `channel`'s client side (call before the export attaches to it). */
  watch(channel: Duplex): void {
    const reader = new NbdRequestReader();
    this.#readers.push(reader);
    channel.on("data", (chunk: Uint8Array) => reader.push(chunk));
  }

  get requests(): number {
    return this.#readers.reduce((sum, r) => sum + r.requests, 0);
  }
}
