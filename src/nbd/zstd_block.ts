/**
 * Zstandard for read replies between our own two ends (our NBD server on the
 * physical machine, our fan-out on the conversion server). Both directions
 * run on the runtime's worker threads, so the event loop that drives SSH
 * keeps going while a block is packed or unpacked.
 *
 * Level 1: on a Linux guest's allocated data it keeps about a third of the
 * bytes at ~290 MiB/s per core, and passes incompressible data at over
 * 1 GiB/s, so trying costs little where it does not pay.
 */
import type { Buffer } from "node:buffer";
import zlib from "node:zlib";

/** The zstd half of node:zlib, which the bundled type declarations do not describe yet. */
interface ZstdZlib {
  constants: Record<string, number>;
  zstdCompress(
    data: Uint8Array,
    options: { params: Record<number, number> },
    done: (err: Error | null, out: Buffer) => void,
  ): void;
  zstdDecompress(
    data: Uint8Array,
    options: { maxOutputLength: number },
    done: (err: Error | null, out: Buffer) => void,
  ): void;
}

const zstd = zlib as unknown as ZstdZlib;

const LEVEL = 1;

const COMPRESS_OPTIONS = { params: { [zstd.constants.ZSTD_c_compressionLevel]: LEVEL } };

/** Reads shorter than this are sent as they are: the frame overhead eats the gain. */
export const MIN_COMPRESSED_READ = 4096;

/**
 * A packed block is sent only when it saves at least 1/8 of the bytes;
 * otherwise unpacking on the other end would cost more than the link saves.
 */
export function worthSending(rawLength: number, packedLength: number): boolean {
  return packedLength <= rawLength - rawLength / 8;
}

/** Packs `data` into one zstd frame. */
export function packBlock(data: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zstd.zstdCompress(data, COMPRESS_OPTIONS, (err, out) => err ? reject(err) : resolve(out));
  });
}

/**
 * Unpacks a frame that must hold exactly `rawLength` bytes; a frame that
 * holds more is refused before it is inflated past that.
 */
export function unpackBlock(frame: Uint8Array, rawLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zstd.zstdDecompress(frame, { maxOutputLength: Math.max(rawLength, 1) }, (err, out) => {
      if (err) return reject(err);
      if (out.length !== rawLength) {
        return reject(new Error(`it held ${out.length} bytes, not the ${rawLength} announced`));
      }
      resolve(out);
    });
  });
}
