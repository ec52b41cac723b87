/**
 * Default guest RAM: the host's RAM rounded up to a power of two. MemTotal
 * excludes what the kernel reserved for itself, so a 16 GiB machine reports
 * a bit less; rounding up gets back to the installed size.
 */

import { join } from "node:path";
import { readText } from "./sysfs.ts";

/** When the amount cannot be read at all (same default as the original). */
export const FALLBACK_MEMORY = 1024 * 1024 * 1024;

export async function collectMemory(root = "/"): Promise<number> {
  const kib = parseMemTotalKiB(await readText(join(root, "proc/meminfo")));
  if (kib === undefined || kib <= 0) return FALLBACK_MEMORY;
  return roundUpPowerOfTwo(kib * 1024);
}

/** `MemTotal:` of /proc/meminfo, in KiB (the kernel writes "kB" but means KiB). */
export function parseMemTotalKiB(text: string | undefined): number | undefined {
  const m = text?.match(/^MemTotal:\s*(\d+)\s*kB\s*$/m);
  return m ? Number(m[1]) : undefined;
}

/**
 * Smallest power of two ≥ n (an exact power stays). BigInt so values past
 * 2^32, where JS bit operators would wrap, stay exact. n ≤ 1 gives 1.
 */
export function roundUpPowerOfTwo(n: number): number {
  if (!Number.isFinite(n)) throw new RangeError(`not a finite number: ${n}`);
  const target = BigInt(Math.ceil(n));
  let p = 1n;
  while (p < target) p <<= 1n;
  return Number(p);
}
