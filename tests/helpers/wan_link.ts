/**
 * A wide-area link between two loopback endpoints, for tests and benchmarks:
 * a TCP relay on 127.0.0.1 that forwards each connection to a target and
 * holds every byte for half the round-trip time in each direction, each
 * direction capped at a rate. This machine's kernel has no netem, so the
 * delay is made here, in user space.
 *
 * - Delay: data read at time t is written at t + rtt/2, order preserved.
 * - Connecting costs what a TCP handshake costs on a real path: the client's
 *   connect() returns at once here (the kernel completes it on loopback), so
 *   the relay connects to the target 1.5 round trips later, when the
 *   handshake's last packet would reach it. The target's first bytes reach
 *   the client two round trips after the connect, and the client's own
 *   earliest bytes reach the target no sooner than 1.5, as on a real path.
 * - Rate: a token bucket per direction (default 1 Gbit/s), a few
 *   milliseconds deep.
 * - Backpressure: a direction stops reading once it holds more than
 *   delay × rate (what the path itself holds) plus `bufferBytes` (the
 *   bottleneck's queue). Without that bound the relay would swallow whatever
 *   a sender has and hide the effect of the windows (SSH channel windows)
 *   that limit a real transfer over a long path.
 * - Loss is not emulated: each side's TCP ends at the relay, so a lost packet
 *   would be retransmitted on loopback and never seen. TCP's own congestion
 *   control and window growth over the long path are not emulated either:
 *   the path behaves as one whose TCP windows are large enough.
 * - Half-close passes through (end of input on one side becomes a shutdown
 *   of writing on the other, after the delay); an error on either side
 *   closes both. `close()` ends everything.
 *
 * Timing: the delays are kept by a worker thread (wan_link_timer.ts) that
 * wakes within a fraction of a millisecond; bytes are never written before
 * they are due. Everything due when a direction wakes goes out in one write.
 */

export interface WanLinkOptions {
  /** Where each accepted connection is forwarded. */
  target: { hostname: string; port: number };
  /** Round-trip time to add, in milliseconds (each direction holds data for half). */
  rttMs: number;
  /** Cap on each direction, in bits per second; default 1 Gbit/s. */
  rateBitsPerSecond?: number;
  /** What a direction may hold beyond delay × rate before it stops reading; default 10 ms at the rate, at least 256 KiB. */
  bufferBytes?: number;
  /** Listening address; default 127.0.0.1 on a free port. */
  hostname?: string;
  port?: number;
}

export interface WanLink {
  hostname: string;
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Bytes delivered from clients to the target so far, all connections together. */
  readonly bytesUp: number;
  /** What one direction may hold before it stops reading, in bytes. */
  readonly limitBytes: number;
  /** The most one direction has held so far (at most limitBytes plus one read). */
  readonly peakHeldBytes: number;
  /** Stop listening and close every connection. */
  close(): Promise<void>;
}

/** The most one read takes from a socket. */
export const READ_SIZE = 128 * 1024;

/** Wake-ups at given performance.now() times, kept by a worker thread. */
class Timer {
  #memory = new SharedArrayBuffer(16);
  #generation = new Int32Array(this.#memory, 0, 1);
  #target = new Float64Array(this.#memory, 8, 1);
  #worker = new Worker(new URL("./wan_link_timer.ts", import.meta.url), { type: "module" });
  /** Sorted by time. */
  #waiters: { at: number; wake: () => void }[] = [];
  #armed = Infinity;

  /** The thread has started. */
  readonly ready: Promise<void>;

