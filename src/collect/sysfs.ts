/**
 * Tolerant readers for sysfs/procfs-style trees. Discovery must never fail
 * because one attribute is missing, unreadable or not permitted (Deno
 * permissions included), so every helper turns an error into "unknown".
 */

import { dirname, isAbsolute, join } from "node:path";

/** Whole text of a file, or undefined when it cannot be read. */
export async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

/**
 * Trimmed text of a one-value attribute; undefined when unreadable or
 * blank, because sysfs pads some strings (SCSI model) with spaces.
 */
export async function readAttr(path: string): Promise<string | undefined> {
  const text = await readText(path);
  if (text === undefined) return undefined;
  const value = text.replace(/\0+/g, "").trim();
  return value === "" ? undefined : value;
}

/** Raw bytes of a file (binary attributes such as SCSI VPD pages). */
export async function readBytes(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch {
    return undefined;
  }
}

/** Whether a path exists, following symlinks the way access(F_OK) does. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Entry names of a directory, unsorted; empty when it cannot be listed. */
export async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(path)) names.push(entry.name);
  } catch {
    // An unreadable or absent directory simply has nothing to offer.
  }
  return names;
}

/**
 * Where a symlink inside a (possibly fake) root points, as a path under
 * that root. Absolute targets are re-anchored at `root` so a test tree can
 * never leak out to the real /sys. A plain directory is returned as is;
 * anything else is undefined.
 */
export async function resolveLink(root: string, link: string): Promise<string | undefined> {
  try {
    const target = await Deno.readLink(link);
    return isAbsolute(target) ? join(root, target) : join(dirname(link), target);
  } catch {
    try {
      return (await Deno.stat(link)).isDirectory ? link : undefined;
    } catch {
      return undefined;
    }
  }
}

/** Byte-wise ordering, the same as the original's strcmp-based qsort for ASCII names. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
