/**
 * Whether the disks to convert can be read, checked before anything is
 * connected: a typo in p2v.disks or a run without root is this machine's
 * business, and learning it after the SSH login and the server test (or,
 * worse, after the server has set up a conversion) wastes the user's time.
 */
import { diskErrorText, diskSourcePath } from "../nbd/disk_size.ts";

/**
 * One line saying which of `disks` cannot be read and what to do, or
 * undefined when every one opens read-only. `hostDisks` (the machine's fixed
 * disks) are named when a disk does not exist.
 */
export async function unreadableDisks(
  disks: readonly string[],
  hostDisks: readonly string[],
): Promise<string | undefined> {
  if (disks.length === 0) return "no disks selected for conversion; set p2v.disks";
  const problems: string[] = [];
  let missing = false;
  let denied = false;
  for (const name of disks) {
    const path = diskSourcePath(name);
    try {
      const info = await Deno.stat(path);
      if (!info.isFile && !info.isBlockDevice) {
        problems.push(`${path} is neither a disk nor an image file`);
        continue;
      }
      // Opening is what tells whether this user may read it (permissions, locks).
      (await Deno.open(path, { read: true, write: false })).close();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        missing = true;
        problems.push(`disk ${path} does not exist`);
      } else if (err instanceof Deno.errors.PermissionDenied) {
        denied = true;
        problems.push(`cannot read disk ${path} as ${await currentUser()}: ${diskErrorText(err)}`);
      } else {
        problems.push(`cannot read disk ${path}: ${diskErrorText(err)}`);
      }
    }
  }
  if (problems.length === 0) return undefined;
  const hints: string[] = [];
  if (missing) {
    const have = hostDisks.length > 0 ? hostDisks.join(", ") : "none";
    hints.push(`check p2v.disks (this machine's disks: ${have})`);
  }
  // Root refused is a matter of the file's mode or of the process's capabilities, not of who runs it.
  if (denied) hints.push(Deno.uid() === 0 ? "check its permissions" : "run virt-p2v as root");
  return [...problems, ...hints].join("; ");
}

/** `user NAME (uid N)` from /etc/passwd; the environment's USER may be anyone's. */
async function currentUser(): Promise<string> {
  const uid = Deno.uid() ?? -1;
  try {
    for (const line of (await Deno.readTextFile("/etc/passwd")).split("\n")) {
      const fields = line.split(":");
      if (fields.length > 2 && fields[2] === String(uid)) return `user ${fields[0]} (uid ${uid})`;
    }
  } catch {
    // No passwd file (a minimal image): the number alone.
  }
  return `uid ${uid}`;
}
