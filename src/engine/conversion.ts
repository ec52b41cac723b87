/**
 * The conversion proper, on an open session: export every disk
 * over a reverse forward, upload the description and the wrapper, run
 * virt-v2v through the wrapper and stream its output, and always clean up.
 */
import type { HostFacts } from "../collect/types.ts";
import { hasEfiSystemPartition, withDiskReader } from "../collect/efi_partition.ts";
import type { Config } from "../config/types.ts";
import {
  decideIsolation,
  type IsolationDecision,
  isolationFromProbe,
} from "../remote/isolation.ts";
import { buildJobScript, type RelayKind, STATUS_RELAY_FAILED } from "../remote/job_script.ts";
import { chooseGuestFirmware } from "../remote/guest_firmware.ts";
import { buildPhysicalXml } from "../remote/physical_xml.ts";
import {
  controlCommand,
  jobProbeCommand,
  relayFromProbe,
  removeSocketsCommand,
} from "../remote/remote_commands.ts";
import {
  conversionLogPath,
  diskSocketPath,
  makeRemoteDirName,
  RELAY_LOG,
} from "../remote/remote_dir.ts";
import { buildRemoteFiles } from "../remote/upload_files.ts";
import { buildWrapperScript } from "../remote/wrapper_script.ts";
import { describeError, UserError } from "../errors.ts";
import type { Duplex } from "node:stream";
import { allocatedBytes } from "../nbd/allocated.ts";
import { diskSourcePath } from "../nbd/disk_size.ts";
import { ExportRequestCount } from "../nbd/request_counter.ts";
import { formatBytes } from "../text/units.ts";
import type { DiskExport, ExportEvents, ExportStarter } from "../nbd/export.ts";
import type { RemoteSession, ReverseForward, SocketForward } from "../net/session.ts";
import type { ServerCapabilities } from "../remote/virt_v2v_probe.ts";
import { runDetachedJob } from "./detached_job.ts";
import type { EventSink } from "./events.ts";
import type { ServerLink } from "./link.ts";
import { LibvirtDefineWatch } from "./libvirt_define_watch.ts";
import { LineSplitter } from "./line_splitter.ts";
import { checkOutputTarget, OutputTargetError } from "./output_check.ts";
import { VirtV2vErrorWatch } from "./virt_v2v_error.ts";
import type { ConversionOutcome } from "./outcome.ts";
import { runRemoteJob } from "./remote_job.ts";
import type { Timeouts } from "./timeouts.ts";
import { uploadFiles } from "./upload.ts";

export interface ConversionRequest {
  config: Config;
  facts: HostFacts;
  /** The session, and the way to a new one should the link drop. */
  link: ServerLink;
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
  /** What virt-v2v's copy will read of it (see `allocated.ts`); undefined when unknown. */
  dataBytes: number | undefined;
  /** What NBD clients asked of the export, through every forward. */
  requests: ExportRequestCount;
  /** The loopback port physical.xml names, forwarded straight to us… */
  forward?: ReverseForward;
  /** …or, when the conversion can survive a dropped link, a relay's upstream socket. */
  socket?: SocketForward;
}

interface JobSupport {
  /** What the server can relay the disks with, so that a dropped link is survived; if anything. */
  relay?: RelayKind;
  isolation: IsolationDecision;
}

async function probeJobSupport(
  session: RemoteSession,
  config: Config,
  timeoutMs: number,
): Promise<JobSupport> {
  const r = await session.exec(jobProbeCommand(), { timeoutMs });
  const output = r.code === 0 ? r.stdout : "";
  return {
    relay: relayFromProbe(output),
    isolation: decideIsolation(config.output, config.auth.sudo, isolationFromProbe(output)),
  };
}

/**
 * Why this conversion's success cannot be trusted; undefined when it can.
 * virt-v2v cannot convert a disk without reading it (its inspection alone
 * reads partition tables and file system metadata), so a disk whose export
 * was asked nothing but handshakes was served to virt-v2v by something else
 * on the server.
 */
function implausibleDisks(disks: readonly ActiveDisk[]): string | undefined {
  const unread = disks.filter((d) => d.requests.requests === 0);
  if (unread.length === 0) return undefined;
  const names = unread.map((d) => d.name).join(", ");
  return `virt-v2v reported success, but it never read disk ${names} through our export ` +
    `(${unread.map((d) => formatBytes(d.export.bytesSent)).join(", ")} sent, handshakes only): ` +
    `it may have converted a disk that another program on the conversion server served in ` +
    `its place; do not use the converted guest before checking it`;
}

/**
 * Secrets to remove, wherever they stand, from what we upload: the password,
 * and the password of the identity URL (which the URL mask misses when the
 * kernel command line quoted a URL with a blank in it).
 */
function configSecrets(config: Config): string[] {
  const secrets: string[] = [];
  if (config.auth.password !== undefined) secrets.push(config.auth.password);
  let password = "";
  try {
    password = new URL(config.auth.identityUrl ?? "").password;
  } catch { /* no identity URL, or not one URL can parse: nothing to add */ }
  if (password !== "") {
    secrets.push(password);
    try {
      secrets.push(decodeURIComponent(password));
    } catch { /* a stray % keeps it as written */ }
  }
  return secrets.filter((s) => s !== "");
}

