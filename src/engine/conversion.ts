/**
 * The conversion proper (SPEC §6): export every disk over a reverse forward,
 * upload the description and wrapper, run virt-v2v on a PTY channel, stream
 * its output, and always clean up.
 */
import type { ClientChannel } from "ssh2";
import type { HostFacts } from "../collect/types.ts";
import type { Config } from "../config/types.ts";
import { buildPhysicalXml } from "../convert/physical_xml.ts";
import { makeRemoteDirName } from "../convert/remote_dir.ts";
import { buildRemoteFiles, type RemoteFile } from "../convert/upload_files.ts";
import { buildWrapperScript, controlCommand } from "../convert/wrapper_script.ts";
import { describeError, UserError } from "../errors.ts";
import type { DiskExport } from "../nbd/export.ts";
import type { ReverseForward, SshSession } from "../net/ssh_session.ts";
import type { ServerCapabilities } from "../net/test_connection.ts";
import type { EventSink } from "./events.ts";
import { LineSplitter } from "./line_splitter.ts";
import { diskSourcePath, probeSourceDisk } from "./source_disk.ts";
import type { Timeouts } from "./timeouts.ts";

export type ConversionOutcome =
  | { kind: "succeeded"; remoteDir: string }
  | { kind: "failed"; message: string; remoteDir?: string }
  | { kind: "cancelled"; remoteDir?: string };

export interface ConversionRequest {
  config: Config;
  facts: HostFacts;
  session: SshSession;
  capabilities: ServerCapabilities;
  /** Outputs of dmesg, lscpu, … captured before the run; missing ones are skipped. */
  diagnostics: Record<string, string | undefined>;
  /** Starts the NBD server of one disk (qemu-nbd today, injectable for other backends). */
  startExport: (path: string) => Promise<DiskExport>;
  emit: EventSink;
  /** Aborting it cancels the conversion, remote side included. */
  signal: AbortSignal;
  timeouts: Timeouts;
  now?: () => Date;
  progressIntervalMs?: number;
}

interface ActiveDisk {
  name: string;
  path: string;
  sizeBytes: number;
  export: DiskExport;
  forward?: ReverseForward;
}

export async function runConversion(req: ConversionRequest): Promise<ConversionOutcome> {
  const { config, session, emit, signal } = req;
  const disks: ActiveDisk[] = [];
  let remoteDir: string | undefined;
  let progressTimer: ReturnType<typeof setInterval> | undefined;
  const reportProgress = () => {
    for (const d of disks) {
      emit({
        type: "disk-progress",
        disk: d.name,
        bytesSent: d.export.bytesSent,
        sizeBytes: d.sizeBytes,
      });
    }
  };

  try {
    if (config.disks.length === 0) {
      throw new UserError("no disks selected for conversion; set p2v.disks");
    }
    emit({ type: "phase", phase: "exporting", message: "Starting the NBD servers ..." });
    for (const name of config.disks) {
      throwIfCancelled(signal);
      const path = diskSourcePath(name);
      const sizeBytes = await probeSourceDisk(path);
      const diskExport = await req.startExport(path);
      const disk: ActiveDisk = { name, path, sizeBytes, export: diskExport };
      disks.push(disk);
      disk.forward = await session.forwardIn("localhost", (ch) => diskExport.attach(ch));
    }

    remoteDir = makeRemoteDirName((req.now ?? (() => new Date()))());
    emit({ type: "remote-dir", path: remoteDir });

    throwIfCancelled(signal);
    emit({ type: "phase", phase: "uploading", message: "Setting up the control connection ..." });
    await runChecked(session, `mkdir ${remoteDir} && date > ${remoteDir}/time`, req.timeouts, {
      what: `create ${remoteDir} on the conversion server`,
    });
    const physicalXml = buildPhysicalXml({
      config,
      arch: req.facts.arch,
      hostTopology: req.facts.cpu.topology,
      disks: disks.map((d) => ({ name: d.name, remotePort: d.forward!.port })),
      macs: Object.fromEntries(req.facts.interfaces.map((i) => [i.name, i.mac])),
    });
    const wrapper = buildWrapperScript(config, remoteDir, {
      colours: req.capabilities.coloursOption,
    });
    const files = buildRemoteFiles({
      guestname: config.guestname,
      physicalXml,
      wrapperScript: wrapper,
      diagnostics: req.diagnostics,
    });
    for (const file of files) {
      throwIfCancelled(signal);
      try {
        await uploadFile(session, remoteDir, file, req.timeouts);
      } catch (err) {
        if (file.required) throw err;
        emit({ type: "warning", message: `could not upload ${file.name}: ${describeError(err)}` });
      }
    }

    throwIfCancelled(signal);
    emit({ type: "phase", phase: "converting", message: "Doing conversion ..." });
    progressTimer = setInterval(reportProgress, req.progressIntervalMs ?? 1000);
    const result = await runWrapper(req, remoteDir);
    reportProgress();
    if (result.kind === "cancelled") return { kind: "cancelled", remoteDir };
    if (result.kind === "lost") {
      return {
        kind: "failed",
        remoteDir,
        message: `the connection to the conversion server was lost during the conversion ` +
          `(${result.reason}); the log is in ${remoteDir} on the server`,
      };
    }
    if (result.status !== 0) {
      return {
        kind: "failed",
        remoteDir,
        message: `virt-v2v exited with status ${result.status}; ` +
          `the full log is ${remoteDir}/virt-v2v-conversion-log.txt on the conversion server`,
      };
    }
    return { kind: "succeeded", remoteDir };
  } catch (err) {
    if (err instanceof CancelledError) return { kind: "cancelled", remoteDir };
    return { kind: "failed", message: describeError(err), remoteDir };
  } finally {
    clearInterval(progressTimer);
    emit({ type: "phase", phase: "cleaning-up", message: "Cleaning up ..." });
    for (const d of disks) {
      if (d.forward) await session.unforwardIn(d.forward).catch(() => {});
    }
    await Promise.all(disks.map((d) => d.export.stop().catch(() => {})));
  }
}

