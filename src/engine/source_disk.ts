/**
 * Source disks: where each configured disk lives, and a read-only probe that
 * fails early with a clear message when a disk cannot be read.
 */
import { describeError, UserError } from "../errors.ts";

/** `sda` → `/dev/sda`; absolute paths (image files, `/dev/…`) are used as given. */
export function diskSourcePath(name: string): string {
  return name.startsWith("/") ? name : `/dev/${name}`;
}

/** Open the disk read-only, read its first sector and return its size in bytes. */
export async function probeSourceDisk(path: string): Promise<number> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true, write: false });
    // Block devices report size 0 through stat; seeking to the end works for both.
    const size = await file.seek(0, Deno.SeekMode.End);
    await file.seek(0, Deno.SeekMode.Start);
    if (size > 0) await file.read(new Uint8Array(512));
    return size;
  } catch (err) {
    throw new UserError(
      `cannot read disk ${path}: ${describeError(err)}; check that the disk exists and ` +
        `that virt-p2v runs as root`,
    );
  } finally {
    file?.close();
  }
}
