/**
 * One NBD client on one duplex stream (an ssh2 forward channel, a socket):
 * stream plumbing around the handshake and transmission logic. Feeds received
 * bytes to the current phase, writes replies, applies backpressure (pauses
 * the stream while we have enough work or unwritten output), and closes the
 * stream at the end: gracefully after NBD_CMD_DISC / NBD_OPT_ABORT / client
 * EOF once every request is answered, at once on a protocol violation.
 *
 * Nothing a client sends can make an exception escape: every entry point is
 * guarded, and an internal failure only closes this connection.
 */
import type { Duplex } from "node:stream";
import type { BufferPool } from "./buffer_pool.ts";
import type { BudgetLease, ByteBudget } from "./byte_budget.ts";
import { ByteQueue } from "./byte_queue.ts";
import { type ExportInfo, Handshake } from "./handshake.ts";
import { REQUEST_SIZE } from "./protocol.ts";
import { serverGreeting } from "./replies.ts";
import type { ExportSource } from "./source.ts";
import { type ReplySink, Transmission, type TransmissionLimits } from "./transmission.ts";

export interface ConnectionContext {
  source: ExportSource;
  exportInfo: ExportInfo;
  pool: BufferPool;
  limits: TransmissionLimits;
  /** The export's bytes for reads in flight, shared by its connections. */
  budget: ByteBudget;
  /** A client that has not finished the handshake by then is dropped. */
  handshakeTimeoutMs: number;
  /** Count reply bytes handed to the stream (packed ones as the data they hold). */
  countSent(n: number): void;
  /** A read of `raw` bytes went out zstd-packed in `wire` bytes. */
  countPacked?(raw: number, wire: number): void;
  /** Why a connection ended early (protocol violation, stream error); for diagnostics. */
  onClientError?(message: string): void;
  /** A bug in this server (an exception from our own code); the connection is closed. */
  onInternalError?(err: unknown): void;
  /** Reading the source failed (a bad sector, a vanished device). */
  onReadError?(offset: number, length: number, err: Error): void;
}

/** How long a gracefully closing stream may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 10_000;
/** Unwritten handshake replies beyond this stop reading (a client that never reads). */
const HANDSHAKE_OUTPUT_LIMIT = 1024 * 1024;

type State = "handshake" | "transmission" | "draining" | "closing" | "closed";

export class NbdConnection implements ReplySink {
  #state: State = "handshake";
  #queue = new ByteQueue();
  #handshake: Handshake;
  #transmission: Transmission | null = null;
  #outstanding = 0;
  #inputEnded = false;
  #paused = false;
  #pumping = false;
  #again = false;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #lease: BudgetLease;
  #resolveClosed!: () => void;
  /** Why the connection ended (or is ending); "" while it runs. */
  closeReason = "";
  /** Settles once the stream is closed. */
  readonly closed: Promise<void>;

