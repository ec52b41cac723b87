/** Source disk images for integration tests, made once per test process. */
import { join } from "node:path";
import { run } from "./process.ts";

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** An image filled with random bytes (no holes, nothing compressible). */
export async function makeDenseImage(dir: string, name: string, bytes: number): Promise<string> {
  const path = join(dir, name);
  await run("bash", ["-c", `head -c ${bytes} /dev/urandom > '${path}'`]);
  return path;
}

/** A sparse image of `bytes` with `chunks` 1 MiB random extents scattered through it. */
export async function makeSparseImage(
  dir: string,
  name: string,
  bytes: number,
  chunks: number,
): Promise<string> {
  const path = join(dir, name);
  await run("truncate", ["-s", String(bytes), path]);
  const stride = Math.floor(bytes / MiB / chunks);
  const script = Array.from(
    { length: chunks },
    (_, i) =>
      `dd if=/dev/urandom of='${path}' bs=1M count=1 seek=${
        i * stride + (i % 7)
      } conv=notrunc status=none`,
  ).join("\n");
  await run("bash", ["-c", script]);
  return path;
}

/**
 * A dense image that packs as real disks do, in part: of every 4 MiB, 3 are
 * base64 text of random bytes (zstd keeps about 3/4 of it) and 1 is random
 * (nothing to gain). No holes, no zeroes.
 */
export async function makePackableImage(
  dir: string,
  name: string,
  bytes: number,
): Promise<string> {
  const path = join(dir, name);
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    const raw = new Uint8Array(MiB);
    const encoder = new TextEncoder();
    for (let at = 0, i = 0; at < bytes; at += MiB, i++) {
      for (let p = 0; p < MiB; p += 65536) crypto.getRandomValues(raw.subarray(p, p + 65536));
      const block = i % 4 === 3 ? raw : encoder.encode(btoaBytes(raw)).subarray(0, MiB);
      const n = Math.min(MiB, bytes - at);
      for (let w = 0; w < n;) w += await file.write(block.subarray(w, n));
    }
  } finally {
    file.close();
  }
  return path;
}

function btoaBytes(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return btoa(s);
}

/**
 * Rewrites `extents` randomly placed 1 MiB extents of `path` (4 KiB-aligned,
 * not chunk-aligned) with random bytes, one every `gapMs`: a live machine's
 * writes. Returns the indexes of the `chunkBytes` chunks they touched.
 */
export async function rewriteExtents(
  path: string,
  size: number,
  extents: number,
  opts: { gapMs?: number; chunkBytes: number },
): Promise<Set<number>> {
  const touched = new Set<number>();
  const file = await Deno.open(path, { write: true });
  const data = new Uint8Array(MiB);
  try {
    for (let i = 0; i < extents; i++) {
      for (let p = 0; p < MiB; p += 65536) crypto.getRandomValues(data.subarray(p, p + 65536));
      const at = Math.floor(Math.random() * (size - MiB) / 4096) * 4096;
      await file.seek(at, Deno.SeekMode.Start);
      for (let w = 0; w < MiB;) w += await file.write(data.subarray(w));
      const last = Math.floor((at + MiB - 1) / opts.chunkBytes);
      for (let c = Math.floor(at / opts.chunkBytes); c <= last; c++) touched.add(c);
      if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
    }
  } finally {
    file.close();
  }
  return touched;
}
