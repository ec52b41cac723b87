/**
 * The client side of the fixed newstyle handshake, for our own connections
 * to an NBD server (the fan-out's upstream). Every option is sent at once and
 * the replies are read in order afterwards, so negotiating costs one round
 * trip however far away the server is:
 *
 *   NBD_OPT_STRUCTURED_REPLY, NBD_OPT_SET_META_CONTEXT "base:allocation",
 *   (when asked) our own OPT_ZSTD_REPLIES, NBD_OPT_GO for the default export "".
 *
 * A server that refuses structured replies or the metadata context is still
 * used (reads then come as simple replies, and the map is "all data"), and
 * so is one that does not know zstd replies (every server but ours); one
 * that refuses GO is not.
 */
import { Buffer } from "node:buffer";
import * as P from "../builtin/protocol.ts";

/** What the server told us about the export. */
export interface UpstreamExport {
  size: number;
  transmissionFlags: number;
  structuredReplies: boolean;
  /** Context id of base:allocation, or 0 when the server offers none. */
  metaContextId: number;
  /** The server may answer reads with zstd-packed chunks. */
  zstdReplies: boolean;
}

/** Bytes received from the server, handed out as the handshake asks for them. */
export interface HandshakeInput {
  /** Resolves with exactly `n` bytes, or rejects when the stream ends first. */
  bytes(n: number): Promise<Buffer>;
}

/** A server's option reply longer than this is not one we asked for. */
const MAX_OPTION_REPLY = 64 * 1024;

const encoder = new TextEncoder();

function option(type: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(P.OPTION_HEADER_SIZE + data.length);
  b.writeUInt32BE(P.IHAVEOPT_HI, 0);
  b.writeUInt32BE(P.IHAVEOPT_LO, 4);
  b.writeUInt32BE(type, 8);
  b.writeUInt32BE(data.length, 12);
  b.set(data, P.OPTION_HEADER_SIZE);
  return b;
}

function setMetaContextData(): Buffer {
  const query = encoder.encode(P.META_BASE_ALLOCATION);
  const b = Buffer.alloc(4 + 4 + 4 + query.length);
  // export name "" (length 0), one query
  b.writeUInt32BE(0, 0);
  b.writeUInt32BE(1, 4);
  b.writeUInt32BE(query.length, 8);
  b.set(query, 12);
  return b;
}

function goData(): Buffer {
  // export name "" (length 0), no information requests
  return Buffer.alloc(6);
}

/** Options sent in this order; each is answered, in the same order. */
function optionsSent(zstd: boolean): number[] {
  return zstd
    ? [P.OPT_STRUCTURED_REPLY, P.OPT_SET_META_CONTEXT, P.OPT_ZSTD_REPLIES, P.OPT_GO]
    : [P.OPT_STRUCTURED_REPLY, P.OPT_SET_META_CONTEXT, P.OPT_GO];
}

/**
 * Checks the greeting, then returns everything the client sends in one write;
 * `zstd`: ask for zstd-packed read replies too.
 */
export function clientOpening(
  greeting: Buffer,
  zstd = false,
): { bytes: Buffer; noZeroes: boolean } {
  if (
    greeting.readUInt32BE(0) !== P.NBDMAGIC_HI || greeting.readUInt32BE(4) !== P.NBDMAGIC_LO ||
    greeting.readUInt32BE(8) !== P.IHAVEOPT_HI || greeting.readUInt32BE(12) !== P.IHAVEOPT_LO
  ) {
    throw new Error("the server is not a newstyle NBD server");
  }
  const flags = greeting.readUInt16BE(16);
  if ((flags & P.FLAG_FIXED_NEWSTYLE) === 0) {
    throw new Error("the NBD server does not support fixed newstyle negotiation");
  }
  const noZeroes = (flags & P.FLAG_NO_ZEROES) !== 0;
  const clientFlags = Buffer.alloc(4);
  clientFlags.writeUInt32BE(P.FLAG_C_FIXED_NEWSTYLE | (noZeroes ? P.FLAG_C_NO_ZEROES : 0));
  const data: Record<number, Buffer> = {
    [P.OPT_SET_META_CONTEXT]: setMetaContextData(),
    [P.OPT_GO]: goData(),
  };
  const bytes = Buffer.concat([clientFlags, ...optionsSent(zstd).map((o) => option(o, data[o]))]);
  return { bytes, noZeroes };
}

interface OptionReply {
  option: number;
  type: number;
  payload: Buffer;
}

async function readReply(input: HandshakeInput): Promise<OptionReply> {
  const h = await input.bytes(P.OPTION_REPLY_HEADER_SIZE);
  if (h.readUInt32BE(0) !== P.OPT_REPLY_MAGIC_HI || h.readUInt32BE(4) !== P.OPT_REPLY_MAGIC_LO) {
    throw new Error("bad option reply magic from the NBD server");
  }
  const length = h.readUInt32BE(16);
  if (length > MAX_OPTION_REPLY) throw new Error(`option reply of ${length} bytes`);
  const payload = length === 0 ? Buffer.alloc(0) : Buffer.from(await input.bytes(length));
  return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), payload };
}

function isError(type: number): boolean {
  return (type & 0x80000000) !== 0;
}

/**
 * Reads the replies to what `clientOpening` sent (with the same `zstd`);
 * throws when there is no export to use.
 */
export async function readNegotiation(
  input: HandshakeInput,
  zstd = false,
): Promise<UpstreamExport> {
  let structured = false;
  let zstdReplies = false;
  let metaContextId = 0;
  let size = -1;
  let flags = 0;
  // Replies come in the order the options were sent; each ends with ACK or an error.
  for (const expected of optionsSent(zstd)) {
    for (;;) {
      const r = await readReply(input);
      if (r.option !== expected) {
        throw new Error(`the NBD server answered option ${r.option} when ${expected} was due`);
      }
      if (isError(r.type)) {
        if (expected === P.OPT_GO) {
          throw new Error(`the NBD server refused the export (error 0x${r.type.toString(16)})`);
        }
        break;
      }
      if (r.type === P.REP_ACK) {
        if (expected === P.OPT_STRUCTURED_REPLY) structured = true;
        if (expected === P.OPT_ZSTD_REPLIES) zstdReplies = true;
        break;
      }
      if (r.type === P.REP_META_CONTEXT && r.payload.length >= 4) {
        metaContextId = r.payload.readUInt32BE(0);
      } else if (
        r.type === P.REP_INFO && r.payload.length >= 12 &&
        r.payload.readUInt16BE(0) === P.INFO_EXPORT
      ) {
        size = r.payload.readUInt32BE(2) * 0x100000000 + r.payload.readUInt32BE(6);
        flags = r.payload.readUInt16BE(10);
      }
    }
  }
  if (size < 0) throw new Error("the NBD server did not say how large the export is");
  return {
    size,
    transmissionFlags: flags,
    structuredReplies: structured,
    metaContextId: structured ? metaContextId : 0,
    zstdReplies: structured && zstdReplies,
  };
}
