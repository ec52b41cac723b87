/**
 * Several NBD connections to one upstream socket (our forward: each
 * connection is an SSH channel of its own, with a window of its own), used as
 * one: every request goes to the live connection with the fewest bytes
 * outstanding, so the channels fill evenly.
 *
 * A connection that ends takes nothing with it: its unanswered requests go
 * back to the front of the queue and are sent again on another connection,
 * or wait for one. Every lost connection is dialled again every
 * `retryDelayMs`. When none has been live for `boundMs`, waiting requests
 * fail (the client sees EIO) and new ones fail at once until a connection
 * is back; the job's watchdog ends everything at about the same time.
 */
import { NbdClient } from "../client/nbd_client.ts";
import type { UpstreamExport } from "../client/client_handshake.ts";
import type { Extent } from "../builtin/source.ts";

export interface UpstreamPoolOptions {
  /** The Unix socket to dial. */
  socket: string;
  connections: number;
  retryDelayMs: number;
  boundMs: number;
  /** How long one dial plus handshake may take. */
  handshakeTimeoutMs: number;
  /** Ask for zstd-packed read replies (only our own server gives them). */
  zstd: boolean;
  log: (line: string) => void;
}

type Work =
  | {
    kind: "read";
    offset: number;
    length: number;
    dest: Uint8Array;
    at: number;
    done: (err: Error | null) => void;
  }
  | {
    kind: "status";
    offset: number;
    length: number;
    done: (err: Error | null, extents: Extent[]) => void;
  };

export class UpstreamPool {
  #slots: (NbdClient | null)[];
  #queue: Work[] = [];
  #export: UpstreamExport | undefined;
  #closed = false;
  #downSince: number | undefined;
  #boundTimer: ReturnType<typeof setTimeout> | undefined;
  #expired = false;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  /** Read bytes received on each connection slot, lifetime totals. */
  readonly bytesPerConnection: number[];
  /** Connections that ended while we were using them, and were dialled again. */
  reconnects = 0;
  /** Read bytes that came packed, and what they took on the wire (ended connections too). */
  #packedRaw = 0;
  #packedWire = 0;

  constructor(private readonly opts: UpstreamPoolOptions) {
    this.#slots = new Array(opts.connections).fill(null);
    this.bytesPerConnection = new Array(opts.connections).fill(0);
  }

  /** Dials every connection; resolves with the export once at least one is up. */
  async start(): Promise<UpstreamExport> {
    const results = await Promise.allSettled(this.#slots.map((_, i) => this.#dial(i)));
    const failed = results.find((r) => r.status === "rejected");
    if (this.#export === undefined) {
      this.close();
      throw (failed as PromiseRejectedResult).reason;
    }
    for (let i = 0; i < results.length; i++) {
      if (results[i].status === "rejected") this.#redialLater(i);
    }
    return this.#export;
  }

  /** Read bytes that came packed, and their packed size: lifetime totals. */
  get packed(): { raw: number; wire: number } {
    let raw = this.#packedRaw;
    let wire = this.#packedWire;
    for (const c of this.#slots) {
      if (c !== null) {
        raw += c.packedRaw;
        wire += c.packedWire;
      }
    }
    return { raw, wire };
  }

  get live(): number {
    return this.#slots.filter((c) => c !== null).length;
  }

  read(
    dest: Uint8Array,
    at: number,
    length: number,
    offset: number,
    done: (err: Error | null) => void,
  ) {
    this.#submit({ kind: "read", offset, length, dest, at, done });
  }

  blockStatus(
    offset: number,
    length: number,
    done: (err: Error | null, extents: Extent[]) => void,
  ) {
    this.#submit({ kind: "status", offset, length, done });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#boundTimer);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const c of this.#slots) c?.close();
    this.#failWaiting(new Error("the disk fan-out is stopping"));
  }

  #submit(w: Work) {
    if (this.#closed || this.#expired) {
      const err = new Error(
        this.#closed ? "the disk fan-out is stopping" : "no connection to the physical machine",
      );
      queueMicrotask(() => w.kind === "read" ? w.done(err) : w.done(err, []));
      return;
    }
    this.#queue.push(w);
    this.#dispatch();
  }

