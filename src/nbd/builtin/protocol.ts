/**
 * NBD wire constants (NetworkBlockDevice `doc/proto.md`): magics, handshake
 * and transmission flags, option and reply types, commands, errors, and the
 * sizes of the fixed-length messages. Numbers only; no behaviour.
 */

// Handshake magics. The 64-bit ones are sent as two big-endian halves.
/** "NBDMAGIC", first 8 bytes the server sends. */
export const NBDMAGIC_HI = 0x4e42444d;
export const NBDMAGIC_LO = 0x41474943;
/** "IHAVEOPT": second server magic, and the magic of every client option. */
export const IHAVEOPT_HI = 0x49484156;
export const IHAVEOPT_LO = 0x454f5054;
/** Magic of every option reply (0x0003e889045565a9). */
export const OPT_REPLY_MAGIC_HI = 0x0003e889;
export const OPT_REPLY_MAGIC_LO = 0x045565a9;

// Handshake flags (server → client, 16 bits).
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;

// Client flags (client → server, 32 bits).
export const FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_C_NO_ZEROES = 1 << 1;
export const KNOWN_CLIENT_FLAGS = FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES;

// Options.
export const OPT_EXPORT_NAME = 1;
export const OPT_ABORT = 2;
export const OPT_LIST = 3;
export const OPT_STARTTLS = 5;
export const OPT_INFO = 6;
export const OPT_GO = 7;
export const OPT_STRUCTURED_REPLY = 8;
export const OPT_LIST_META_CONTEXT = 9;
export const OPT_SET_META_CONTEXT = 10;
export const OPT_EXTENDED_HEADERS = 11;
/**
 * Not in the NBD protocol: our own option, asked for only by our fan-out and
 * answered only by our server (anyone else says NBD_REP_ERR_UNSUP). Once
 * acknowledged, a read may be answered with a REPLY_TYPE_OFFSET_ZSTD chunk.
 * Its number is far from the protocol's small, sequential ones.
 */
export const OPT_ZSTD_REPLIES = 0x70327601;

// Option reply types.
export const REP_ACK = 1;
export const REP_SERVER = 2;
export const REP_INFO = 3;
export const REP_META_CONTEXT = 4;
const REP_ERR = 0x80000000;
export const REP_ERR_UNSUP = REP_ERR + 1;
export const REP_ERR_POLICY = REP_ERR + 2;
export const REP_ERR_INVALID = REP_ERR + 3;
export const REP_ERR_PLATFORM = REP_ERR + 4;
export const REP_ERR_TLS_REQD = REP_ERR + 5;
export const REP_ERR_UNKNOWN = REP_ERR + 6;
export const REP_ERR_SHUTDOWN = REP_ERR + 7;
export const REP_ERR_BLOCK_SIZE_REQD = REP_ERR + 8;
export const REP_ERR_TOO_BIG = REP_ERR + 9;

// NBD_REP_INFO information types.
export const INFO_EXPORT = 0;
export const INFO_NAME = 1;
export const INFO_DESCRIPTION = 2;
export const INFO_BLOCK_SIZE = 3;

// Transmission flags (16 bits).
export const TFLAG_HAS_FLAGS = 1 << 0;
export const TFLAG_READ_ONLY = 1 << 1;
export const TFLAG_SEND_FLUSH = 1 << 2;
export const TFLAG_SEND_FUA = 1 << 3;
export const TFLAG_ROTATIONAL = 1 << 4;
export const TFLAG_SEND_TRIM = 1 << 5;
export const TFLAG_SEND_WRITE_ZEROES = 1 << 6;
export const TFLAG_SEND_DF = 1 << 7;
export const TFLAG_CAN_MULTI_CONN = 1 << 8;
export const TFLAG_SEND_CACHE = 1 << 10;

// Transmission-phase magics.
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