  constructor(private readonly channel: Duplex, private readonly ctx: ConnectionContext) {
    this.closed = new Promise((r) => this.#resolveClosed = r);
    this.#handshake = new Handshake(ctx.exportInfo, (b) => this.send(b));
    // Bytes came back to the budget: a read that waited for them may start.
    this.#lease = ctx.budget.lease(() => this.#guard(() => this.#pump()));
  }

  /** Bytes given to `send` whose write has not completed. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** Greet the client and start serving. */
  start(): void {
    const ch = this.channel;
    // Listeners stay for the stream's lifetime: a late 'error' must never go unhandled.
    ch.on("error", (err: Error) => this.#guard(() => this.#streamError(err)));
    ch.on("close", () => this.#guard(() => this.#onClose()));
    ch.on("end", () =>
      this.#guard(() => {
        this.#inputEnded = true;
        this.#pump();
      }));
    ch.on("data", (chunk: Uint8Array) =>
      this.#guard(() => {
        if (this.#state !== "handshake" && this.#state !== "transmission") return;
        this.#queue.push(chunk);
        this.#pump();
      }));
    if (ch.destroyed) {
      this.#onClose();
      return;
    }
    // A client that connects and never negotiates would hold its slot for ever.
    this.#handshakeTimer = setTimeout(() =>
      this.#guard(() => {
        this.#handshakeTimer = undefined;
        if (this.#state !== "handshake") return;
        const reason = `no NBD handshake within ${this.ctx.handshakeTimeoutMs} ms`;
        this.ctx.onClientError?.(reason);
        this.#close(reason, true);
      }), this.ctx.handshakeTimeoutMs);
    this.#guard(() => this.send(serverGreeting()));
  }

  /** Close at once (server stopping). */
  destroy(): void {
    this.#guard(() => {
      if (this.#state === "closed") return;
      this.channel.destroy();
      // 'close' normally follows; do not depend on it.
      this.#onClose();
    });
  }

  packed(raw: number, wire: number): void {
    this.ctx.countPacked?.(raw, wire);
  }

  readFailed(offset: number, length: number, err: Error): void {
    this.ctx.onReadError?.(offset, length, err);
  }

  send(buf: Uint8Array, done?: () => void, counts = buf.length): void {
    const ch = this.channel;
    if (this.#state === "closed" || ch.destroyed || ch.writableEnded) {
      done?.();
      return;
    }
    const n = buf.length;
    this.#outstanding += n;
    this.ctx.countSent(counts);
    ch.write(buf, () => {
      this.#outstanding -= n;
      this.#guard(() => {
        done?.();
        if (this.#paused || this.#state === "draining" || this.#transmission?.busy) this.#pump();
      });
    });
  }

  #pump(): void {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        this.#step();
      } while (this.#again);
    } finally {
      this.#pumping = false;
    }
  }

  #step(): void {
    if (this.#state === "handshake") {
      for (;;) {
        const r = this.#handshake.step(this.#queue);
        if (r.kind === "continue") continue;
        if (r.kind === "close") {
          if (r.fault) this.ctx.onClientError?.(r.reason);
          return this.#close(r.reason, false);
        }
        if (r.kind === "wait") {
          if (this.#inputEnded) return this.#close("client closed during negotiation", false);
          this.#flowControl(this.#outstanding < HANDSHAKE_OUTPUT_LIMIT);
          return;
        }
        this.#transmission = new Transmission(
          this.ctx.source,
          this.ctx.pool,
          this,
          r.negotiated,
          this.ctx.limits,
          this.#lease,
          (fn) =>
            this.#guard(() => {
              fn();
              this.#pump();
            }),
        );
        this.#state = "transmission";
        clearTimeout(this.#handshakeTimer);
        this.#handshakeTimer = undefined;
        break;
      }
    }
    const t = this.#transmission;
    if (t === null) return;
    if (this.#state === "transmission") {
      const r = t.process(this.#queue);
      if (r === "protocol-error") {
        this.ctx.onClientError?.(t.error);
        return this.#close(t.error, true);
      }
      if (r === "disconnect" || (this.#inputEnded && this.#queue.length < REQUEST_SIZE)) {
        // Answer everything already received, then close; ignore anything after.
        this.#state = "draining";
        this.#queue.clear();
        this.#flowControl(true);
      } else {
        this.#flowControl(t.acceptsInput);
      }
    }
    if (this.#state === "draining") {
      t.startReads();
      if (t.busy === 0) this.#close("client disconnected", false);
    }
  }

  /** Pause the stream while we do not want input; resume when we do. */
  #flowControl(wantInput: boolean) {
    if (wantInput && this.#paused) {
      this.#paused = false;
      this.channel.resume();
    } else if (!wantInput && !this.#paused) {
      this.#paused = true;
      this.channel.pause();
    }
  }

  /** End the stream: flush what was sent, then close (`hard`: drop it now). */
  #close(reason: string, hard: boolean): void {
    if (this.#state === "closing" || this.#state === "closed") return;
    this.#state = "closing";
    this.closeReason = reason;
    this.#queue.clear();
    this.#transmission?.abandon();
    const ch = this.channel;
    if (hard || ch.destroyed) {
      ch.destroy();
      this.#onClose();
      return;
    }
    ch.once("finish", () => ch.destroy());
    ch.end();
    this.#graceTimer = setTimeout(() => {
      this.#graceTimer = undefined;
      this.#guard(() => this.destroy());
    }, CLOSE_GRACE_MS);
  }

  #streamError(err: Error) {
    if (this.#state !== "closed" && this.#state !== "closing") {
      this.closeReason = `stream error: ${err.message}`;
      this.ctx.onClientError?.(this.closeReason);
    }
    this.channel.destroy();
    this.#onClose();
  }

  #onClose(): void {
    if (this.#state === "closed") return;
    if (this.closeReason === "") this.closeReason = "stream closed";
    this.#state = "closed";
    if (this.#graceTimer !== undefined) {
      clearTimeout(this.#graceTimer);
      this.#graceTimer = undefined;
    }
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    this.#queue.clear();
    this.#transmission?.abandon();
    this.#lease.close();
    this.#resolveClosed();
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      try {
        this.ctx.onInternalError?.(err);
      } catch { /* the reporter itself failed: nothing more to do */ }
      try {
        this.channel.destroy();
      } catch { /* already gone */ }
      this.#onClose();
    }
  }
}
