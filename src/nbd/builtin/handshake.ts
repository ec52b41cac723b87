/**
 * The fixed newstyle handshake and option haggling, server side. Fed from a
 * ByteQueue one message at a time; replies go out through `send`. Knows
 * nothing about streams: the connection decides what to do with the result.
 *
 * Supported: EXPORT_NAME, ABORT, LIST, INFO, GO, STRUCTURED_REPLY,
 * LIST_META_CONTEXT / SET_META_CONTEXT (base:allocation), and our own
 * OPT_ZSTD_REPLIES (after structured replies). Every other option
 * is answered NBD_REP_ERR_UNSUP and negotiation continues. Clients without
 * NBD_FLAG_C_FIXED_NEWSTYLE, unknown client flags, a bad option magic or an
 * option longer than MAX_OPTION_LENGTH end the connection.
 */
import type { Buffer } from "node:buffer";
import type { ByteQueue } from "./byte_queue.ts";
import * as P from "./protocol.ts";
import {
  exportNameReply,
  infoBlockSize,
  infoExport,
  infoString,
  metaContextEntry,
  optionReply,
  serverEntry,
} from "./replies.ts";

/** What the server offers: one export, also reachable as the default export "". */
export interface ExportInfo {
  /** Canonical name; "" makes it just the default export. */
  name: string;
  /** Human-readable description (NBD_INFO_DESCRIPTION, NBD_OPT_LIST). */
  description: string;
  size: number;
}

/** What the client chose, carried into the transmission phase. */
export interface Negotiated {
  structuredReplies: boolean;
  /** Context id of base:allocation, or 0 when no metadata context is selected. */
  metaContextId: number;
  /** Reads may be answered with zstd-packed chunks (our fan-out asked). */
  zstdReplies: boolean;
}

export type HandshakeStep =
  /** Need more bytes before anything can be done. */
  | { kind: "wait" }
  /** One message handled; call again. */
  | { kind: "continue" }
  /** Negotiation finished: enter the transmission phase. */
  | { kind: "transmission"; negotiated: Negotiated }
  /** End the connection (after what was sent is flushed); `fault`: the client misbehaved. */
  | { kind: "close"; reason: string; fault: boolean };

/** Context id we hand out for base:allocation. */
export const BASE_ALLOCATION_ID = 1;

/** More options than this on one connection is abuse, not negotiation. */
const MAX_OPTIONS = 1024;

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** Transmission flags of our read-only export. */
export function transmissionFlags(structuredReplies: boolean): number {
  let flags = P.TFLAG_HAS_FLAGS | P.TFLAG_READ_ONLY | P.TFLAG_SEND_FLUSH | P.TFLAG_SEND_CACHE |
    P.TFLAG_CAN_MULTI_CONN;
  // We always answer a read with one content chunk, so DF costs nothing.
  if (structuredReplies) flags |= P.TFLAG_SEND_DF;
  return flags;
}

type State = "client-flags" | "option-header" | "option-data";

export class Handshake {
  #state: State = "client-flags";
  #noZeroes = false;
  #structured = false;
  #zstd = false;
  #metaContextId = 0;
  #option = 0;
  #optionLength = 0;
  #optionCount = 0;

  constructor(
    private readonly exp: ExportInfo,
    private readonly send: (buf: Uint8Array) => void,
  ) {}

