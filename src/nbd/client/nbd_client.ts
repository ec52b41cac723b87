/**
 * One NBD client connection on a Unix socket: the handshake (see
 * client_handshake.ts), then reads and block-status queries with any number
 * in flight, their replies matched by cookie. Read data is copied from the
 * socket straight into the caller's buffer as it arrives; a zstd-packed reply
 * (our own server, when asked) is unpacked into it off the event loop.
 *
 * Every request ends in exactly one callback: success, an error the server
 * answered (`lost` false: asking again would get the same answer), or the
 * connection ending first (`lost` true: the request may be sent again on
 * another connection).
 */
import { Buffer } from "node:buffer";
import { createConnection, type Socket } from "node:net";
import { ByteQueue } from "../builtin/byte_queue.ts";
import * as P from "../builtin/protocol.ts";
import type { Extent } from "../builtin/source.ts";
import { clientOpening, readNegotiation, type UpstreamExport } from "./client_handshake.ts";
import { unpackBlock } from "../zstd_block.ts";

export type RequestDone = (err: Error | null, lost: boolean) => void;

/** A reply chunk other than data longer than this is not one we can have asked for. */
const MAX_CHUNK_PAYLOAD = 16 * 1024 * 1024;

interface Pending {
  type: number;
  offset: number;
  length: number;
  /** Reads: where the data goes. */
  dest?: Uint8Array;
  at?: number;
  /** Block status: what came back. */
  extents?: Extent[];
  error?: Error;
  /** Packed chunks still being unpacked; the request ends after them. */
  unpacking?: number;
  /** The last chunk arrived while some were still being unpacked. */
  lastSeen?: boolean;
  done: RequestDone;
}

type ParseState =
  | { kind: "head" }
  | { kind: "structured-length"; head: Buffer }
  /** Copying `remaining` bytes of read data into the request's buffer at `at`. */
  | { kind: "data"; req: Pending; cookie: number; at: number; remaining: number; last: boolean }
  /** The 8-byte offset that opens a data chunk of `dataLength` more bytes. */
  | { kind: "data-offset"; req: Pending; cookie: number; dataLength: number; last: boolean }
  | { kind: "payload"; req: Pending; cookie: number; type: number; flags: number; length: number }
  /** Dropping data nobody waits for. */
  | { kind: "skip"; remaining: number };

export class NbdClient {
  #socket: Socket;
  #queue = new ByteQueue();
  #pending = new Map<number, Pending>();
  #nextCookie = 1;
  #state: ParseState = { kind: "head" };
  #closed = false;
  #inFlightBytes = 0;
  #resolveClosed!: (reason: string) => void;
  /** Bytes of read data received (unpacked), for statistics. */
  bytesReceived = 0;
  /** Of those, bytes that came packed, and what they took on the wire. */
  packedRaw = 0;
  packedWire = 0;
  /** Settles with the reason once the connection has ended. */
  readonly closed: Promise<string>;