// Commands.
export const CMD_READ = 0;
export const CMD_WRITE = 1;
export const CMD_DISC = 2;
export const CMD_FLUSH = 3;
export const CMD_TRIM = 4;
export const CMD_CACHE = 5;
export const CMD_WRITE_ZEROES = 6;
export const CMD_BLOCK_STATUS = 7;

// Command flags.
export const CMD_FLAG_FUA = 1 << 0;
export const CMD_FLAG_NO_HOLE = 1 << 1;
export const CMD_FLAG_DF = 1 << 2;
export const CMD_FLAG_REQ_ONE = 1 << 3;
export const CMD_FLAG_FAST_ZERO = 1 << 4;

// Structured reply flags and chunk types.
export const REPLY_FLAG_DONE = 1 << 0;
export const REPLY_TYPE_NONE = 0;
export const REPLY_TYPE_OFFSET_DATA = 1;
export const REPLY_TYPE_OFFSET_HOLE = 2;
export const REPLY_TYPE_BLOCK_STATUS = 5;
/**
 * Ours, only after OPT_ZSTD_REPLIES: u64 offset, u32 length of the data, then
 * one zstd frame holding exactly that many bytes.
 */
export const REPLY_TYPE_OFFSET_ZSTD = 0x7076;
/** Bytes of an OFFSET_ZSTD chunk's payload before the frame. */
export const OFFSET_ZSTD_PREFIX_SIZE = 12;
export const REPLY_TYPE_ERROR = 0x8001;
export const REPLY_TYPE_ERROR_OFFSET = 0x8002;

// base:allocation extent flags.
export const STATE_HOLE = 1 << 0;
export const STATE_ZERO = 1 << 1;

// Error values.
export const EPERM = 1;
export const EIO = 5;
export const ENOMEM = 12;
export const EINVAL = 22;
export const ENOSPC = 28;
export const EOVERFLOW = 75;
export const ENOTSUP = 95;
export const ESHUTDOWN = 108;

/** The one metadata context we offer. */
export const META_BASE_ALLOCATION = "base:allocation";

// Fixed message sizes in bytes.
export const SERVER_GREETING_SIZE = 18; // NBDMAGIC + IHAVEOPT + 16-bit flags
export const CLIENT_FLAGS_SIZE = 4;
export const OPTION_HEADER_SIZE = 16; // IHAVEOPT + option + length
export const OPTION_REPLY_HEADER_SIZE = 20; // magic + option + type + length
export const REQUEST_SIZE = 28;
export const SIMPLE_REPLY_SIZE = 16;
export const STRUCTURED_HEADER_SIZE = 20;
/** Structured header plus the 64-bit offset of an OFFSET_DATA chunk. */
export const OFFSET_DATA_HEADER_SIZE = STRUCTURED_HEADER_SIZE + 8;

// Size constraints we advertise (NBD_INFO_BLOCK_SIZE); the protocol's defaults.
export const MIN_BLOCK_SIZE = 1;
export const PREFERRED_BLOCK_SIZE = 4096;
export const MAX_PAYLOAD_SIZE = 32 * 1024 * 1024;

/** Options longer than this are never legitimate for what we support. */
export const MAX_OPTION_LENGTH = 64 * 1024;
/** Strings in the protocol MUST NOT exceed this many bytes. */
export const MAX_STRING_LENGTH = 4096;

/** Name of a command, for error messages. */
export function commandName(type: number): string {
  switch (type) {
    case CMD_READ:
      return "NBD_CMD_READ";
    case CMD_WRITE:
      return "NBD_CMD_WRITE";
    case CMD_DISC:
      return "NBD_CMD_DISC";
    case CMD_FLUSH:
      return "NBD_CMD_FLUSH";
    case CMD_TRIM:
      return "NBD_CMD_TRIM";
    case CMD_CACHE:
      return "NBD_CMD_CACHE";
    case CMD_WRITE_ZEROES:
      return "NBD_CMD_WRITE_ZEROES";
    case CMD_BLOCK_STATUS:
      return "NBD_CMD_BLOCK_STATUS";
    default:
      return `command ${type}`;
  }
}
