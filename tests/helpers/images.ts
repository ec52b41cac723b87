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
