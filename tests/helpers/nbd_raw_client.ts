/**
 * A deliberately low-level NBD client over node:net for protocol tests: it
 * sends exactly the bytes a test asks for (including malformed ones) and reads
 * exactly what the server sends back.
 */
import { Buffer } from "node:buffer";
import { createConnection, type Socket } from "node:net";

export const NBDMAGIC = Buffer.from("NBDMAGIC");
export const IHAVEOPT = Buffer.from("IHAVEOPT");
export const OPT_REPLY_MAGIC = Buffer.from("0003e889045565a9", "hex");

export interface OptionReply {
  option: number;
  type: number;
  data: Buffer;
}

export interface SimpleReply {
  error: number;
  cookie: bigint;
}

export interface Chunk {
  flags: number;
  type: number;
  cookie: bigint;
  payload: Buffer;
}

export class RawNbdClient {
  #chunks: Buffer[] = [];
  #length = 0;
  #waiter: (() => void) | null = null;
  #ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      this.#wake();
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.#ended = true;
        this.#wake();
        resolve();
      });
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
  }

  static connect(path: string): Promise<RawNbdClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ path, allowHalfOpen: true });
      s.once("connect", () => resolve(new RawNbdClient(s)));
      s.once("error", reject);
    });
  }

  /** Bytes received and not yet consumed. */
  get buffered(): number {
    return this.#length;
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Exactly `n` bytes; rejects if the server closes first or after `timeoutMs`. */
  async read(n: number, timeoutMs = 10_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.#length < n) {
      if (this.#ended) throw new Error(`connection closed with ${this.#length}/${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} bytes (have ${this.#length})`);
      await this.#wait(left);
    }
    const all = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#length = rest.length;
    return out;
  }

  /** True if the server closed (EOF) within `timeoutMs` with nothing more unread. */
  async closesWithin(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await this.#wait(left);
    }
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }

  // --- handshake -----------------------------------------------------------

  /** Read the 18-byte greeting; returns the handshake flags. */
  async greeting(): Promise<number> {
    const g = await this.read(18);
    if (!g.subarray(0, 8).equals(NBDMAGIC) || !g.subarray(8, 16).equals(IHAVEOPT)) {
      throw new Error(`bad greeting ${g.toString("hex")}`);
    }
    return g.readUInt16BE(16);
  }

  sendClientFlags(flags: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(flags >>> 0);
    this.write(b);
  }

  /** Send an option; `length` overrides the header's length field. */
  sendOption(option: number, data: Uint8Array = new Uint8Array(0), length?: number): void {
    const h = Buffer.alloc(16);
    IHAVEOPT.copy(h, 0);
    h.writeUInt32BE(option >>> 0, 8);
    h.writeUInt32BE((length ?? data.length) >>> 0, 12);
    this.write(Buffer.concat([h, data]));
  }

  async optionReply(): Promise<OptionReply> {
    const h = await this.read(20);
    if (!h.subarray(0, 8).equals(OPT_REPLY_MAGIC)) {
      throw new Error(`bad option reply magic ${h.toString("hex")}`);
    }
    const len = h.readUInt32BE(16);
    return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data: await this.read(len) };
  }

  /** Option replies up to and including the first that is not NBD_REP_INFO/SERVER/META_CONTEXT. */
  async optionReplies(): Promise<OptionReply[]> {
    const out: OptionReply[] = [];
    for (;;) {
      const r = await this.optionReply();
      out.push(r);
      if (r.type !== 2 && r.type !== 3 && r.type !== 4) return out;
    }
  }

  /**
   * Greeting, fixed-newstyle flags, optionally structured replies and
   * base:allocation, then NBD_OPT_GO on the default export.
   */
  async handshake(
    opts: { structured?: boolean; meta?: boolean; name?: string } = {},
  ): Promise<{ size: number; flags: number }> {
    await this.greeting();
    this.sendClientFlags(3);
    if (opts.structured) {
      this.sendOption(8);
      const r = await this.optionReply();
      if (r.type !== 1) throw new Error(`structured reply refused: ${r.type}`);
    }
    if (opts.meta) {
      this.sendOption(10, metaContextData("", ["base:allocation"]));
      const rs = await this.optionReplies();
      if (rs[rs.length - 1].type !== 1) throw new Error("SET_META_CONTEXT failed");
    }
    this.sendOption(7, goData(opts.name ?? "", [3]));
    const rs = await this.optionReplies();
    const last = rs[rs.length - 1];
    if (last.type !== 1) throw new Error(`NBD_OPT_GO failed: reply type ${last.type}`);
    const info = rs.find((r) => r.type === 3 && r.data.readUInt16BE(0) === 0);
    if (!info) throw new Error("no NBD_INFO_EXPORT");
    return { size: Number(info.data.readBigUInt64BE(2)), flags: info.data.readUInt16BE(10) };
  }

  // --- transmission --------------------------------------------------------

  sendRequest(
    r: { flags?: number; type: number; cookie: bigint; offset: bigint | number; length: number },
    magic = 0x25609513,
  ): void {
    this.write(request(r, magic));
  }

  async simpleReply(): Promise<SimpleReply> {
    const h = await this.read(16);
    if (h.readUInt32BE(0) !== 0x67446698) {
      throw new Error(`not a simple reply: ${h.toString("hex")}`);
    }
    return { error: h.readUInt32BE(4), cookie: h.readBigUInt64BE(8) };
  }

  async chunk(): Promise<Chunk> {
    const h = await this.read(20);
    if (h.readUInt32BE(0) !== 0x668e33ef) {
      throw new Error(`not a structured chunk: ${h.toString("hex")}`);
    }
    const len = h.readUInt32BE(16);
    return {
      flags: h.readUInt16BE(4),
      type: h.readUInt16BE(6),
      cookie: h.readBigUInt64BE(8),
      payload: await this.read(len),
    };
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#waiter = null;
        resolve();
      }, ms);
      this.#waiter = () => {
        clearTimeout(t);
        this.#waiter = null;
        resolve();
      };
    });
  }

  #wake() {
    this.#waiter?.();
  }
}

/** One 28-byte request. */
export function request(
  r: { flags?: number; type: number; cookie: bigint; offset: bigint | number; length: number },
  magic = 0x25609513,
): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt32BE(magic >>> 0, 0);
  b.writeUInt16BE(r.flags ?? 0, 4);
  b.writeUInt16BE(r.type, 6);
  b.writeBigUInt64BE(r.cookie, 8);
  b.writeBigUInt64BE(BigInt(r.offset), 16);
  b.writeUInt32BE(r.length >>> 0, 24);
  return b;
}

/** Data of NBD_OPT_INFO / NBD_OPT_GO. */
export function goData(name: string, infos: number[] = []): Buffer {
  const n = Buffer.from(name);
  const b = Buffer.alloc(4 + n.length + 2 + 2 * infos.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(infos.length, 4 + n.length);
  infos.forEach((t, i) => b.writeUInt16BE(t, 4 + n.length + 2 + 2 * i));
  return b;
}

/** Data of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT. */
export function metaContextData(name: string, queries: string[]): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.from(name);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(n.length);
  parts.push(head, n);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(queries.length);
  parts.push(count);
  for (const q of queries) {
    const qb = Buffer.from(q);
    const l = Buffer.alloc(4);
    l.writeUInt32BE(qb.length);
    parts.push(l, qb);
  }
  return Buffer.concat(parts);
}