  constructor() {
    this.#target[0] = Infinity;
    this.ready = new Promise((resolve) => {
      this.#worker.onmessage = () => {
        this.#worker.onmessage = () => this.#fire();
        resolve();
      };
    });
    this.#worker.postMessage(this.#memory);
  }

  /** Resolves at or just after `at` (a performance.now() time). */
  at(at: number): Promise<void> {
    if (at <= performance.now()) return Promise.resolve();
    return new Promise((wake) => {
      let i = this.#waiters.length;
      while (i > 0 && this.#waiters[i - 1].at > at) i--;
      this.#waiters.splice(i, 0, { at, wake });
      this.#arm();
    });
  }

  #fire(): void {
    this.#armed = Infinity;
    // The thread fires a little early; a waiter not yet due re-arms it at once.
    const now = performance.now();
    let n = 0;
    while (n < this.#waiters.length && this.#waiters[n].at <= now) n++;
    for (const waiter of this.#waiters.splice(0, n)) waiter.wake();
    this.#arm();
  }

  #arm(): void {
    const next = this.#waiters[0]?.at ?? Infinity;
    if (next === this.#armed) return;
    this.#armed = next;
    this.#target[0] = next === Infinity ? Infinity : performance.timeOrigin + next;
    Atomics.add(this.#generation, 0, 1);
    Atomics.notify(this.#generation, 0);
  }

  /** Wake every waiter now (the relay is closing) and end the thread. */
  stop(): void {
    for (const waiter of this.#waiters.splice(0)) waiter.wake();
    Atomics.store(this.#generation, 0, -1);
    Atomics.notify(this.#generation, 0);
    this.#worker.terminate();
  }
}

interface Chunk {
  /** null: end of input. */
  data: Uint8Array | null;
  due: number;
}

/** One direction of one connection: a timed queue between a reader and a writer. */
class Direction {
  #queue: Chunk[] = [];
  #head = 0;
  #held = 0;
  #dataWaiter: (() => void) | undefined;
  #roomWaiter: (() => void) | undefined;
  #tokens: number;
  #refilled = performance.now();
  #stopped = false;

  constructor(
    private readonly link: Link,
    private readonly from: Promise<Deno.TcpConn>,
    private readonly to: Promise<Deno.TcpConn>,
    /** Told every write's size, once written. */
    private readonly wrote: (bytes: number) => void = () => {},
  ) {
    this.#tokens = link.burst;
  }

  run(): Promise<void> {
    return Promise.all([this.#read(), this.#write()]).then(() => {});
  }

  /** End both loops (the connection is closing). */
  stop(): void {
    this.#stopped = true;
    this.#dataWaiter?.();
    this.#roomWaiter?.();
  }

  #ending(): boolean {
    return this.#stopped || this.link.closing;
  }

  #push(chunk: Chunk): void {
    this.#queue.push(chunk);
    this.#held += chunk.data?.length ?? 0;
    this.link.peakHeld = Math.max(this.link.peakHeld, this.#held);
    this.#dataWaiter?.();
  }

  async #read(): Promise<void> {
    const from = await this.from;
    for (;;) {
      while (this.#held > this.link.limit && !this.#ending()) {
        await new Promise<void>((resolve) => this.#roomWaiter = resolve);
        this.#roomWaiter = undefined;
      }
      if (this.#ending()) return;
      const buffer = new Uint8Array(READ_SIZE);
      const n = await from.read(buffer);
      const due = performance.now() + this.link.delayMs;
      if (n === null) {
        this.#push({ data: null, due });
        return;
      }
      // A small read is copied out so the queue does not hold mostly-empty buffers.
      this.#push({ data: n < READ_SIZE / 4 ? buffer.slice(0, n) : buffer.subarray(0, n), due });
    }
  }

  async #write(): Promise<void> {
    const to = await this.to;
    const timer = this.link.timer;
    for (;;) {
      if (this.#ending()) return;
      if (this.#head === this.#queue.length) {
        await new Promise<void>((resolve) => this.#dataWaiter = resolve);
        this.#dataWaiter = undefined;
        continue;
      }
      const head = this.#queue[this.#head];
      let now = performance.now();
      if (head.due > now) {
        await timer.at(head.due);
        continue;
      }
      if (head.data === null) {
        await to.closeWrite();
        return;
      }
      const rate = this.link.bytesPerMs;
      this.#tokens = Math.min(this.link.burst, this.#tokens + (now - this.#refilled) * rate);
      this.#refilled = now;
      if (this.#tokens < 0) {
        await timer.at(now - this.#tokens / rate);
        continue;
      }
      const batch: Uint8Array[] = [];
      let bytes = 0;
      now = performance.now();
      while (this.#head < this.#queue.length && bytes < this.link.burst) {
        const chunk = this.#queue[this.#head];
        if (chunk.data === null || chunk.due > now) break;
        batch.push(chunk.data);
        bytes += chunk.data.length;
        this.#head++;
      }
      if (this.#head > 1024) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      this.#tokens -= bytes;
      await writeAll(to, batch.length === 1 ? batch[0] : concat(batch, bytes));
      this.wrote(bytes);
      this.#held -= bytes;
      this.#roomWaiter?.();
    }
  }
}

function concat(parts: Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}

/** What every connection of one relay shares. */
interface Link {
  delayMs: number;
  bytesPerMs: number;
  burst: number;
  limit: number;
  timer: Timer;
  closing: boolean;
  peakHeld: number;
}

export async function startWanLink(options: WanLinkOptions): Promise<WanLink> {
  const rate = options.rateBitsPerSecond ?? 1e9;
  if (!(rate > 0 && Number.isFinite(rate))) throw new Error(`bad rate ${rate}`);
  if (!(options.rttMs >= 0)) throw new Error(`bad RTT ${options.rttMs}`);
  const bytesPerMs = rate / 8 / 1000;
  const delayMs = options.rttMs / 2;
  const link: Link = {
    delayMs,
    bytesPerMs,
    // Deep enough to cover the timer's lateness at the rate, so lateness costs no
    // throughput; also the most one write gathers.
    burst: Math.max(64 * 1024, 8 * bytesPerMs),
    limit: delayMs * bytesPerMs + (options.bufferBytes ?? Math.max(256 * 1024, 10 * bytesPerMs)),
    timer: new Timer(),
    closing: false,
    peakHeld: 0,
  };
  await link.timer.ready;
  const listener = Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
  });
  const open = new Set<{ close(): void }>();
  const tasks = new Set<Promise<void>>();
  let accepted = 0;
  let bytesUp = 0;

  const closeQuietly = (conn: Deno.Conn) => {
    try {
      conn.close();
    } catch { /* already closed */ }
  };

  const serve = async (client: Deno.TcpConn) => {
    client.setNoDelay(true);
    // SYN, SYN-ACK, ACK: the target accepts 1.5 round trips after the client began.
    const server = link.timer.at(performance.now() + 3 * delayMs).then(async () => {
      if (link.closing) throw new Error("closing");
      const conn = await Deno.connect(options.target);
      conn.setNoDelay(true);
      return conn;
    });
    const up = new Direction(link, Promise.resolve(client), server, (n) => bytesUp += n);
    const down = new Direction(link, server, Promise.resolve(client));
    const entry = {
      close() {
        up.stop();
        down.stop();
        closeQuietly(client);
        server.then(closeQuietly, () => {});
      },
    };
    open.add(entry);
    // Either direction failing (a reset, a refused connection) ends both.
    await Promise.all([up.run(), down.run()].map((p) => p.catch(() => entry.close())));
    entry.close();
    open.delete(entry);
  };

  const acceptLoop = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch {
        return; // closed
      }
      accepted++;
      const task = serve(conn);
      tasks.add(task);
      task.finally(() => tasks.delete(task));
    }
  })();

  const address = listener.addr;
  return {
    hostname: address.hostname,
    port: address.port,
    get accepted() {
      return accepted;
    },
    get bytesUp() {
      return bytesUp;
    },
    limitBytes: link.limit,
    get peakHeldBytes() {
      return link.peakHeld;
    },
    async close() {
      if (link.closing) return;
      link.closing = true;
      listener.close();
      await acceptLoop;
      for (const entry of open) entry.close();
      link.timer.stop();
      await Promise.all(tasks);
    },
  };
}

/**
 * By hand: `deno run --allow-net --allow-read tests/helpers/wan_link.ts RTT_MS HOST:PORT
 * [LISTEN_PORT] [BITS_PER_SECOND]` puts a link in front of HOST:PORT until Ctrl-C.
 */
if (import.meta.main) {
  const [rtt, target, listen, rate] = Deno.args;
  const m = /^(.+):(\d+)$/.exec(target ?? "");
  if (rtt === undefined || !m) {
    console.error("usage: wan_link.ts RTT_MS HOST:PORT [LISTEN_PORT] [BITS_PER_SECOND]");
    Deno.exit(2);
  }
  const link = await startWanLink({
    target: { hostname: m[1], port: Number(m[2]) },
    rttMs: Number(rtt),
    port: Number(listen ?? 0),
    rateBitsPerSecond: rate === undefined ? undefined : Number(rate),
  });
  console.log(`${link.hostname}:${link.port} -> ${target}, RTT ${rtt} ms`);
}