  #dispatch() {
    while (this.#queue.length > 0) {
      let best = -1;
      for (let i = 0; i < this.#slots.length; i++) {
        const c = this.#slots[i];
        if (c === null || c.isClosed) continue;
        if (best < 0 || c.inFlightBytes < this.#slots[best]!.inFlightBytes) best = i;
      }
      if (best < 0) return;
      this.#send(best, this.#queue.shift()!);
    }
  }

  #send(slot: number, w: Work) {
    const c = this.#slots[slot]!;
    if (w.kind === "read") {
      c.read(w.offset, w.length, w.dest, w.at, (err, lost) => {
        if (lost && !this.#closed) return this.#requeue(w);
        if (!err) this.bytesPerConnection[slot] += w.length;
        w.done(err);
      });
    } else {
      c.blockStatus(w.offset, w.length, (err, lost, extents) => {
        if (lost && !this.#closed) return this.#requeue(w);
        w.done(err, extents);
      });
    }
  }

  /** A request whose connection ended unanswered: first in line again. */
  #requeue(w: Work) {
    if (this.#expired) {
      const err = new Error("no connection to the physical machine");
      return w.kind === "read" ? w.done(err) : w.done(err, []);
    }
    this.#queue.unshift(w);
    queueMicrotask(() => this.#dispatch());
  }

  async #dial(slot: number): Promise<void> {
    const c = await NbdClient.connect(
      this.opts.socket,
      this.opts.handshakeTimeoutMs,
      this.opts.zstd,
    );
    if (this.#closed) {
      c.close();
      return;
    }
    if (this.#export === undefined) {
      this.#export = c.export_;
    } else if (c.export_.size !== this.#export.size) {
      c.close();
      throw new Error(
        `the disk behind ${this.opts.socket} is now ${c.export_.size} bytes, not ${this.#export.size}`,
      );
    }
    this.#slots[slot] = c;
    if (this.#downSince !== undefined) {
      this.opts.log(
        `${this.opts.socket}: connection ${slot} is back after ${Date.now() - this.#downSince} ms`,
      );
    }
    this.#downSince = undefined;
    this.#expired = false;
    clearTimeout(this.#boundTimer);
    this.#boundTimer = undefined;
    c.closed.then((reason) => this.#lost(slot, c, reason));
    this.#dispatch();
  }

  #lost(slot: number, c: NbdClient, reason: string) {
    if (this.#slots[slot] !== c) return;
    this.#slots[slot] = null;
    this.#packedRaw += c.packedRaw;
    this.#packedWire += c.packedWire;
    if (this.#closed) return;
    this.opts.log(`${this.opts.socket}: connection ${slot} lost (${reason}); dialling again`);
    this.reconnects++;
    if (this.live === 0 && this.#downSince === undefined) {
      this.#downSince = Date.now();
      this.#boundTimer = setTimeout(() => this.#expire(), this.opts.boundMs);
    }
    this.#redialLater(slot);
  }

  #redialLater(slot: number) {
    if (this.#closed) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      this.#dial(slot).catch(() => this.#redialLater(slot));
    }, this.opts.retryDelayMs);
    this.#timers.add(t);
  }

  #expire() {
    this.#boundTimer = undefined;
    if (this.live > 0 || this.#closed) return;
    this.#expired = true;
    this.opts.log(
      `${this.opts.socket}: no connection for ${this.opts.boundMs} ms: failing the requests that wait`,
    );
    this.#failWaiting(new Error("no connection to the physical machine"));
  }

  #failWaiting(err: Error) {
    const waiting = this.#queue;
    this.#queue = [];
    for (const w of waiting) w.kind === "read" ? w.done(err) : w.done(err, []);
  }
}
