/**
 * Which NBD server exports the disks (`p2v.nbd`): the built-in one (no helper
 * process, works on any rescue image), qemu-nbd, or nbdkit.
 */
import { join } from "node:path";
import type { NbdBackend } from "../config/nbd.ts";
import { UserError } from "../errors.ts";
import { startBuiltinExport } from "./builtin_export.ts";
import type { DiskExport } from "./export.ts";
import { NBDKIT, QEMU_NBD, type SocketServerKind, startSocketServer } from "./socket_server.ts";

const EXTERNAL: Record<Exclude<NbdBackend, "builtin">, SocketServerKind> = {
  "qemu-nbd": QEMU_NBD,
  "nbdkit": NBDKIT,
};

/** Is `binary` an executable file in one of the PATH directories? */
export function onPath(binary: string, path = Deno.env.get("PATH") ?? ""): boolean {
  return path.split(":").filter((d) => d !== "").some((dir) => {
    try {
      const info = Deno.statSync(join(dir, binary));
      return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
    } catch {
      return false;
    }
  });
}

/** The first backend of `preference` that this machine can run. */
export function chooseNbdBackend(
  preference: readonly NbdBackend[],
  isInstalled: (binary: string) => boolean = onPath,
): NbdBackend {
  for (const backend of preference) {
    if (backend === "builtin" || isInstalled(EXTERNAL[backend].binary)) return backend;
  }
  throw new UserError(
    `none of the NBD servers in p2v.nbd (${preference.join(", ")}) is installed on this machine; ` +
      `install one, or add "builtin" to the list`,
  );
}

export function nbdExportStarter(backend: NbdBackend): (path: string) => Promise<DiskExport> {
  if (backend === "builtin") return (path) => startBuiltinExport(path);
  const kind = EXTERNAL[backend];
  return (path) => startSocketServer(kind, path);
}
