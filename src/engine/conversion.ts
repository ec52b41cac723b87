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
import {
  buildJobScript,
  type FanoutSpec,
  type RelayKind,
  STATUS_RELAY_FAILED,
} from "../remote/job_script.ts";
import { chooseGuestFirmware } from "../remote/guest_firmware.ts";
import { buildPhysicalXml } from "../remote/physical_xml.ts";
import {
  controlCommand,
  detachFromProbe,
  jobProbeCommand,
  relayFromProbe,
} from "../remote/remote_commands.ts";
import { conversionLogPath, makeRemoteDirName, RELAY_LOG } from "../remote/remote_dir.ts";
import { buildRemoteFiles } from "../remote/upload_files.ts";
import { buildWrapperScript } from "../remote/wrapper_script.ts";
import { describeError, UserError } from "../errors.ts";
import { diskSourcePath } from "../nbd/disk_size.ts";
import type { ExportEvents, ExportStarter } from "../nbd/export.ts";
import type { RemoteSession } from "../net/session.ts";
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
import { DiskForwards } from "./disk_forwards.ts";
import { channelsFor, measureRoundTrip, placeOwnCopy } from "./disk_channels.ts";
import { loadOwnExecutable, type OwnExecutable } from "../system/own_executable.ts";
import { ownCopyFromProbe, type OwnCopyProbe, ownCopyProbeLines } from "../remote/server_copy.ts";
import type { Timeouts } from "./timeouts.ts";
import { RateLimit } from "../net/rate_limit.ts";
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
  /**
   * Our single executable, to run the server side of several channels per
   * disk; default: the file we run from, or the one ./build.sh made.
   */
  ownExecutable?: () => Promise<{ info: OwnExecutable; content: Uint8Array } | undefined>;
  /**
   * The bandwidth cap the disks' data passes, which its owner (the dialog)
   * may change while they are copied; default: `p2v.bandwidth`'s, if any.
   */
  bandwidth?: RateLimit;
}

interface JobSupport {
  /** A job can run detached from our sessions. */
  detach: boolean;
  /** What the server can relay the disks with, so that a dropped link is survived; if anything. */
  relay?: RelayKind;
  /** Where our own copy is kept there, and whether it is already there. */
  ownCopy?: OwnCopyProbe;
  isolation: IsolationDecision;
}

async function probeJobSupport(
  session: RemoteSession,
  config: Config,
  timeoutMs: number,
  own: OwnExecutable | undefined,
): Promise<JobSupport> {
  const r = await session.exec(
    jobProbeCommand(own ? ownCopyProbeLines(own.sha256) : []),
    { timeoutMs },
  );
  const output = r.code === 0 ? r.stdout : "";
  return {
    detach: detachFromProbe(output),
    relay: relayFromProbe(output),
    ownCopy: own ? ownCopyFromProbe(output) : undefined,
    isolation: decideIsolation(config.output, config.auth.sudo, isolationFromProbe(output)),
  };
}

/** How many SSH channels each disk is to be read through, and why. */
interface ChannelChoice {
  count: number;
  why: string;
  /**
   * Our copy on the server serves the disks (several channels, zstd), even
   * with one channel: a capped link gains from packing what crosses it.
   */
  fanout: boolean;
}

/**
 * `p2v.channels`, or as many channels as the round trip measured now needs
 * to fill the link: one on a LAN, where the relays serve as well and
 * starting our copy on the server would only add to the fixed cost — unless
 * `p2v.bandwidth` says the link is slow, where packing pays.
 */
async function chooseChannels(
  session: RemoteSession,
  config: Config,
  timeoutMs: number,
): Promise<ChannelChoice> {
  const packCapped = config.compress && config.bandwidthMbit > 0;
  if (config.channels !== 0) {
    const why = "p2v.channels";
    return { count: config.channels, why, fanout: config.channels > 1 || packCapped };
  }
  const rttMs = await measureRoundTrip(session, timeoutMs);
  const count = channelsFor(rttMs ?? 0);
  return {
    count,
    why: `round trip ${rttMs === undefined ? "unknown" : `${rttMs.toFixed(1)} ms`}` +
      (count === 1 && packCapped ? ", p2v.bandwidth set" : ""),
    fanout: count > 1 || packCapped,
  };
}

/**
 * The fan-out for this conversion, or undefined when each disk keeps one
 * channel: one is enough, no executable of ours to copy, or no way to put
 * it there.
 */
async function planFanout(
  session: RemoteSession,
  channels: ChannelChoice,
  support: JobSupport,
  own: { info: OwnExecutable; content: Uint8Array } | undefined,
  opts: { timeoutMs: number; emit: EventSink; bandwidth?: RateLimit; compress: boolean },
): Promise<FanoutSpec | undefined> {
  const oneBecause = !channels.fanout
    ? channels.why
    : !own
    ? "no single executable of virt-p2v to copy to the server (./build.sh makes one)"
    : !support.detach || !support.ownCopy
    ? "the server cannot run a detached job"
    : undefined;
  if (oneBecause !== undefined || !own || !support.ownCopy) {
    opts.emit({ type: "debug", message: `one SSH channel per disk (${oneBecause})` });
    return undefined;
  }
  const program = await placeOwnCopy(session, own, support.ownCopy, opts);
  if (program === undefined) return undefined;
  opts.emit({
    type: "debug",
    message: `${channels.count} SSH channel${channels.count === 1 ? "" : "s"} per disk ` +
      `(${channels.why}), served by our copy on the server; ` +
      (opts.compress ? "reads packed with zstd" : "reads sent unpacked (p2v.compress=0)"),
  });
  return {
    program,
    sha256: own.info.sha256,
    connections: channels.count,
    compress: opts.compress,
  };
}