  /** Handle at most one message from `queue`. Never throws on client input. */
  step(queue: ByteQueue): HandshakeStep {
    switch (this.#state) {
      case "client-flags": {
        if (queue.length < P.CLIENT_FLAGS_SIZE) return WAIT;
        const flags = queue.take(P.CLIENT_FLAGS_SIZE).readUInt32BE(0);
        if ((flags & ~P.KNOWN_CLIENT_FLAGS) !== 0) {
          return close(`unknown client flags 0x${flags.toString(16)}`);
        }
        if ((flags & P.FLAG_C_FIXED_NEWSTYLE) === 0) {
          return close("client does not support fixed newstyle negotiation");
        }
        this.#noZeroes = (flags & P.FLAG_C_NO_ZEROES) !== 0;
        this.#state = "option-header";
        return CONTINUE;
      }
      case "option-header": {
        if (queue.length < P.OPTION_HEADER_SIZE) return WAIT;
        const h = queue.take(P.OPTION_HEADER_SIZE);
        if (h.readUInt32BE(0) !== P.IHAVEOPT_HI || h.readUInt32BE(4) !== P.IHAVEOPT_LO) {
          return close("bad option magic");
        }
        this.#option = h.readUInt32BE(8);
        this.#optionLength = h.readUInt32BE(12);
        if (++this.#optionCount > MAX_OPTIONS) return close("too many options");
        if (this.#optionLength > P.MAX_OPTION_LENGTH) {
          this.#reply(P.REP_ERR_TOO_BIG, text(`option data too long (${this.#optionLength})`));
          return close(`option ${this.#option} with ${this.#optionLength} bytes of data`);
        }
        this.#state = "option-data";
        return CONTINUE;
      }
      case "option-data": {
        if (queue.length < this.#optionLength) return WAIT;
        const data = queue.take(this.#optionLength);
        this.#state = "option-header";
        return this.#handleOption(this.#option, data);
      }
    }
  }

  #handleOption(option: number, data: Buffer): HandshakeStep {
    switch (option) {
      case P.OPT_EXPORT_NAME:
        return this.#exportName(data);
      case P.OPT_ABORT:
        this.#reply(P.REP_ACK);
        return close("client aborted negotiation", false);
      case P.OPT_LIST:
        return this.#list(data);
      case P.OPT_INFO:
      case P.OPT_GO:
        return this.#infoOrGo(option, data);
      case P.OPT_STRUCTURED_REPLY:
        if (data.length !== 0) return this.#invalid("NBD_OPT_STRUCTURED_REPLY takes no data");
        if (this.#structured) return this.#invalid("structured replies already negotiated");
        this.#structured = true;
        this.#reply(P.REP_ACK);
        return CONTINUE;
      case P.OPT_LIST_META_CONTEXT:
      case P.OPT_SET_META_CONTEXT:
        return this.#metaContext(option, data);
      case P.OPT_ZSTD_REPLIES:
        if (data.length !== 0) return this.#invalid("the zstd replies option takes no data");
        if (!this.#structured) return this.#invalid("zstd replies need structured replies first");
        this.#zstd = true;
        this.#reply(P.REP_ACK);
        return CONTINUE;
      default:
        this.#reply(P.REP_ERR_UNSUP, text(`option ${option} is not supported`));
        return CONTINUE;
    }
  }

  #exportName(data: Buffer): HandshakeStep {
    // No way to report an error here: an unknown name ends the session.
    if (!this.#matches(data)) return close("NBD_OPT_EXPORT_NAME for an unknown export");
    this.send(exportNameReply(this.exp.size, transmissionFlags(this.#structured), this.#noZeroes));
    return this.#enter();
  }

  #list(data: Buffer): HandshakeStep {
    if (data.length !== 0) return this.#invalid("NBD_OPT_LIST takes no data");
    this.#reply(P.REP_SERVER, serverEntry(this.exp.name, this.exp.description));
    this.#reply(P.REP_ACK);
    return CONTINUE;
  }

  #infoOrGo(option: number, data: Buffer): HandshakeStep {
    // u32 name length, name, u16 count, count × u16 info requests
    if (data.length < 6) return this.#invalid("option data too short");
    const nameLen = data.readUInt32BE(0);
    if (nameLen > data.length - 6) return this.#invalid("export name overruns option data");
    const count = data.readUInt16BE(4 + nameLen);
    if (4 + nameLen + 2 + 2 * count !== data.length) {
      return this.#invalid("information request list does not match option length");
    }
    if (!this.#matches(data.subarray(4, 4 + nameLen))) {
      this.#reply(P.REP_ERR_UNKNOWN, text("no such export"));
      return CONTINUE;
    }
    const requested = new Set<number>();
    for (let i = 0; i < count; i++) requested.add(data.readUInt16BE(4 + nameLen + 2 + 2 * i));

    this.#reply(P.REP_INFO, infoExport(this.exp.size, transmissionFlags(this.#structured)), option);
    // Our constraints are the protocol's defaults; say so even unasked.
    const bs = infoBlockSize(P.MIN_BLOCK_SIZE, P.PREFERRED_BLOCK_SIZE, P.MAX_PAYLOAD_SIZE);
    this.#reply(P.REP_INFO, bs, option);

    if (requested.has(P.INFO_NAME)) {
      this.#reply(P.REP_INFO, infoString(P.INFO_NAME, this.exp.name), option);
    }
    if (requested.has(P.INFO_DESCRIPTION) && this.exp.description !== "") {
      this.#reply(P.REP_INFO, infoString(P.INFO_DESCRIPTION, this.exp.description), option);
    }
    this.#reply(P.REP_ACK, undefined, option);
    return option === P.OPT_GO ? this.#enter() : CONTINUE;
  }

  #metaContext(option: number, data: Buffer): HandshakeStep {
    const set = option === P.OPT_SET_META_CONTEXT;
    // SET replaces the selection even when it fails.
    if (set) this.#metaContextId = 0;
    // u32 name length, name, u32 query count, count × (u32 length, query)
    if (data.length < 8) return this.#invalid("option data too short", option);
    const nameLen = data.readUInt32BE(0);
    if (nameLen > data.length - 8) return this.#invalid("export name overruns option data", option);
    const count = data.readUInt32BE(4 + nameLen);
    const queries: string[] = [];
    let p = 8 + nameLen;
    for (let i = 0; i < count; i++) {
      if (p + 4 > data.length) return this.#invalid("query list overruns option data", option);
      const qLen = data.readUInt32BE(p);
      p += 4;
      if (qLen > data.length - p) return this.#invalid("query overruns option data", option);
      queries.push(utf8.decode(data.subarray(p, p + qLen)));
      p += qLen;
    }
    if (p !== data.length) return this.#invalid("trailing bytes after the queries", option);
    if (!this.#structured) {
      return this.#invalid("metadata contexts need structured replies first", option);
    }
    if (!this.#matches(data.subarray(4, 4 + nameLen))) {
      this.#reply(P.REP_ERR_UNKNOWN, text("no such export"), option);
      return CONTINUE;
    }
    let found: boolean;
    if (set) {
      found = queries.includes(P.META_BASE_ALLOCATION);
    } else {
      found = count === 0 ||
        queries.some((q) => q === "base:" || q === P.META_BASE_ALLOCATION);
    }
    if (found) {
      const id = set ? BASE_ALLOCATION_ID : 0;
      this.#reply(P.REP_META_CONTEXT, metaContextEntry(id, P.META_BASE_ALLOCATION), option);
      if (set) this.#metaContextId = id;
    }
    this.#reply(P.REP_ACK, undefined, option);
    return CONTINUE;
  }

  #enter(): HandshakeStep {
    return {
      kind: "transmission",
      negotiated: {
        structuredReplies: this.#structured,
        metaContextId: this.#metaContextId,
        zstdReplies: this.#zstd,
      },
    };
  }

  #matches(name: Uint8Array): boolean {
    if (name.length === 0) return true;
    if (name.length > P.MAX_STRING_LENGTH) return false;
    return this.exp.name !== "" && utf8.decode(name) === this.exp.name;
  }

  #invalid(message: string, option = this.#option): HandshakeStep {
    this.#reply(P.REP_ERR_INVALID, text(message), option);
    return CONTINUE;
  }

  #reply(type: number, payload?: Uint8Array, option = this.#option) {
    this.send(optionReply(option, type, payload));
  }
}

const WAIT: HandshakeStep = { kind: "wait" };
const CONTINUE: HandshakeStep = { kind: "continue" };

function close(reason: string, fault = true): HandshakeStep {
  return { kind: "close", reason, fault };
}

function text(s: string): Uint8Array {
  return encoder.encode(s);
}
