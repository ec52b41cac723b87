/**
 * The default guest name: the machine's short hostname. A PXE-booted
 * rescue system usually got it from DHCP, which makes it the best guess
 * available without looking inside the source disks.
 */

import { join } from "node:path";
import { readText } from "./sysfs.ts";

/** Deno.hostname() needs --allow-sys; without it we fall back to procfs. */
export function denoHostname(): string | undefined {
  try {
    return Deno.hostname();
  } catch {
    return undefined;
  }
}

/**
 * Short hostname, or undefined when there is none (the caller then makes
 * up a random name, as the original does when gethostname fails).
 */
export async function collectHostname(
  root = "/",
  getHostname: () => string | undefined = denoHostname,
): Promise<string | undefined> {
  let raw: string | undefined;
  try {
    raw = getHostname();
  } catch {
    raw = undefined;
  }
  raw ??= await readText(join(root, "proc/sys/kernel/hostname"));
  return shortHostname(raw);
}

/**
 * Cut an FQDN at the first dot, unless the dot is the first character
 * (the original keeps such a name whole). `localhost` is kept like the
 * original does; the kernel's placeholder `(none)` for "never set" is not
 * a name a sysadmin would want for a guest, so it counts as no hostname.
 */
export function shortHostname(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let name = raw.trim();
  const dot = name.indexOf(".");
  if (dot > 0) name = name.slice(0, dot);
  if (name === "" || name === "(none)") return undefined;
  return name;
}