/** Hands a forwarded channel to the disk's export, counting what its client asks. */
function serve(disk: ActiveDisk, channel: Duplex): void {
  disk.requests.watch(channel);
  disk.export.attach(channel);
}

/** Forward disk `i`'s export from its socket in the remote directory. */
async function forwardSockets(
  session: RemoteSession,
  remoteDir: string,
  disks: ActiveDisk[],
): Promise<void> {
  for (const [i, d] of disks.entries()) {
    d.socket = await session.forwardInSocket(diskSocketPath(remoteDir, i), (ch) => serve(d, ch));
  }
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
  const { config, link, emit, signal } = req;
  const session = link.session;
  const disks: ActiveDisk[] = [];
  const trouble = new ExportTrouble(emit);
  let remoteDir: string | undefined;
  let progressTimer: ReturnType<typeof setInterval> | undefined;
  const reported = new Map<string, number>();
  const reportProgress = (changedOnly = false) => {
    for (const d of disks) {
      const bytesSent = d.export.bytesSent;
      if (changedOnly && reported.get(d.name) === bytesSent) continue;
      reported.set(d.name, bytesSent);
      emit({
        type: "disk-progress",
        disk: d.name,
        bytesSent,
        sizeBytes: d.export.size,
        dataBytes: d.dataBytes,
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
    // What virt-v2v's copy will read of each disk, once: the progress's total,
    // and together the room the output needs (unknown if one disk cannot tell).
    const dataBytes = new Map(
      config.disks.map((name) => [name, allocatedBytes(diskSourcePath(name))]),
    );
    const totalData = [...dataBytes.values()].reduce<number | undefined>(
      (sum, bytes) => sum === undefined || bytes === undefined ? undefined : sum + bytes,
      0,
    );
    await checkOutputTarget(session, config, emit, req.timeouts.remoteCommandMs, totalData);
    emit({ type: "phase", phase: "exporting", message: "Starting the NBD servers ..." });
    for (const name of config.disks) {
      throwIfCancelled(signal);
      const path = diskSourcePath(name);
      const diskExport = await req.startExport(path, trouble.eventsFor(name, path));
      const disk: ActiveDisk = {
        name,
        export: diskExport,
        requests: new ExportRequestCount(),
        dataBytes: dataBytes.get(name),
      };
      disks.push(disk);
      disk.forward = await session.forwardIn((ch) => serve(disk, ch));
    }

    remoteDir = makeRemoteDirName((req.now ?? (() => new Date()))());
    emit({ type: "remote-dir", path: remoteDir });
    const dir = remoteDir;

    const support = config.reconnectSeconds > 0
      ? await probeJobSupport(session, config, req.timeouts.remoteCommandMs)
      : undefined;
    const relay = support?.relay;
    let resilient = relay !== undefined;
    if (config.reconnectSeconds > 0 && !resilient) {
      emit({
        type: "warning",
        message: "the conversion server has neither qemu-nbd 4.2+ nor nbdkit with its retry " +
          "filter (or no setsid): the disks are forwarded directly, and a dropped link will " +
          "end the conversion",
      });
    }

    throwIfCancelled(signal);
    emit({ type: "phase", phase: "uploading", message: "Setting up the control connection ..." });
    const firmware = chooseGuestFirmware(
      req.facts.firmware,
      await Promise.all(disks.map((d) => efiPartitionOn(diskSourcePath(d.name)))),
    );
    emit({
      type: "debug",
      message: `guest firmware: ${firmware.firmware?.type ?? "not stated"} (${firmware.why})`,
    });
    const physicalXml = buildPhysicalXml({
      config,
      arch: req.facts.arch,
      hostTopology: req.facts.cpu.topology,
      disks: disks.map((d) => ({ name: d.name, remotePort: d.forward!.port })),
      macs: Object.fromEntries(req.facts.interfaces.map((i) => [i.name, i.mac])),
      ...(firmware.firmware ? { firmware: firmware.firmware } : {}),
    });
    const t = req.timeouts;
    // Without a heartbeat for this long the server-side job gives up on us: our
    // keep-alives must first notice the loss, then we reconnect for the bound.
    const boundSeconds = Math.ceil(
      (config.reconnectSeconds * 1000 + t.linkKeepaliveIntervalMs * t.linkKeepaliveCountMax +
        t.watchdogSlackMs) / 1000,
    );
    const files = buildRemoteFiles({
      guestname: config.guestname,
      physicalXml,
      wrapperScript: buildWrapperScript(config, remoteDir, {
        colours: req.capabilities.coloursOption,
      }),
      jobScript: relay !== undefined
        ? buildJobScript({
          remoteDir,
          relay,
          relays: disks.map((d, i) => ({
            port: d.forward!.port,
            socket: diskSocketPath(dir, i),
          })),
          boundSeconds,
          retryDelaySeconds: Math.max(1, Math.round(t.relayRetryDelayMs / 1000)),
        })
        : undefined,
      diagnostics: req.diagnostics,
      secrets: configSecrets(config),
    });
    await uploadFiles(session, remoteDir, files, { timeoutMs: t.remoteCommandMs, emit });

    if (resilient) {
      try {
        await forwardSockets(session, remoteDir, disks);
      } catch (err) {
        resilient = false;
        emit({
          type: "warning",
          message: `${describeError(err)}: the disks are forwarded directly, and a dropped ` +
            `link will end the conversion`,
        });
        for (const d of disks) {
          if (d.socket) await session.unforwardInSocket(d.socket).catch(() => {});
          d.socket = undefined;
        }
      }
    }
    const isolated = resilient && support?.isolation.isolate === true;
    emit({
      type: "debug",
      message: isolated
        ? "virt-v2v and the relays run in a network namespace of their own on the server"
        : "the disks' ports are on the conversion server's shared loopback" +
          (support?.isolation.isolate === false ? `: ${support.isolation.why}` : ""),
    });
    if (resilient) {
      // The relays take over the ports physical.xml names.
      for (const d of disks) {
        if (d.forward) await session.unforwardIn(d.forward);
        d.forward = undefined;
      }
    }

    throwIfCancelled(signal);
    emit({ type: "phase", phase: "converting", message: "Doing conversion ..." });
    progressTimer = setInterval(() => reportProgress(), req.progressIntervalMs ?? 1000);
    // The counts as they stand when a line arrives: a phase line starts or
    // ends a disk's copy, and a count up to a second old would misplace it.
    const libvirtDefine = new LibvirtDefineWatch();
    const errorLine = new VirtV2vErrorWatch();
    const lines = new LineSplitter((line) => {
      reportProgress(true);
      libvirtDefine.feed(line);
      errorLine.see(line);
      emit({ type: "output", line });
    });
    const result = resilient
      ? await runDetachedJob({
        link,
        remoteDir,
        isolated,
        reattach: async (next) => {
          const paths = disks.map((_, i) => diskSocketPath(dir, i));
          await next.exec(removeSocketsCommand(paths), { timeoutMs: t.remoteCommandMs });
          await forwardSockets(next, dir, disks);
        },
        onOutput: (chunk) => lines.push(chunk),
        emit,
        signal,
        abortOn: trouble.settled,
        graceMs: t.cancelGraceMs,
        heartbeatMs: t.heartbeatMs,
        reconnectMs: config.reconnectSeconds * 1000,
        connectMs: t.connectMs,
        backoffMaxMs: t.reconnectBackoffMaxMs,
      })
      : await runRemoteJob({
        session,
        command: controlCommand(remoteDir),
        onOutput: (chunk) => lines.push(chunk),
        signal,
        abortOn: trouble.settled,
        graceMs: t.cancelGraceMs,
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
    if (result.status === STATUS_RELAY_FAILED && resilient) {
      return failed(
        `the NBD relay could not start on the conversion server (another program may hold ` +
          `the port virt-v2v would use); see ${remoteDir}/${RELAY_LOG} there`,
      );
    }
    // A read error explains a failing virt-v2v better than its status does.
    if (result.status !== 0 && trouble.reason !== undefined) return failed(trouble.reason);
    if (result.status !== 0) {
      const why = errorLine.last === undefined ? "" : `: ${errorLine.last}`;
      return failed(
        `virt-v2v exited with status ${result.status}${why}; the full log is ` +
          `${conversionLogPath(remoteDir)} on the conversion server`,
      );
    }
    const implausible = implausibleDisks(disks);
    if (implausible !== undefined) return failed(implausible);
    if (trouble.reason !== undefined) emit({ type: "warning", message: trouble.reason });
    const notDefined = libvirtDefine.warning();
    if (notDefined !== undefined) emit({ type: "warning", message: notDefined });
    return { kind: "succeeded", remoteDir, logFile: conversionLogPath(remoteDir) };
  } catch (err) {
    if (err instanceof CancelledError) return { kind: "cancelled", ...where() };
    // Nothing was exported or written: the settings and the server disagree.
    if (err instanceof OutputTargetError) {
      return { kind: "failed", stage: "server", message: err.message };
    }
    return failed(describeError(err));
  } finally {
    clearInterval(progressTimer);
    emit({ type: "phase", phase: "cleaning-up", message: "Cleaning up ..." });
    for (const d of disks) {
      if (d.forward) await link.session.unforwardIn(d.forward).catch(() => {});
      if (d.socket) await link.session.unforwardInSocket(d.socket).catch(() => {});
    }
    await Promise.all(disks.map((d) => d.export.stop().catch(() => {})));
  }
}

/** Whether the disk holds an EFI system partition; undefined when it cannot be told. */
async function efiPartitionOn(path: string): Promise<boolean | undefined> {
  try {
    return await withDiskReader(path, hasEfiSystemPartition);
  } catch {
    return undefined;
  }
}
