/** Small sparse images with a known layout, for NBD protocol and reader tests. */
import { join } from "node:path";

export interface LayoutImage {
  path: string;
  size: number;
  /** [offset, length] of each random-data range; everything else is a hole. */
  data: [number, number][];
  /** The bytes the image should read as in [offset, offset+length). */
  expected(offset: number, length: number): Uint8Array;
}

/** A sparse file of `size` bytes with random data in `data` ranges (4 KiB aligned). */
export async function makeLayoutImage(
  dir: string,
  name: string,
  size: number,
  data: [number, number][],
): Promise<LayoutImage> {
  const path = join(dir, name);
  const content = new Map<number, Uint8Array>();
  const f = await Deno.open(path, { create: true, write: true, truncate: true });
  try {
    await f.truncate(size);
    for (const [off, len] of data) {
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i += 65536) {
        crypto.getRandomValues(bytes.subarray(i, Math.min(len, i + 65536)));
      }
      await f.seek(off, Deno.SeekMode.Start);
      let done = 0;
      while (done < len) done += await f.write(bytes.subarray(done));
      content.set(off, bytes);
    }
  } finally {
    f.close();
  }
  return {
    path,
    size,
    data,
    expected(offset, length) {
      const out = new Uint8Array(length);
      for (const [off, bytes] of content) {
        const from = Math.max(off, offset);
        const to = Math.min(off + bytes.length, offset + length);
        if (from < to) out.set(bytes.subarray(from - off, to - off), from - offset);
      }
      return out;
    },
  };
}
