/**
 * The conversion proper (SPEC §6), on an open session: export every disk
 * over a reverse forward, upload the description and the wrapper, run
 * virt-v2v through the wrapper and stream its output, and always clean up.
 */
import type { HostFacts } from "../collect/types.ts";
import type { Config } from "../config/types.ts";
import { buildPhysicalXml } from "../convert/physical_xml.ts";
import { controlCommand } from "../convert/remote_commands.ts";
import { conversionLogPath, makeRemoteDirName } from "../convert/remote_dir.ts";
import { buildRemoteFiles } from "../convert/upload_files.ts";
import { buildWrapperScript } from "../convert/wrapper_script.ts";
import { describeError, UserError } from "../errors.ts";
import { diskSourcePath } from "../nbd/disk_size.ts";
import type { DiskExport, ExportEvents, ExportStarter } from "../nbd/export.ts";
import type { RemoteSession, ReverseForward } from "../net/session.ts";
import type { ServerCapabilities } from "../net/test_connection.ts";
import type { EventSink } from "./events.ts";
import { LineSplitter } from "./line_splitter.ts";
import type { ConversionOutcome } from "./outcome.ts";
import { runRemoteJob } from "./remote_job.ts";
import type { Timeouts } from "./timeouts.ts";
import { uploadFiles } from "./upload.ts";

export interface ConversionRequest {
  config: Config;
  facts: HostFacts;
  session: RemoteSession;
  capabilities: ServerCapabilities;
  /** Outputs of dmesg, lscpu, … captured before the run; missing ones are skipped. */
  diagnostics: Record<string, string | undefined>;
  startExport: ExportStarter;
  emit: EventSink;
  /** Aborting it cancels the conversion, remote side included. */
  signal: AbortSignal;
  timeouts: Timeouts;
  now?: () => Date;
  progressIntervalMs?: number;
}

interface ActiveDisk {
  name: string;
  export: DiskExport;
  forward?: ReverseForward;
}

class CancelledError extends Error {}

function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw new CancelledError("cancelled by user");
}

/**
 * The first failure of our own exports that makes the conversion pointless
 * (an unreadable sector, a bug of ours): it stops the remote job and becomes
 * the reported error.
 */
class ExportTrouble {
  reason: string | undefined;
  readonly settled: Promise<string>;
  #resolve!: (reason: string) => void;

  constructor(private readonly emit: EventSink) {
    this.settled = new Promise((r) => this.#resolve = r);
  }

  eventsFor(disk: string, path: string): ExportEvents {
    const label = disk === path ? path : `${disk} (${path})`;
    return {
      readError: (offset, length, message) =>
        this.#fail(
          `cannot read disk ${label} at offset ${offset} (${length} bytes): ${message}; ` +
            `the disk may be failing: check the kernel log of this machine`,
        ),
      clientError: (message) =>
        this.emit({ type: "debug", message: `NBD client of ${disk}: ${message}` }),
      internalError: (message) =>
        this.#fail(`internal error in the NBD server of disk ${disk}: ${message}`),
    };
  }

  #fail(reason: string) {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.#resolve(reason);
  }
}

export async function runConversion(req: ConversionRequest): Promise<ConversionOutcome> {
  const { config, session, emit, signal } = req;
  const disks: ActiveDisk[] = [];
  const trouble = new ExportTrouble(emit);
  let remoteDir: string | undefined;
  let progressTimer: ReturnType<typeof setInterval> | undefined;
  const reportProgress = () => {
    for (const d of disks) {
      emit({
        type: "disk-progress",
        disk: d.name,
        bytesSent: d.export.bytesSent,
        sizeBytes: d.export.size,
      });
    }
  };
  const where = () =>
    remoteDir === undefined ? {} : { remoteDir, logFile: conversionLogPath(remoteDir) };
  const failed = (message: string): ConversionOutcome => ({
    kind: "failed",
    stage: "conversion",
    message,
    ...where(),
  });

  try {
    if (config.disks.length === 0) {
      throw new UserError("no disks selected for conversion; set p2v.disks");
    }
    emit({ type: "phase", phase: "exporting", message: "Starting the NBD servers ..." });
    for (const name of config.disks) {
      throwIfCancelled(signal);
      const path = diskSourcePath(name);
      const diskExport = await req.startExport(path, trouble.eventsFor(name, path));
      const disk: ActiveDisk = { name, export: diskExport };
      disks.push(disk);
      disk.forward = await session.forwardIn((ch) => diskExport.attach(ch));
    }

    remoteDir = makeRemoteDirName((req.now ?? (() => new Date()))());
    emit({ type: "remote-dir", path: remoteDir });

    throwIfCancelled(signal);
    emit({ type: "phase", phase: "uploading", message: "Setting up the control connection ..." });
    const physicalXml = buildPhysicalXml({
      config,
      arch: req.facts.arch,
      hostTopology: req.facts.cpu.topology,
      disks: disks.map((d) => ({ name: d.name, remotePort: d.forward!.port })),
      macs: Object.fromEntries(req.facts.interfaces.map((i) => [i.name, i.mac])),
    });
    const files = buildRemoteFiles({
      guestname: config.guestname,
      physicalXml,
      wrapperScript: buildWrapperScript(config, remoteDir, {
        colours: req.capabilities.coloursOption,
      }),
      diagnostics: req.diagnostics,
      secrets: config.auth.password === undefined ? [] : [config.auth.password],
    });
    await uploadFiles(session, remoteDir, files, { timeoutMs: req.timeouts.remoteCommandMs, emit });

    throwIfCancelled(signal);
    emit({ type: "phase", phase: "converting", message: "Doing conversion ..." });
    progressTimer = setInterval(reportProgress, req.progressIntervalMs ?? 1000);
    const lines = new LineSplitter((line) => emit({ type: "output", line }));
    const result = await runRemoteJob({
      session,
      command: controlCommand(remoteDir),
      onOutput: (chunk) => lines.push(chunk),
      signal,
      abortOn: trouble.settled,
      graceMs: req.timeouts.cancelGraceMs,
    });
    lines.flush();
    reportProgress();
    if (result.kind === "cancelled") return { kind: "cancelled", ...where() };
    if (result.kind === "aborted") return failed(result.reason);
    if (result.kind === "lost") {
      return failed(
        `the connection to the conversion server was lost during the conversion ` +
          `(${result.reason}); the log is in ${remoteDir} on the server`,
      );
    }
    // A read error explains a failing virt-v2v better than its status does.
    if (result.status !== 0 && trouble.reason !== undefined) return failed(trouble.reason);
    if (result.status !== 0) {
      return failed(
        `virt-v2v exited with status ${result.status}; the full log is ` +
          `${conversionLogPath(remoteDir)} on the conversion server`,
      );
    }
    if (trouble.reason !== undefined) emit({ type: "warning", message: trouble.reason });
    return { kind: "succeeded", remoteDir, logFile: conversionLogPath(remoteDir) };
  } catch (err) {
    if (err instanceof CancelledError) return { kind: "cancelled", ...where() };
    return failed(describeError(err));
  } finally {
    clearInterval(progressTimer);
    emit({ type: "phase", phase: "cleaning-up", message: "Cleaning up ..." });
    for (const d of disks) {
      if (d.forward) await session.unforwardIn(d.forward).catch(() => {});
    }
    await Promise.all(disks.map((d) => d.export.stop().catch(() => {})));
  }
}