/**
 * Secrets to remove, wherever they stand, from what we upload: the password,
 * and the password of the identity URL (which the URL mask misses when the
 * kernel command line quoted a URL with a blank in it).
 */
export function configSecrets(config: Config): string[] {
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
  const bandwidth = req.bandwidth ??
    (config.bandwidthMbit > 0 ? new RateLimit(config.bandwidthMbit) : undefined);
  const disks = new DiskForwards(emit, bandwidth);
  const trouble = new ExportTrouble(emit);
  let remoteDir: string | undefined;
  let progressTimer: ReturnType<typeof setInterval> | undefined;
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
    const dataBytes = DiskForwards.dataBytes(config.disks);
    await checkOutputTarget(session, config, emit, req.timeouts.remoteCommandMs, dataBytes.total);
    emit({ type: "phase", phase: "exporting", message: "Starting the NBD servers ..." });
    for (const name of config.disks) {
      throwIfCancelled(signal);
      const events = trouble.eventsFor(name, diskSourcePath(name));
      await disks.add(session, name, req.startExport, events, dataBytes.perDisk.get(name));
    }

    remoteDir = makeRemoteDirName((req.now ?? (() => new Date()))());
    emit({ type: "remote-dir", path: remoteDir });
    const dir = remoteDir;

    const channels = config.reconnectSeconds > 0
      ? await chooseChannels(session, config, req.timeouts.remoteCommandMs)
      : undefined;
    const own = channels?.fanout
      ? await (req.ownExecutable ?? (() => loadOwnExecutable((n) => Deno.env.get(n))))()
      : undefined;
    const support = config.reconnectSeconds > 0
      ? await probeJobSupport(session, config, req.timeouts.remoteCommandMs, own?.info)
      : undefined;
    const relay = support?.relay;
    const fanout = support && channels
      ? await planFanout(session, channels, support, own, {
        timeoutMs: req.timeouts.remoteCommandMs,
        emit,
        bandwidth,
        compress: config.compress,
      })
      : undefined;
    let resilient = relay !== undefined || fanout !== undefined;
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
      await Promise.all(disks.names.map((name) => efiPartitionOn(diskSourcePath(name)))),
    );
    emit({
      type: "debug",
      message: `guest firmware: ${firmware.firmware?.type ?? "not stated"} (${firmware.why})`,
    });
    const physicalXml = buildPhysicalXml({
      config,
      arch: req.facts.arch,
      hostTopology: req.facts.cpu.topology,
      disks: disks.names.map((name, i) => ({ name, remotePort: disks.ports[i] })),
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
      jobScript: resilient
        ? buildJobScript({
          remoteDir,
          relay,
          fanout,
          relays: disks.ports.map((port, i) => ({ port, socket: disks.socketPaths(dir)[i] })),
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
        await disks.forwardSockets(session, remoteDir);
      } catch (err) {
        resilient = false;
        emit({
          type: "warning",
          message: `${describeError(err)}: the disks are forwarded directly, and a dropped ` +
            `link will end the conversion`,
        });
        await disks.dropSockets(session);
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
      await disks.dropPorts(session);
    }

    throwIfCancelled(signal);
    emit({ type: "phase", phase: "converting", message: "Doing conversion ..." });
    progressTimer = setInterval(() => disks.reportProgress(), req.progressIntervalMs ?? 1000);
    // The counts as they stand when a line arrives: a phase line starts or
    // ends a disk's copy, and a count up to a second old would misplace it.
    const libvirtDefine = new LibvirtDefineWatch();
    const errorLine = new VirtV2vErrorWatch();
    const lines = new LineSplitter((line) => {
      disks.reportProgress(true);
      libvirtDefine.feed(line);
      errorLine.see(line);
      emit({ type: "output", line });
    });
    const result = resilient
      ? await runDetachedJob({
        link,
        remoteDir,
        isolated,
        reattach: (next) => disks.reattach(next, dir, t.remoteCommandMs),
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
    disks.reportProgress();
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
    const implausible = disks.implausible();
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
    await disks.stop(link.session);
    // Ours only: a cap handed in outlives this conversion with its owner.
    if (req.bandwidth === undefined) bandwidth?.close();
  }
}

/** Whether the disk holds an EFI system partition; undefined when it cannot be told. */
export async function efiPartitionOn(path: string): Promise<boolean | undefined> {
  try {
    return await withDiskReader(path, hasEfiSystemPartition);
  } catch {
    return undefined;
  }
}
