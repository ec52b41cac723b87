/**
 * `lseek(fd, off, SEEK_DATA / SEEK_HOLE)` for finding the holes of sparse
 * files. Deno has no API for it, so we call the C library through Deno's FFI
 * (`Deno.dlopen`, needs `--allow-ffi`, included in `-A`). When FFI is not
 * permitted or the C library cannot be loaded, `loadHoleSeeker()` returns null
 * and callers treat the whole file as data, which is always correct, only
 * slower to copy.
 *
 * The file descriptors passed in are the OS descriptors that `node:fs` hands
 * out (in Deno 2 these are real descriptors, not resource ids); the reader
 * checks this once per file before trusting the answers (see `source.ts`).
 */

/** `seekData` found no data at or after the offset (ENXIO: the rest is a hole). */
export const NO_DATA = -1;
/** The call failed for another reason; the caller should assume data. */
export const SEEK_FAILED = -2;

export interface HoleSeeker {
  /** First data offset ≥ `offset`, or NO_DATA, or SEEK_FAILED. */
  seekData(fd: number, offset: number): number;
  /** First hole offset ≥ `offset` (end of file counts as a hole), or SEEK_FAILED. */
  seekHole(fd: number, offset: number): number;
  /** `lseek(fd, 0, SEEK_END)`: the size of a file or block device, or SEEK_FAILED. */
  seekEnd(fd: number): number;
}

// Linux values (the same on every Linux architecture Deno runs on).
const SEEK_END = 2;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const ENXIO = 6;

const LIBC_NAMES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "libc.so"];

const SYMBOLS = {
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

let cached: HoleSeeker | null | undefined;

/** The C library's lseek, or null when FFI is unavailable here (never throws). */
export function loadHoleSeeker(): HoleSeeker | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (Deno.build.os !== "linux") return cached;
  try {
    // Never trigger an interactive permission prompt: use FFI only if already allowed.
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return cached;
  } catch {
    return cached;
  }
  for (const name of LIBC_NAMES) {
    try {
      const lib = Deno.dlopen(name, SYMBOLS);
      cached = makeSeeker(lib.symbols);
      break;
    } catch {
      // No FFI permission, or no such library: try the next name, else give up.
    }
  }
  return cached;
}

type LibcSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

function makeSeeker(libc: LibcSymbols): HoleSeeker {
  const errno = (): number => {
    const p = libc.__errno_location();
    return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32(0);
  };
  const seek = (fd: number, offset: number, whence: number): number => {
    const r = Number(libc.lseek(fd, BigInt(offset), whence));
    if (r >= 0) return r;
    return whence === SEEK_DATA && errno() === ENXIO ? NO_DATA : SEEK_FAILED;
  };
  return {
    seekData: (fd, offset) => seek(fd, offset, SEEK_DATA),
    seekHole: (fd, offset) => seek(fd, offset, SEEK_HOLE),
    seekEnd: (fd) => seek(fd, 0, SEEK_END),
  };
}
