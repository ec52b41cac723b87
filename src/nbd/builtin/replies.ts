/**
 * Encoders for every message the server sends, handshake and transmission.
 * Each builds one buffer (or fills a header in place, for read replies whose
 * payload was read straight into the same buffer).
 */
import { Buffer } from "node:buffer";
import * as P from "./protocol.ts";
import type { Extent } from "./source.ts";

const encoder = new TextEncoder();

/** Write a non-negative safe integer as a big-endian u64. */
export function writeU64(b: Buffer, value: number, at: number): void {
  b.writeUInt32BE(Math.floor(value / 0x100000000), at);
  b.writeUInt32BE(value >>> 0, at + 4);
}

/** The 18 bytes the server sends first: NBDMAGIC, IHAVEOPT, handshake flags. */
export function serverGreeting(): Buffer {
  const b = Buffer.allocUnsafe(P.SERVER_GREETING_SIZE);
  b.writeUInt32BE(P.NBDMAGIC_HI, 0);
  b.writeUInt32BE(P.NBDMAGIC_LO, 4);
  b.writeUInt32BE(P.IHAVEOPT_HI, 8);
  b.writeUInt32BE(P.IHAVEOPT_LO, 12);
  b.writeUInt16BE(P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES, 16);
  return b;
}

/** One option reply: header plus optional payload. */
export function optionReply(option: number, type: number, payload?: Uint8Array): Buffer {
  const len = payload?.length ?? 0;
  const b = Buffer.allocUnsafe(P.OPTION_REPLY_HEADER_SIZE + len);
  b.writeUInt32BE(P.OPT_REPLY_MAGIC_HI, 0);
  b.writeUInt32BE(P.OPT_REPLY_MAGIC_LO, 4);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(len, 16);
  if (payload) b.set(payload, P.OPTION_REPLY_HEADER_SIZE);
  return b;
}

/** Reply to NBD_OPT_EXPORT_NAME: size, flags, and 124 zeroes unless NO_ZEROES. */
export function exportNameReply(size: number, flags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 10 + 124);
  writeU64(b, size, 0);
  b.writeUInt16BE(flags, 8);
  return b;
}

/** NBD_INFO_EXPORT payload. */
export function infoExport(size: number, flags: number): Buffer {
  const b = Buffer.allocUnsafe(12);
  b.writeUInt16BE(P.INFO_EXPORT, 0);
  writeU64(b, size, 2);
  b.writeUInt16BE(flags, 10);
  return b;
}

/** NBD_INFO_BLOCK_SIZE payload. */
export function infoBlockSize(min: number, preferred: number, max: number): Buffer {
  const b = Buffer.allocUnsafe(14);
  b.writeUInt16BE(P.INFO_BLOCK_SIZE, 0);
  b.writeUInt32BE(min, 2);
  b.writeUInt32BE(preferred, 6);
  b.writeUInt32BE(max, 10);
  return b;
}

/** NBD_INFO_NAME / NBD_INFO_DESCRIPTION payload. */
export function infoString(type: number, s: string): Buffer {
  const bytes = encoder.encode(s);
  const b = Buffer.allocUnsafe(2 + bytes.length);
  b.writeUInt16BE(type, 0);
  b.set(bytes, 2);
  return b;
}

/** NBD_REP_SERVER payload: name length, name, then a description for humans. */
export function serverEntry(name: string, description: string): Buffer {
  const n = encoder.encode(name);
  const d = encoder.encode(description);
  const b = Buffer.allocUnsafe(4 + n.length + d.length);
  b.writeUInt32BE(n.length, 0);
  b.set(n, 4);
  b.set(d, 4 + n.length);
  return b;
}

/** NBD_REP_META_CONTEXT payload. */
export function metaContextEntry(id: number, name: string): Buffer {
  const n = encoder.encode(name);
  const b = Buffer.allocUnsafe(4 + n.length);
  b.writeUInt32BE(id, 0);
  b.set(n, 4);
  return b;
}

/** Fill a simple reply header (16 bytes) at the start of `b`. */
export function writeSimpleHeader(b: Buffer, error: number, cookieHi: number, cookieLo: number) {
  b.writeUInt32BE(P.SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error, 4);
  b.writeUInt32BE(cookieHi, 8);
  b.writeUInt32BE(cookieLo, 12);
}

