/**
 * The transmission phase of one connection: parse requests, validate them,
 * answer. Reads run concurrently (positional reads on the shared descriptor)
 * and are answered as they complete, in any order; everything else is
 * answered at once. Read-only: WRITE, TRIM and WRITE_ZEROES get EPERM (a
 * WRITE's payload is skipped as it streams in, never buffered).
 *
 * Memory is bounded per connection: at most `maxReadsInFlight` reads run at
 * once, and a read only starts while the bytes being read plus the reply bytes
 * handed to the stream but not yet written stay under `maxBufferedBytes`
 * (one read is always allowed when nothing else is outstanding). Parsing of
 * further requests stops while `maxQueuedRequests` reads wait for a slot or
 * the stream has `maxBufferedBytes` unwritten, so a client that sends
 * requests without reading replies stalls itself, not us. Across connections,
 * a read also takes its bytes from the export's budget until its reply is
 * written; when they are not there it waits (it is not read into memory).
 *
 * When the client asked for zstd replies (our fan-out), a read's data is
 * packed before it is answered, and sent packed when that saves enough; the
 * read keeps its slot and its bytes until then.
 */
import type { Buffer } from "node:buffer";
import type { BufferPool } from "./buffer_pool.ts";
import type { BudgetLease } from "./byte_budget.ts";
import type { ByteQueue } from "./byte_queue.ts";
import type { Negotiated } from "./handshake.ts";
import { isAllZero } from "./all_zero.ts";
import * as P from "./protocol.ts";
import {
  blockStatusChunk,
  errorChunk,
  holeChunk,
  noneChunk,
  simpleReply,
  writeDataChunkHeader,
  writeSimpleHeader,
  zstdChunkHeader,
} from "./replies.ts";
import type { ExportSource, Extent } from "./source.ts";
import { MIN_COMPRESSED_READ, packBlock, worthSending } from "../zstd_block.ts";

/** Where replies go (the connection's stream). */
export interface ReplySink {
  /**
   * Queue `buf` for the client; `done` runs once the stream no longer needs
   * it. `counts`: the reply bytes it stands for (default its length), so a
   * packed frame counts as the data it holds and progress follows the disk.
   */
  send(buf: Uint8Array, done?: () => void, counts?: number): void;
  /** A read of `raw` bytes went out zstd-packed in `wire` bytes. */
  packed?(raw: number, wire: number): void;
  /** Bytes given to `send` whose write has not completed yet. */
  readonly outstanding: number;
  /** A read of the source failed; the client gets EIO either way. */
  readFailed?(offset: number, length: number, err: Error): void;
}

export interface TransmissionLimits {
  maxReadsInFlight: number;
  maxBufferedBytes: number;
  maxQueuedRequests: number;
  /** Most descriptors in one NBD_CMD_BLOCK_STATUS reply. */
  maxExtents: number;
}

export const DEFAULT_LIMITS: TransmissionLimits = {
  maxReadsInFlight: 16,
  maxBufferedBytes: 8 * 1024 * 1024,
  maxQueuedRequests: 256,
  maxExtents: 8192,
};

/** "disconnect": the client sent NBD_CMD_DISC; "protocol-error": see `error`. */
export type ProcessResult = "ok" | "disconnect" | "protocol-error";

interface ReadRequest {
  cookieHi: number;
  cookieLo: number;
  offset: number;
  length: number;
}

export class Transmission {
  #pending: ReadRequest[] = [];
  #head = 0;
  #inFlight = 0;
  #inFlightBytes = 0;
  #skip = 0;
  #abandoned = false;
  #structured: boolean;
  #zstd: boolean;
  #metaContextId: number;
  #headerSize: number;
  /** Why `process` returned "protocol-error". */
  error = "";

  constructor(
    private readonly source: ExportSource,
    private readonly pool: BufferPool,
    private readonly out: ReplySink,
    negotiated: Negotiated,
    private readonly limits: TransmissionLimits,
    private readonly budget: BudgetLease,
    /**
     * Runs the completion of each read: must call `fn` with exceptions caught,
     * then look for more work (a slot and buffer space have freed up).
     */
    private readonly completeRead: (fn: () => void) => void,
  ) {
    this.#structured = negotiated.structuredReplies;
    this.#zstd = negotiated.structuredReplies && negotiated.zstdReplies;
    this.#metaContextId = negotiated.metaContextId;
    this.#headerSize = this.#structured ? P.OFFSET_DATA_HEADER_SIZE : P.SIMPLE_REPLY_SIZE;
  }

  /** Requests waiting for a read slot plus reads running. */
  get busy(): number {
    return this.#pending.length - this.#head + this.#inFlight;
  }

  /** Whether we want to parse more requests now. */
  get acceptsInput(): boolean {
    return this.#pending.length - this.#head < this.limits.maxQueuedRequests &&
      this.out.outstanding < this.limits.maxBufferedBytes;
  }