  private constructor(socket: Socket, readonly export_: UpstreamExport, leftover: ByteQueue) {
    this.#socket = socket;
    this.#queue = leftover;
    this.closed = new Promise((r) => this.#resolveClosed = r);
    socket.on("data", (chunk: Buffer) => {
      this.#queue.push(chunk);
      try {
        this.#parse();
      } catch (err) {
        this.#fail(`bad reply from the NBD server: ${(err as Error).message}`);
      }
    });
    socket.on("close", () => this.#fail("the connection closed"));
    socket.on("error", (err: Error) => this.#fail(err.message));
    if (socket.destroyed) this.#fail("the connection closed");
  }

  /**
   * Connects to `path` and negotiates (`zstd`: asking for packed read
   * replies); rejects when that fails or takes over `timeoutMs`.
   */
  static connect(path: string, timeoutMs: number, zstd = false): Promise<NbdClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path });
      const queue = new ByteQueue();
      let want = 0;
      let wake: (() => void) | undefined;
      let ended: Error | undefined;
      const onData = (chunk: Buffer) => {
        queue.push(chunk);
        if (queue.length >= want) wake?.();
      };
      const onEnd = (err?: Error) => {
        ended ??= err ?? new Error("the NBD server closed the connection during negotiation");
        wake?.();
      };
      const onError = (err: Error) => onEnd(err);
      const onClose = () => onEnd();
      socket.on("data", onData);
      socket.on("error", onError);
      socket.on("close", onClose);
      const timer = setTimeout(
        () => onEnd(new Error(`no NBD handshake within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const input = {
        async bytes(n: number): Promise<Buffer> {
          while (queue.length < n) {
            if (ended) throw ended;
            want = n;
            await new Promise<void>((r) => wake = r);
            wake = undefined;
          }
          return Buffer.from(queue.take(n));
        },
      };
      (async () => {
        const opening = clientOpening(await input.bytes(P.SERVER_GREETING_SIZE), zstd);
        socket.write(opening.bytes);
        return await readNegotiation(input, zstd);
      })().then(
        (exp) => {
          clearTimeout(timer);
          socket.off("data", onData);
          socket.off("error", onError);
          socket.off("close", onClose);
          if (ended) {
            socket.destroy();
            reject(ended);
            return;
          }
          resolve(new NbdClient(socket, exp, queue));
        },
        (err) => {
          clearTimeout(timer);
          socket.on("error", () => {});
          socket.destroy();
          reject(err);
        },
      );
    });
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Bytes of reads sent and not yet answered. */
  get inFlightBytes(): number {
    return this.#inFlightBytes;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Reads [offset, offset+length) into `dest[at…]`. */
  read(offset: number, length: number, dest: Uint8Array, at: number, done: RequestDone): void {
    this.#send({ type: P.CMD_READ, offset, length, dest, at, done }, 0);
    this.#inFlightBytes += length;
  }

  /** The base:allocation extents the server reports from `offset` on. */
  blockStatus(
    offset: number,
    length: number,
    done: (err: Error | null, lost: boolean, extents: Extent[]) => void,
  ) {
    const req: Pending = {
      type: P.CMD_BLOCK_STATUS,
      offset,
      length,
      extents: [],
      done: (err, lost) => done(err, lost, req.extents ?? []),
    };
    this.#send(req, 0);
  }

  /** Ends the connection; requests still in flight end as lost. */
  close(): void {
    this.#fail("closed by us");
  }

  #send(req: Pending, flags: number) {
    if (this.#closed) {
      queueMicrotask(() => req.done(new Error("the connection is closed"), true));
      return;
    }
    const cookie = this.#nextCookie;
    this.#nextCookie = this.#nextCookie >= 0xffffffff ? 1 : this.#nextCookie + 1;
    this.#pending.set(cookie, req);
    const b = Buffer.allocUnsafe(P.REQUEST_SIZE);
    b.writeUInt32BE(P.REQUEST_MAGIC, 0);
    b.writeUInt16BE(flags, 4);
    b.writeUInt16BE(req.type, 6);
    b.writeUInt32BE(0, 8);
    b.writeUInt32BE(cookie, 12);
    b.writeUInt32BE(Math.floor(req.offset / 0x100000000), 16);
    b.writeUInt32BE(req.offset >>> 0, 20);
    b.writeUInt32BE(req.length, 24);
    this.#socket.write(b);
  }

  #finish(cookie: number, req: Pending) {
    if ((req.unpacking ?? 0) > 0) {
      req.lastSeen = true;
      return;
    }
    this.#pending.delete(cookie);
    if (req.type === P.CMD_READ) this.#inFlightBytes -= req.length;
    req.done(req.error ?? null, false);
  }

  #request(cookie: number): Pending {
    const req = this.#pending.get(cookie);
    if (req === undefined) throw new Error(`reply to cookie ${cookie}, which we never sent`);
    return req;
  }

  #parse(): void {
    const q = this.#queue;
    for (;;) {
      const s = this.#state;
      switch (s.kind) {
        case "head": {
          if (q.length < P.SIMPLE_REPLY_SIZE) return;
          const head = Buffer.from(q.take(P.SIMPLE_REPLY_SIZE));
          const magic = head.readUInt32BE(0);
          if (magic === P.SIMPLE_REPLY_MAGIC) {
            this.#simpleReply(head);
          } else if (magic === P.STRUCTURED_REPLY_MAGIC) {
            this.#state = { kind: "structured-length", head };
          } else {
            throw new Error(`reply magic 0x${magic.toString(16)}`);
          }
          break;
        }
        case "structured-length": {
          if (q.length < 4) return;
          this.#chunkHeader(s.head, q.take(4).readUInt32BE(0));
          break;
        }
        case "data": {
          if (q.length === 0) return;
          const n = Math.min(q.length, s.remaining);
          q.takeInto(s.req.dest!, s.at, n);
          s.at += n;
          s.remaining -= n;
          this.bytesReceived += n;
          if (s.remaining > 0) return;
          this.#state = { kind: "head" };
          if (s.last) this.#finish(s.cookie, s.req);
          break;
        }
        case "data-offset": {
          if (q.length < 8) return;
          const b = q.take(8);
          this.#dataChunk(s, b.readUInt32BE(0) * 0x100000000 + b.readUInt32BE(4));
          break;
        }
        case "payload": {
          if (q.length < s.length) return;
          const payload = q.take(s.length);
          this.#state = { kind: "head" };
          if (s.type === P.REPLY_TYPE_OFFSET_ZSTD) {
            // Unpacked later, off the event loop: keep a copy of its own.
            this.#unpack(s.req, s.cookie, Buffer.from(payload));
          } else {
            this.#chunkPayload(s.req, s.type, payload);
          }
          if ((s.flags & P.REPLY_FLAG_DONE) !== 0) this.#finish(s.cookie, s.req);
          break;
        }
        case "skip": {
          s.remaining -= q.skip(s.remaining);
          if (s.remaining > 0) return;
          this.#state = { kind: "head" };
          break;
        }
      }
    }
  }

  #simpleReply(head: Buffer) {
    const error = head.readUInt32BE(4);
    const cookie = head.readUInt32BE(12);
    const req = this.#request(cookie);
    if (error !== 0) {
      req.error = new Error(`the NBD server answered error ${error}`);
      this.#finish(cookie, req);
    } else if (req.type === P.CMD_READ && req.length > 0) {
      this.#state = {
        kind: "data",
        req,
        cookie,
        at: req.at!,
        remaining: req.length,
        last: true,
      };
    } else {
      this.#finish(cookie, req);
    }
  }

  #chunkHeader(head: Buffer, length: number) {
    const flags = head.readUInt16BE(4);
    const type = head.readUInt16BE(6);
    const cookie = head.readUInt32BE(12);
    const req = this.#request(cookie);
    const last = (flags & P.REPLY_FLAG_DONE) !== 0;
    if (type === P.REPLY_TYPE_OFFSET_DATA && req.type === P.CMD_READ) {
      // The 8-byte offset first; then the data streams into place.
      if (length < 8) throw new Error("data chunk shorter than its offset");
      this.#state = { kind: "data-offset", req, cookie, dataLength: length - 8, last };
      return;
    }
    if (type === P.REPLY_TYPE_OFFSET_ZSTD) {
      // Only sent when asked for, only for reads, and only when smaller than the data.
      if (!this.export_.zstdReplies || req.type !== P.CMD_READ) {
        throw new Error("a zstd chunk we did not ask for");
      }
      if (length < P.OFFSET_ZSTD_PREFIX_SIZE || length > P.OFFSET_ZSTD_PREFIX_SIZE + req.length) {
        throw new Error(`zstd chunk of ${length} bytes for a read of ${req.length}`);
      }
    } else if (length > MAX_CHUNK_PAYLOAD) {
      throw new Error(`reply chunk of ${length} bytes`);
    }
    this.#state = { kind: "payload", req, cookie, type, flags, length };
  }

  /** Unpacks a zstd chunk into the read's buffer; the read ends once it is in. */
  #unpack(req: Pending, cookie: number, payload: Buffer) {
    const offset = payload.readUInt32BE(0) * 0x100000000 + payload.readUInt32BE(4);
    const length = payload.readUInt32BE(8);
    const rel = offset - req.offset;
    if (rel < 0 || rel + length > req.length) throw new Error("zstd chunk outside the read");
    req.unpacking = (req.unpacking ?? 0) + 1;
    const frame = payload.subarray(P.OFFSET_ZSTD_PREFIX_SIZE);
    const current = () => this.#pending.get(cookie) === req;
    unpackBlock(frame, length).then(
      (data) => {
        // A connection lost meanwhile has handed the read on: its buffer is not ours.
        if (!current()) return;
        req.dest!.set(data, req.at! + rel);
        this.bytesReceived += length;
        this.packedRaw += length;
        this.packedWire += P.STRUCTURED_HEADER_SIZE + payload.length;
      },
      (err: Error) => {
        req.error ??= new Error(`a packed reply did not unpack: ${err.message}`);
      },
    ).finally(() => {
      req.unpacking!--;
      if (!current() || req.unpacking! > 0 || !req.lastSeen) return;
      req.lastSeen = false;
      this.#finish(cookie, req);
    });
  }

  /** A data chunk's offset is known: check it lies within the read, then copy. */
  #dataChunk(
    s: { req: Pending; cookie: number; dataLength: number; last: boolean },
    offset: number,
  ) {
    const rel = offset - s.req.offset;
    if (rel < 0 || rel + s.dataLength > s.req.length) {
      throw new Error("data chunk outside the read it answers");
    }
    this.#state = s.dataLength === 0 ? { kind: "head" } : {
      kind: "data",
      req: s.req,
      cookie: s.cookie,
      at: s.req.at! + rel,
      remaining: s.dataLength,
      last: s.last,
    };
    if (s.dataLength === 0 && s.last) this.#finish(s.cookie, s.req);
  }

  #chunkPayload(req: Pending, type: number, payload: Buffer) {
    switch (type) {
      case P.REPLY_TYPE_NONE:
        return;
      case P.REPLY_TYPE_OFFSET_HOLE: {
        if (req.type !== P.CMD_READ || payload.length !== 12) throw new Error("bad hole chunk");
        const offset = payload.readUInt32BE(0) * 0x100000000 + payload.readUInt32BE(4);
        const length = payload.readUInt32BE(8);
        const rel = offset - req.offset;
        if (rel < 0 || rel + length > req.length) throw new Error("hole chunk outside the read");
        req.dest!.fill(0, req.at! + rel, req.at! + rel + length);
        return;
      }
      case P.REPLY_TYPE_BLOCK_STATUS: {
        if (req.type !== P.CMD_BLOCK_STATUS || payload.length < 4) {
          throw new Error("bad block status chunk");
        }
        for (let p = 4; p + 8 <= payload.length; p += 8) {
          req.extents!.push({
            length: payload.readUInt32BE(p),
            flags: payload.readUInt32BE(p + 4),
          });
        }
        return;
      }
      default: {
        if ((type & 0x8000) !== 0) {
          const error = payload.length >= 4 ? payload.readUInt32BE(0) : P.EIO;
          const msgLen = payload.length >= 6 ? payload.readUInt16BE(4) : 0;
          const msg = new TextDecoder().decode(payload.subarray(6, 6 + msgLen));
          req.error ??= new Error(`the NBD server answered error ${error}${msg ? `: ${msg}` : ""}`);
        }
        // Unknown informational chunks are ignored, as the protocol asks.
      }
    }
  }

  #fail(reason: string) {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.on("error", () => {});
    this.#socket.destroy();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#inFlightBytes = 0;
    this.#queue.clear();
    for (const req of pending) req.done(new Error(`lost: ${reason}`), true);
    this.#resolveClosed(reason);
  }
}
