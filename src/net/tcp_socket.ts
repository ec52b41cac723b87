/**
 * A TCP connection as the node:stream Duplex that ssh2 takes as `sock`, built
 * on Deno's own TCP API instead of node:net. It exists for the send path:
 * writes that queue up while one is in progress reach `_writev` together, and
 * chunks that lie next to each other in memory (the SSH packets of one
 * `PacketSlab`) go out as ONE write of one view, without copying; small
 * pieces in between are copied together into a reused buffer. Written slab
 * bytes are given back to their slab for reuse. Under Deno, node:net costs a
 * system call and several objects per SSH packet.
 *
 * It behaves like a connecting net.Socket towards ssh2: `connecting` is true
 * until the connection is up, then 'connect' is emitted; a failure is an
 * 'error' whose `code` is the system's (ECONNREFUSED …), then 'close'.
 * Incoming bytes are copied out of one reused read buffer, since ssh2 keeps
 * views of what it is given.
 */
import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import { releaseWritten } from "./packet_slab.ts";

const READ_BUFFER_BYTES = 64 * 1024;
/** Runs shorter than this are merged by copying: cheaper than a system call each. */
const COPY_BELOW_BYTES = 64 * 1024;

export class TcpSocket extends Duplex {
  /** As net.Socket: true until connected (ssh2 waits for 'connect' while it is). */
  connecting = true;
  #conn: Deno.TcpConn | null = null;
  #connected: Promise<Deno.TcpConn | null>;
  readonly #abortConnect = new AbortController();
  #reading = false;
  readonly #readBuffer = new Uint8Array(READ_BUFFER_BYTES);
  /** Where small pieces are copied together; one batch is written at a time, so it is reused. */
  #staging = new Uint8Array(0);
  readonly #stage = (bytes: number): Uint8Array => {
    if (this.#staging.length < bytes) this.#staging = new Uint8Array(Math.max(bytes, 65536));
    return this.#staging;
  };

  constructor(hostname: string, port: number) {
    super({ allowHalfOpen: false, decodeStrings: true });
    this.#connected = this.#connect(hostname, port);
  }

  async #connect(hostname: string, port: number): Promise<Deno.TcpConn | null> {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname, port, signal: this.#abortConnect.signal });
    } catch (err) {
      if (!this.destroyed) this.destroy(asSocketError(err));
      return null;
    }
    if (this.destroyed) {
      conn.close();
      return null;
    }
    // Small control packets (NBD replies, window adjustments) must not wait for ACKs.
    conn.setNoDelay(true);
    this.#conn = conn;
    this.connecting = false;
    this.emit("connect");
    if (this.#reading) this.#readLoop(conn);
    return conn;
  }

  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    if (this.#conn !== null) this.#readLoop(this.#conn);
  }

  async #readLoop(conn: Deno.TcpConn): Promise<void> {
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(this.#readBuffer);
      } catch (err) {
        if (!this.destroyed) this.destroy(asSocketError(err));
        return;
      }
      if (this.destroyed) return;
      if (n === null) {
        this.push(null);
        return;
      }
      if (!this.push(Buffer.from(this.#readBuffer.subarray(0, n)))) {
        this.#reading = false;
        return;
      }
    }
  }

  override _write(chunk: Uint8Array, _encoding: string, done: (err?: Error | null) => void) {
    this.#send([chunk]).then(() => done(), (err) => done(asSocketError(err)));
  }

  override _writev(
    chunks: { chunk: Uint8Array; encoding: string }[],
    done: (err?: Error | null) => void,
  ) {
    this.#send(chunks.map((c) => c.chunk)).then(() => done(), (err) => done(asSocketError(err)));
  }

  async #send(chunks: Uint8Array[]): Promise<void> {
    const conn = this.#conn ?? await this.#connected;
    if (conn === null) throw new Error("the connection is closed");
    for (const { view, copiedFrom } of planWrites(chunks, this.#stage)) {
      if (copiedFrom) { for (const source of copiedFrom) releaseWritten(source); }
      let rest = view;
      while (rest.length > 0) rest = rest.subarray(await conn.write(rest));
      if (!copiedFrom) releaseWritten(view);
    }
  }

  override _final(done: (err?: Error | null) => void): void {
    try {
      this.#conn?.closeWrite();
    } catch { /* already closed by the peer */ }
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.#abortConnect.abort();
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    this.#conn = null;
    done(err);
  }

  /** As net.Socket (ssh2 may call it); Nagle is already off. */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }
}

/** One write of the plan: a view, and whether it is a copy (its sources are free already). */
export interface PlannedWrite {
  view: Uint8Array;
  copiedFrom?: Uint8Array[];
}

/**
 * The chunks as few writes as possible without copying much: neighbours in
 * one ArrayBuffer become one view; runs of small pieces between them are
 * merged by copying into memory from `staging(bytes)` (called at most once;
 * the copies are in use until the plan has been written).
 */
export function planWrites(
  chunks: Uint8Array[],
  staging: (bytes: number) => Uint8Array = (n) => new Uint8Array(n),
): PlannedWrite[] {
  // Group the runs: a large run alone, consecutive small ones together.
  const groups: Uint8Array[][] = [];
  let copyBytes = 0;
  let small: Uint8Array[] = [];
  for (const run of contiguousRuns(chunks)) {
    if (run.byteLength >= COPY_BELOW_BYTES) {
      if (small.length > 0) groups.push(small);
      small = [];
      groups.push([run]);
    } else {
      small.push(run);
    }
  }
  if (small.length > 0) groups.push(small);
  for (const g of groups) {
    if (g.length > 1) { for (const run of g) copyBytes += run.byteLength; }
  }
  const stage = copyBytes > 0 ? staging(copyBytes) : undefined;
  let at = 0;
  return groups.map((g) => {
    if (g.length === 1) return { view: g[0] };
    const start = at;
    for (const run of g) {
      stage!.set(run, at);
      at += run.byteLength;
    }
    return { view: stage!.subarray(start, at), copiedFrom: g };
  });
}

/** Chunks that follow each other in one ArrayBuffer, joined into one view each. */
function contiguousRuns(chunks: Uint8Array[]): Uint8Array[] {
  const runs: Uint8Array[] = [];
  let run: Uint8Array | undefined;
  let runBytes = 0;
  for (const c of chunks) {
    if (c.byteLength === 0) continue;
    if (
      run !== undefined && run.buffer === c.buffer && run.byteOffset + runBytes === c.byteOffset
    ) {
      runBytes += c.byteLength;
      continue;
    }
    if (run !== undefined) runs.push(extend(run, runBytes));
    run = c;
    runBytes = c.byteLength;
  }
  if (run !== undefined) runs.push(extend(run, runBytes));
  return runs;
}

function extend(view: Uint8Array, bytes: number): Uint8Array {
  return bytes === view.byteLength ? view : new Uint8Array(view.buffer, view.byteOffset, bytes);
}

/** Deno's errors carry `code` (ECONNREFUSED …) already; keep them, name the rest. */
function asSocketError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