/** Fill a structured reply chunk header (20 bytes) at the start of `b`. */
export function writeStructuredHeader(
  b: Buffer,
  flags: number,
  type: number,
  cookieHi: number,
  cookieLo: number,
  length: number,
) {
  b.writeUInt32BE(P.STRUCTURED_REPLY_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeUInt32BE(cookieHi, 8);
  b.writeUInt32BE(cookieLo, 12);
  b.writeUInt32BE(length, 16);
}

/** Header of a final OFFSET_DATA chunk whose `length` data bytes follow at 28. */
export function writeDataChunkHeader(
  b: Buffer,
  cookieHi: number,
  cookieLo: number,
  offset: number,
  length: number,
) {
  writeStructuredHeader(
    b,
    P.REPLY_FLAG_DONE,
    P.REPLY_TYPE_OFFSET_DATA,
    cookieHi,
    cookieLo,
    8 + length,
  );
  writeU64(b, offset, P.STRUCTURED_HEADER_SIZE);
}

/**
 * Everything of a final OFFSET_ZSTD chunk but its frame, which follows:
 * `rawLength` bytes at `offset`, packed into `frameLength` bytes.
 */
export function zstdChunkHeader(
  cookieHi: number,
  cookieLo: number,
  offset: number,
  rawLength: number,
  frameLength: number,
): Buffer {
  const b = Buffer.allocUnsafe(P.STRUCTURED_HEADER_SIZE + P.OFFSET_ZSTD_PREFIX_SIZE);
  writeStructuredHeader(
    b,
    P.REPLY_FLAG_DONE,
    P.REPLY_TYPE_OFFSET_ZSTD,
    cookieHi,
    cookieLo,
    P.OFFSET_ZSTD_PREFIX_SIZE + frameLength,
  );
  writeU64(b, offset, P.STRUCTURED_HEADER_SIZE);
  b.writeUInt32BE(rawLength, P.STRUCTURED_HEADER_SIZE + 8);
  return b;
}

/** A complete simple reply without payload. */
export function simpleReply(error: number, cookieHi: number, cookieLo: number): Buffer {
  const b = Buffer.allocUnsafe(P.SIMPLE_REPLY_SIZE);
  writeSimpleHeader(b, error, cookieHi, cookieLo);
  return b;
}

/** Final NBD_REPLY_TYPE_NONE chunk (success with nothing to say). */
export function noneChunk(cookieHi: number, cookieLo: number): Buffer {
  const b = Buffer.allocUnsafe(P.STRUCTURED_HEADER_SIZE);
  writeStructuredHeader(b, P.REPLY_FLAG_DONE, P.REPLY_TYPE_NONE, cookieHi, cookieLo, 0);
  return b;
}

/** Final OFFSET_HOLE chunk: `length` bytes at `offset` read as zeroes. */
export function holeChunk(
  cookieHi: number,
  cookieLo: number,
  offset: number,
  length: number,
): Buffer {
  const b = Buffer.allocUnsafe(P.STRUCTURED_HEADER_SIZE + 12);
  writeStructuredHeader(b, P.REPLY_FLAG_DONE, P.REPLY_TYPE_OFFSET_HOLE, cookieHi, cookieLo, 12);
  writeU64(b, offset, 20);
  b.writeUInt32BE(length, 28);
  return b;
}

/** Final NBD_REPLY_TYPE_ERROR chunk carrying a message for humans. */
export function errorChunk(
  cookieHi: number,
  cookieLo: number,
  error: number,
  message: string,
): Buffer {
  const msg = encoder.encode(message).subarray(0, P.MAX_STRING_LENGTH);
  const b = Buffer.allocUnsafe(P.STRUCTURED_HEADER_SIZE + 6 + msg.length);
  writeStructuredHeader(
    b,
    P.REPLY_FLAG_DONE,
    P.REPLY_TYPE_ERROR,
    cookieHi,
    cookieLo,
    6 + msg.length,
  );
  b.writeUInt32BE(error, 20);
  b.writeUInt16BE(msg.length, 24);
  b.set(msg, 26);
  return b;
}

/** Final NBD_REPLY_TYPE_BLOCK_STATUS chunk for one metadata context. */
export function blockStatusChunk(
  cookieHi: number,
  cookieLo: number,
  contextId: number,
  extents: readonly Extent[],
): Buffer {
  const n = extents.length;
  const b = Buffer.allocUnsafe(P.STRUCTURED_HEADER_SIZE + 4 + 8 * n);
  writeStructuredHeader(
    b,
    P.REPLY_FLAG_DONE,
    P.REPLY_TYPE_BLOCK_STATUS,
    cookieHi,
    cookieLo,
    4 + 8 * n,
  );
  b.writeUInt32BE(contextId, 20);
  for (let i = 0, at = 24; i < n; i++, at += 8) {
    b.writeUInt32BE(extents[i].length, at);
    b.writeUInt32BE(extents[i].flags, at + 4);
  }
  return b;
}
