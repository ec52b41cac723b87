/**
 * Finding the external programs we run. Rescue images and `sudo` often leave
 * the sbin directories off PATH (Debian puts dhclient there; busybox images
 * put ip and udhcpc there), so those are searched after PATH.
 */
import { statSync } from "node:fs";
import { join } from "node:path";

const SBIN_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

function isExecutableFile(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** The absolute path of `name` on PATH or in an sbin directory, else undefined. */
export function findProgram(
  name: string,
  path: string = Deno.env.get("PATH") ?? "",
): string | undefined {
  if (name.includes("/")) return isExecutableFile(name) ? name : undefined;
  const dirs = [...path.split(":").filter((d) => d !== ""), ...SBIN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}