class CancelledError extends Error {}

function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw new CancelledError("cancelled by user");
}

type WrapperResult =
  | { kind: "exited"; status: number }
  | { kind: "cancelled" }
  | { kind: "lost"; reason: string };

/** Run the wrapper on a PTY channel and stream its output until it exits, is cancelled or the link drops. */
async function runWrapper(req: ConversionRequest, remoteDir: string): Promise<WrapperResult> {
  const { session, emit, signal } = req;
  // bash explicitly: the control command uses `$(< file)` and the login shell may be anything.
  const command = `LANG=C exec bash --noediting --noprofile --norc -c '${
    controlCommand(remoteDir)
  }'`;
  const lines = new LineSplitter((line) => emit({ type: "output", line }));
  let exitStatus: number | undefined;
  let closed = false;
  let onClosed = () => {};
  // Listeners go on as the channel opens: a fast wrapper can finish in the same read.
  const channel: ClientChannel = await session.execPty(command, (ch) => {
    ch.on("data", (chunk: Uint8Array) => lines.push(chunk));
    ch.on("exit", (code: number | null) => {
      if (typeof code === "number") exitStatus = code;
    });
    ch.on("close", (code?: number | null) => {
      if (exitStatus === undefined && typeof code === "number") exitStatus = code;
      closed = true;
      onClosed();
    });
  });

  return await new Promise<WrapperResult>((resolve) => {
    let cancelled = false;
    let done = false;
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    let stopWatchingClose = () => {};
    const finish = (result: WrapperResult) => {
      if (done) return;
      done = true;
      clearTimeout(graceTimer);
      signal.removeEventListener("abort", onAbort);
      stopWatchingClose();
      lines.flush();
      resolve(result);
    };
    const onAbort = () => {
      cancelled = true;
      // ^C on the PTY: the server's tty sends SIGINT to virt-v2v and the wrapper.
      channel.write("\x03");
      graceTimer = setTimeout(() => channel.close(), req.timeouts.cancelGraceMs);
    };
    // May call back at once when the link is already gone.
    stopWatchingClose = session.onClose((reason) => {
      finish(cancelled ? { kind: "cancelled" } : { kind: "lost", reason });
    });
    onClosed = () => {
      if (cancelled) finish({ kind: "cancelled" });
      else if (exitStatus === undefined) {
        finish({ kind: "lost", reason: "the remote command ended without an exit status" });
      } else finish({ kind: "exited", status: exitStatus });
    };
    if (closed) onClosed();
    else if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}

async function uploadFile(
  session: SshSession,
  remoteDir: string,
  file: RemoteFile,
  timeouts: Timeouts,
): Promise<void> {
  const target = `${remoteDir}/${file.name}`;
  const mode = (file.mode ?? 0o644).toString(8);
  await runChecked(session, `cat > ${target} && chmod ${mode} ${target}`, timeouts, {
    what: `upload ${file.name} to the conversion server`,
    stdin: file.content,
  });
}

async function runChecked(
  session: SshSession,
  command: string,
  timeouts: Timeouts,
  opts: { what: string; stdin?: string | Uint8Array },
): Promise<void> {
  const result = await session.exec(command, {
    stdin: opts.stdin,
    timeoutMs: timeouts.remoteCommandMs,
  });
  if (result.code !== 0) {
    const detail = (result.stderr || result.stdout).trim().split("\n").pop() ?? "";
    throw new UserError(
      `cannot ${opts.what} (exit status ${result.code ?? result.signal})${
        detail ? ": " + detail : ""
      }`,
    );
  }
}
