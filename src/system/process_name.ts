/**
 * The name `ps`, `top`, `pidof` and `killall` show for this process. The
 * single file starts the runtime through the dynamic loader from an
 * in-memory file, which the kernel names after its path (`/proc/self/fd/3`
 * gives "3"); the program renames itself so that a sysadmin finds it by name.
 */
const COMM = "/proc/self/comm";

/** Sets this process's name (at most 15 bytes are kept); false where it cannot. */
export function nameThisProcess(name: string, path = COMM): boolean {
  try {
    Deno.writeTextFileSync(path, name.slice(0, 15));
    return true;
  } catch {
    return false; // no /proc, or not Linux: only a cosmetic loss
  }
}