  /** Parse and dispatch what `queue` holds, as far as limits allow. */
  process(queue: ByteQueue): ProcessResult {
    for (;;) {
      if (this.#skip > 0) {
        this.#skip -= queue.skip(this.#skip);
        if (this.#skip > 0) break;
      }
      if (queue.length < P.REQUEST_SIZE || !this.acceptsInput) break;
      const result = this.#request(queue.take(P.REQUEST_SIZE));
      if (result !== "ok") {
        this.startReads();
        return result;
      }
    }
    this.startReads();
    return "ok";
  }

  /** Start waiting reads while slots and buffer space allow. */
  startReads(): void {
    const { maxReadsInFlight, maxBufferedBytes } = this.limits;
    while (this.#head < this.#pending.length && this.#inFlight < maxReadsInFlight) {
      const req = this.#pending[this.#head];
      const buffered = this.#inFlightBytes + this.out.outstanding;
      if (buffered > 0 && buffered + req.length > maxBufferedBytes) break;
      if (!this.budget.tryTake(this.#headerSize + req.length)) break;
      this.#head++;
      this.#read(req);
    }
    if (this.#head === this.#pending.length) {
      this.#pending.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
  }

  /** The connection is gone: drop waiting requests, ignore reads still running. */
  abandon(): void {
    this.#abandoned = true;
    this.#pending = [];
    this.#head = 0;
  }

  #request(h: Buffer): ProcessResult {
    const magic = h.readUInt32BE(0);
    if (magic !== P.REQUEST_MAGIC) {
      this.error = `bad request magic 0x${magic.toString(16)}`;
      return "protocol-error";
    }
    const flags = h.readUInt16BE(4);
    const type = h.readUInt16BE(6);
    const cookieHi = h.readUInt32BE(8);
    const cookieLo = h.readUInt32BE(12);
    // Offsets ≥ 2^53 lose precision but stay ≥ 2^53, beyond any export: still rejected.
    const offset = h.readUInt32BE(16) * 0x100000000 + h.readUInt32BE(20);
    const length = h.readUInt32BE(24);
    const size = this.source.size;
    const inBounds = offset <= size && length <= size - offset;

    switch (type) {
      case P.CMD_READ: {
        const allowed = this.#structured ? P.CMD_FLAG_DF : 0;
        if ((flags & ~allowed) !== 0) {
          return this.#error(cookieHi, cookieLo, P.EINVAL, "unsupported flags for NBD_CMD_READ");
        }
        if (!inBounds) {
          return this.#error(cookieHi, cookieLo, P.EINVAL, "read beyond the end of the export");
        }
        if (length > P.MAX_PAYLOAD_SIZE) {
          // With structured replies EOVERFLOW tells the client to split the request.
          const err = this.#structured ? P.EOVERFLOW : P.EINVAL;
          return this.#error(
            cookieHi,
            cookieLo,
            err,
            `read of ${length} bytes exceeds the maximum payload ${P.MAX_PAYLOAD_SIZE}`,
          );
        }
        if (length === 0) {
          // A structured read must be answered with chunks, never a simple reply.
          this.out.send(
            this.#structured ? noneChunk(cookieHi, cookieLo) : simpleReply(0, cookieHi, cookieLo),
          );
          return "ok";
        }
        if (this.#structured && this.source.isHole(offset, length)) {
          this.out.send(holeChunk(cookieHi, cookieLo, offset, length));
          return "ok";
        }
        this.#pending.push({ cookieHi, cookieLo, offset, length });
        return "ok";
      }
      case P.CMD_WRITE:
        this.#skip = length;
        return this.#error(cookieHi, cookieLo, P.EPERM, "the export is read-only");
      case P.CMD_TRIM:
      case P.CMD_WRITE_ZEROES:
        return this.#error(cookieHi, cookieLo, P.EPERM, "the export is read-only");
      case P.CMD_DISC:
        return "disconnect";
      case P.CMD_FLUSH:
        // Nothing is ever written, so there is nothing to flush.
        if (flags !== 0) {
          return this.#error(cookieHi, cookieLo, P.EINVAL, "unsupported flags for NBD_CMD_FLUSH");
        }
        this.#success(cookieHi, cookieLo);
        return "ok";
      case P.CMD_CACHE:
        // Accepted as a hint and ignored: the page cache does the caching.
        if (flags !== 0) {
          return this.#error(cookieHi, cookieLo, P.EINVAL, "unsupported flags for NBD_CMD_CACHE");
        }
        if (!inBounds) {
          return this.#error(cookieHi, cookieLo, P.EINVAL, "cache beyond the end of the export");
        }
        this.#success(cookieHi, cookieLo);
        return "ok";
      case P.CMD_BLOCK_STATUS:
        return this.#blockStatus(cookieHi, cookieLo, flags, offset, length, inBounds);
      default:
        return this.#error(cookieHi, cookieLo, P.EINVAL, `unknown ${P.commandName(type)}`);
    }
  }

  #blockStatus(
    cookieHi: number,
    cookieLo: number,
    flags: number,
    offset: number,
    length: number,
    inBounds: boolean,
  ): ProcessResult {
    if (this.#metaContextId === 0) {
      return this.#error(cookieHi, cookieLo, P.EINVAL, "no metadata context was negotiated");
    }
    if ((flags & ~P.CMD_FLAG_REQ_ONE) !== 0) {
      return this.#error(cookieHi, cookieLo, P.EINVAL, "unsupported flags for block status");
    }
    if (length === 0 || !inBounds) {
      return this.#error(cookieHi, cookieLo, P.EINVAL, "block status outside the export");
    }
    const reqOne = (flags & P.CMD_FLAG_REQ_ONE) !== 0;
    let extents: Extent[];
    try {
      extents = this.source.extents(offset, length, reqOne ? 1 : this.limits.maxExtents);
    } catch {
      extents = [{ length, flags: 0 }]; // "data" is always a safe answer
    }
    this.out.send(blockStatusChunk(cookieHi, cookieLo, this.#metaContextId, extents));
    return "ok";
  }

  #read(req: ReadRequest) {
    const hdr = this.#headerSize;
    const total = hdr + req.length;
    const buf = this.pool.get(total);
    this.#inFlight++;
    this.#inFlightBytes += req.length;
    this.source.read(buf, hdr, req.length, req.offset, (err) => {
      if (
        err === null && this.#zstd && !this.#abandoned && req.length >= MIN_COMPRESSED_READ &&
        !isAllZero(buf, hdr, req.length)
      ) {
        // A block that cannot be packed is simply sent as it is.
        packBlock(buf.subarray(hdr, total)).then(
          (frame) => this.#settle(req, buf, total, null, frame),
          () => this.#settle(req, buf, total, null),
        );
        return;
      }
      this.#settle(req, buf, total, err);
    });
  }

  /** The read (and its packing) is over: free its slot, then answer. */
  #settle(req: ReadRequest, buf: Buffer, total: number, err: Error | null, frame?: Uint8Array) {
    this.#inFlight--;
    this.#inFlightBytes -= req.length;
    if (this.#abandoned) {
      this.pool.put(buf);
      this.budget.give(total);
      return;
    }
    this.completeRead(() => this.#readDone(req, buf, total, err, frame));
  }

  #readDone(
    req: ReadRequest,
    buf: Buffer,
    total: number,
    err: Error | null,
    frame: Uint8Array | undefined,
  ) {
    if (err !== null) {
      this.pool.put(buf);
      this.budget.give(total);
      this.out.readFailed?.(req.offset, req.length, err);
      this.#error(req.cookieHi, req.cookieLo, P.EIO, `read error: ${err.message}`);
      return;
    }
    if (frame !== undefined && worthSending(req.length, frame.length)) {
      this.pool.put(buf);
      this.out.send(
        zstdChunkHeader(req.cookieHi, req.cookieLo, req.offset, req.length, frame.length),
        undefined,
        this.#headerSize,
      );
      this.out.send(frame, () => this.budget.give(total), req.length);
      this.out.packed?.(
        req.length,
        P.STRUCTURED_HEADER_SIZE + P.OFFSET_ZSTD_PREFIX_SIZE + frame.length,
      );
      return;
    }
    if (this.#structured && frame === undefined && isAllZero(buf, this.#headerSize, req.length)) {
      // Allocated but zero (a zeroed file system's free space, say): a hole
      // on the wire, so the zeroes do not cross the link.
      this.pool.put(buf);
      this.budget.give(total);
      this.out.send(holeChunk(req.cookieHi, req.cookieLo, req.offset, req.length));
      return;
    }
    if (this.#structured) {
      writeDataChunkHeader(buf, req.cookieHi, req.cookieLo, req.offset, req.length);
    } else {
      writeSimpleHeader(buf, 0, req.cookieHi, req.cookieLo);
    }
    // Header and data go out as one write; the buffer returns to the pool once written.
    this.out.send(buf.length === total ? buf : buf.subarray(0, total), () => {
      this.pool.put(buf);
      this.budget.give(total);
    });
  }

  #success(cookieHi: number, cookieLo: number) {
    this.out.send(simpleReply(0, cookieHi, cookieLo));
  }

  /** An error reply (structured when negotiated, so it can carry a message). */
  #error(cookieHi: number, cookieLo: number, error: number, message: string): ProcessResult {
    this.out.send(
      this.#structured
        ? errorChunk(cookieHi, cookieLo, error, message)
        : simpleReply(error, cookieHi, cookieLo),
    );
    return "ok";
  }
}
