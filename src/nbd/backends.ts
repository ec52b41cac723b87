/**
 * Which NBD server exports the disks (`p2v.nbd`): the built-in one (no helper
 * process, works on any rescue image), qemu-nbd, or nbdkit.
 */
import type { NbdBackend } from "../config/nbd.ts";
import { describeError, UserError } from "../errors.ts";
import { findProgram } from "../system/programs.ts";
import { startBuiltinExport } from "./builtin_export.ts";
import { diskErrorText } from "./disk_size.ts";
import type { ExportStarter } from "./export.ts";
import { NBDKIT, QEMU_NBD, type SocketServerKind, startSocketServer } from "./socket_server.ts";

const EXTERNAL: Record<Exclude<NbdBackend, "builtin">, SocketServerKind> = {
  "qemu-nbd": QEMU_NBD,
  "nbdkit": NBDKIT,
};

/** The first backend of `preference` that this machine can run. */
export function chooseNbdBackend(
  preference: readonly NbdBackend[],
  isInstalled: (binary: string) => boolean = (b) => findProgram(b) !== undefined,
): NbdBackend {
  for (const backend of preference) {
    if (backend === "builtin" || isInstalled(EXTERNAL[backend].binary)) return backend;
  }
  throw new UserError(
    `none of the NBD servers in p2v.nbd (${preference.join(", ")}) is installed on this machine; ` +
      `install one, or add "builtin" to the list`,
  );
}

export function nbdExportStarter(backend: NbdBackend): ExportStarter {
  if (backend === "builtin") {
    return (path, events) =>
      startBuiltinExport(path, {
        onReadError: (offset, length, err) => events.readError(offset, length, diskErrorText(err)),
        onClientError: (message) => events.clientError(message),
        onInternalError: (err) => events.internalError(describeError(err)),
      });
  }
  // qemu-nbd and nbdkit answer read errors themselves; the client sees EIO.
  const kind = EXTERNAL[backend];
  return (path) => startSocketServer(kind, path);
}
