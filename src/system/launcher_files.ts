/**
 * The single file's launcher unpacks the runtime, its libraries and the
 * program into in-memory files and leaves them open across its exec, so that
 * the loader and deno can open them by path (/proc/self/fd/N). Once the
 * program runs, everything is mapped or read: the descriptors are closed
 * here, so that the processes the program starts (qemu-nbd, a shell, the
 * post-conversion command) do not inherit them and keep ~100 MiB of memory
 * alive after the program has gone.
 */
export const LAUNCHER_FDS_VAR = "VIRT_P2V_LAUNCHER_FDS";

/** The descriptors named in `list` ("4,5,6") that are in-memory files; others are left alone. */
export function launcherDescriptors(list: string, linkOf: (fd: number) => string | null): number[] {
  return list.split(",")
    .filter((item) => /^\d+$/.test(item))
    .map(Number)
    .filter((fd) => fd > 2 && (linkOf(fd) ?? "").startsWith("/memfd:"));
}

function procLink(fd: number): string | null {
  try {
    return Deno.readLinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/** Closes the launcher's descriptors, if this process was started by it; how many were closed. */
export function closeLauncherFiles(): number {
  const list = Deno.env.get(LAUNCHER_FDS_VAR);
  if (list === undefined) return 0;
  // Not for the processes this one starts: their descriptors are their own.
  Deno.env.delete(LAUNCHER_FDS_VAR);
  const fds = launcherDescriptors(list, procLink);
  if (fds.length === 0) return 0;
  let libc: Deno.DynamicLibrary<{ close: { parameters: ["i32"]; result: "i32" } }>;
  try {
    // Deno has no call to close a raw descriptor; the C library has.
    libc = Deno.dlopen("libc.so.6", { close: { parameters: ["i32"], result: "i32" } });
  } catch {
    return 0; // the descriptors stay open: memory, not correctness
  }
  try {
    return fds.filter((fd) => libc.symbols.close(fd) === 0).length;
  } finally {
    libc.close();
  }
}
