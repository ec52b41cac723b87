/**
 * Expose the built-in NBD server to real clients in tests: a unix socket whose
 * every accepted connection is handed to `attach()`, exactly as the engine
 * hands it each ssh2 forward channel.
 */
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import {
  type BuiltinExport,
  type BuiltinExportOptions,
  startBuiltinExport,
} from "../../src/nbd/builtin_export.ts";
import { tempDir } from "./cleanup.ts";

export interface ServedExport {
  exp: BuiltinExport;
  socketPath: string;
  /** NBD URI for libnbd tools and qemu: nbd+unix:///?socket=… */
  uri: string;
  /** Reasons reported through onClientError. */
  clientErrors: string[];
  /** Exceptions reported through onInternalError (must stay empty). */
  internalErrors: unknown[];
  close(): Promise<void>;
}

export async function serveOnUnixSocket(
  imagePath: string,
  options: BuiltinExportOptions = {},
): Promise<ServedExport> {
  const clientErrors: string[] = [];
  const internalErrors: unknown[] = [];
  const exp = await startBuiltinExport(imagePath, {
    ...options,
    onClientError: (m) => clientErrors.push(m),
    onInternalError: (e) => internalErrors.push(e),
  });
  const dir = await tempDir({ prefix: "p2v-nbd-test." });
  const socketPath = join(dir, "nbd.sock");
  const sockets = new Set<Socket>();
  const socketClosed: Promise<void>[] = [];
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socketClosed.push(new Promise((r) => socket.on("close", () => r())));
    socket.on("close", () => sockets.delete(socket));
    exp.attach(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  let closing: Promise<void> | null = null;
  return {
    exp,
    socketPath,
    uri: `nbd+unix:///?socket=${socketPath}`,
    clientErrors,
    internalErrors,
    close() {
      closing ??= (async () => {
        await new Promise<void>((r) => server.close(() => r()));
        await exp.stop();
        for (const s of sockets) s.destroy();
        await Promise.all(socketClosed);
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      })();
      return closing;
    },
  };
}

/**
 * Run `fn` against a freshly served export, then stop everything (server,
 * export, every socket) and fail if the server reported an internal error.
 */
export async function withServer(
  imagePath: string,
  fn: (s: ServedExport) => Promise<void>,
  options: BuiltinExportOptions = {},
): Promise<void> {
  const s = await serveOnUnixSocket(imagePath, options);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
  if (s.internalErrors.length > 0) {
    throw new Error(`server internal errors: ${s.internalErrors.map(String).join("; ")}`);
  }
}
