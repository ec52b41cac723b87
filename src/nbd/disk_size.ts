/**
 * Opening a source disk read-only to learn its size, with the one message
 * every NBD server uses when a disk cannot be read.
 */
import { describeError, UserError } from "../errors.ts";

/** `sda` → `/dev/sda`; absolute paths (image files, `/dev/…`) are used as given. */
export function diskSourcePath(name: string): string {
  return name.startsWith("/") ? name : `/dev/${name}`;
}

/** The C library's words for the errors a disk gives (node:fs reports only the code). */
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: "No such file or directory",
  EACCES: "Permission denied",
  EPERM: "Operation not permitted",
  EIO: "Input/output error",
  ENXIO: "No such device or address",
  ENODEV: "No such device",
  EBUSY: "Device or resource busy",
  ENOMEDIUM: "No medium found",
};

/** An error of a disk operation in the C library's words ("Input/output error"). */
export function diskErrorText(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && code in ERRNO_TEXT ? ERRNO_TEXT[code] : describeError(err);
}

export function unreadableDisk(path: string, err: unknown): UserError {
  return new UserError(
    `cannot read disk ${path}: ${diskErrorText(err)}; check that the disk exists and ` +
      `that virt-p2v runs as root`,
    { cause: err },
  );
}

/** Size in bytes by seeking to the end: stat gives 0 for a block device. */
export async function sizeBySeeking(path: string): Promise<number> {
  const file = await Deno.open(path, { read: true, write: false });
  try {
    return await file.seek(0, Deno.SeekMode.End);
  } finally {
    file.close();
  }
}

/** Open the disk read-only, read its first sector and return its size in bytes. */
export async function probeDisk(path: string): Promise<number> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true, write: false });
    const size = await file.seek(0, Deno.SeekMode.End);
    await file.seek(0, Deno.SeekMode.Start);
    if (size > 0) await file.read(new Uint8Array(512));
    return size;
  } catch (err) {
    throw unreadableDisk(path, err);
  } finally {
    file?.close();
  }
}
