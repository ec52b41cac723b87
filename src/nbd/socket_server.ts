/**
 * An external NBD server process per disk (qemu-nbd or nbdkit), listening on
 * a private unix socket; each forwarded channel is spliced to a fresh
 * connection to that socket.
 */
import { createConnection, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { join } from "node:path";
import { describeError, UserError } from "../errors.ts";
import { findProgram } from "../system/programs.ts";
import { probeDisk } from "./disk_size.ts";
import type { DiskExport } from "./export.ts";

const START_TIMEOUT_MS = 15_000;

/** How to run one kind of NBD server on a unix socket. */
export interface SocketServerKind {
  /** Executable name, looked up on PATH. */
  binary: string;
  /** Arguments that serve `path` READ-ONLY on `socketPath`. */
  args(socketPath: string, path: string): string[];
  /** The Debian package that provides it, for the "not installed" hint. */
  packageName: string;
}

export const QEMU_NBD: SocketServerKind = {
  binary: "qemu-nbd",
  // -r: export and open read-only, so the source can never be written.
  // -t/-e: one forwarded channel may be followed by others (retries, probes).
  args: (socketPath, path) => ["-r", "-f", "raw", "-t", "-e", "16", "-k", socketPath, path],
  packageName: "qemu-utils",
};

export const NBDKIT: SocketServerKind = {
  binary: "nbdkit",
  // -r: read-only export (the file plugin then opens the file O_RDONLY).
  args: (socketPath, path) => ["-r", "-f", "--exit-with-parent", "-U", socketPath, "file", path],
  packageName: "nbdkit",
};

export async function startSocketServer(
  kind: SocketServerKind,
  path: string,
  options: { startTimeoutMs?: number } = {},
): Promise<DiskExport> {
  // Fails early, with the same message as the built-in server, when the disk is unreadable.
  const size = await probeDisk(path);
  const binary = kind.binary;
  // By absolute path: a rescue image may keep it in an sbin directory left off PATH.
  const program = findProgram(binary) ?? binary;
  const dir = await Deno.makeTempDir({ prefix: "virt-p2v-nbd." });
  const socketPath = join(dir, "nbd.sock");
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args: kind.args(socketPath, path),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    if (err instanceof Deno.errors.NotFound) {
      throw new UserError(
        `${binary} is not installed on this machine; install the ${kind.packageName} package ` +
          `on the boot image, or use the built-in server (p2v.nbd=builtin)`,
      );
    }
    throw new UserError(`cannot start ${binary} for ${path}: ${describeError(err)}`);
  }
  const stderrText = collectText(child.stderr);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });

  try {
    await waitForSocket(socketPath, status, options.startTimeoutMs ?? START_TIMEOUT_MS);
  } catch (err) {
    if (!exited) child.kill("SIGKILL");
    await status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    const detail = (await stderrText).trim().split("\n").pop() ?? "";
    throw new UserError(
      `cannot serve disk ${path} with ${binary}: ${detail || describeError(err)}`,
    );
  }

  const sockets = new Set<Socket>();
  let bytesSent = 0;
  let stopped = false;

  return {
    path,
    size,
    get bytesSent() {
      return bytesSent;
    },
    attach(channel: Duplex) {
      if (stopped) {
        channel.destroy();
        return;
      }
      const socket = createConnection({ path: socketPath });
      sockets.add(socket);
      socket.on("data", (chunk: Uint8Array) => {
        bytesSent += chunk.length;
      });
      const teardown = () => {
        sockets.delete(socket);
        socket.destroy();
        channel.destroy();
      };
      socket.on("error", teardown);
      socket.on("close", teardown);
      channel.on("error", teardown);
      channel.on("close", teardown);
      channel.pipe(socket);
      socket.pipe(channel);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const s of sockets) s.destroy();
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
      }
      const timer = setTimeout(() => {
        if (!exited) child.kill("SIGKILL");
      }, 5000);
      await status;
      clearTimeout(timer);
      await stderrText;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

async function waitForSocket(
  socketPath: string,
  exited: Promise<Deno.CommandStatus>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let done = false;
  const exitedEarly = exited.then((s) => {
    done = true;
    return s;
  });
  while (Date.now() < deadline) {
    if (done) {
      const s = await exitedEarly;
      throw new Error(`the NBD server exited with status ${s.code}`);
    }
    if (await canConnect(socketPath)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the NBD server did not start listening within ${timeoutMs} ms`);
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ path: socketPath });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function collectText(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  let total = 0;
  for await (const chunk of stream) {
    // Only the last lines matter for error messages; cap memory.
    if (total < 64 * 1024) chunks.push(decoder.decode(chunk, { stream: true }));
    total += chunk.length;
  }
  return chunks.join("");
}
