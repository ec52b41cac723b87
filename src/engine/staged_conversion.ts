/**
 * The conversion of a staged copy, after a verified cutover: virt-v2v reads
 * the staged images on the server at local disk speed, with no round trip
 * to the physical machine. The job runs detached and without a watchdog:
 * the physical machine may be switched off; while it stays on, we follow
 * the job's output as for any conversion.
 */
import type { HostFacts } from "../collect/types.ts";
import type { Config } from "../config/types.ts";
import { describeError } from "../errors.ts";
import { diskSourcePath } from "../nbd/disk_size.ts";
import { chooseGuestFirmware } from "../remote/guest_firmware.ts";
import { buildJobScript, STATUS_STAGED_HELD } from "../remote/job_script.ts";
import { buildPhysicalXml } from "../remote/physical_xml.ts";
import { conversionLogPath, makeRemoteDirName } from "../remote/remote_dir.ts";
import { buildRemoteFiles } from "../remote/upload_files.ts";
import type { ServerCapabilities } from "../remote/virt_v2v_probe.ts";
import { buildWrapperScript } from "../remote/wrapper_script.ts";
import { stagedImage } from "../stage/staging_area.ts";
import { configSecrets, efiPartitionOn } from "./conversion.ts";
import { runDetachedJob } from "./detached_job.ts";
import type { EventSink } from "./events.ts";
import { LibvirtDefineWatch } from "./libvirt_define_watch.ts";
import { LineSplitter } from "./line_splitter.ts";
import type { ServerLink } from "./link.ts";
import { checkOutputTarget } from "./output_check.ts";
import type { ConversionOutcome } from "./outcome.ts";
import type { Timeouts } from "./timeouts.ts";
import { uploadFiles } from "./upload.ts";
import { VirtV2vErrorWatch } from "./virt_v2v_error.ts";

export interface StagedConversionRequest {
  config: Config;
  facts: HostFacts;
  link: ServerLink;
  capabilities: ServerCapabilities;
  diagnostics: Record<string, string | undefined>;
  /** The staged copy's directory on the server. */
  stagedDir: string;
  /** Bytes of data the staged disks hold, for the output's room check. */
  dataBytes: number | undefined;
  emit: EventSink;
  signal: AbortSignal;
  timeouts: Timeouts;
  now?: () => Date;
}

export async function convertStaged(req: StagedConversionRequest): Promise<ConversionOutcome> {
  const { config, emit, link } = req;
  const t = req.timeouts;
  const remoteDir = makeRemoteDirName((req.now ?? (() => new Date()))());
  const where = { remoteDir, logFile: conversionLogPath(remoteDir) };
  try {
    await checkOutputTarget(link.session, config, emit, t.remoteCommandMs, req.dataBytes);
    emit({ type: "remote-dir", path: remoteDir });
    emit({ type: "phase", phase: "uploading", message: "Setting up the control connection ..." });
    const firmware = chooseGuestFirmware(
      req.facts.firmware,
      await Promise.all(config.disks.map((name) => efiPartitionOn(diskSourcePath(name)))),
    );
    const physicalXml = buildPhysicalXml({
      config,
      arch: req.facts.arch,
      hostTopology: req.facts.cpu.topology,
      disks: config.disks.map((name, i) => ({ name, file: stagedImage(req.stagedDir, i) })),
      macs: Object.fromEntries(req.facts.interfaces.map((i) => [i.name, i.mac])),
      ...(firmware.firmware ? { firmware: firmware.firmware } : {}),
    });
    const files = buildRemoteFiles({
      guestname: config.guestname,
      physicalXml,
      wrapperScript: buildWrapperScript(config, remoteDir, {
        colours: req.capabilities.coloursOption,
      }),
      jobScript: buildJobScript({
        remoteDir,
        relays: [],
        boundSeconds: 0,
        retryDelaySeconds: 1,
        holdStaged: req.stagedDir,
      }),
      diagnostics: req.diagnostics,
      secrets: configSecrets(config),
    });
    await uploadFiles(link.session, remoteDir, files, { timeoutMs: t.remoteCommandMs, emit });
    emit({
      type: "phase",
      phase: "converting",
      message: "Doing conversion of the staged copy on the server ...",
    });
    const libvirtDefine = new LibvirtDefineWatch();
    const errorLine = new VirtV2vErrorWatch();
    const lines = new LineSplitter((line) => {
      libvirtDefine.feed(line);
      errorLine.see(line);
      emit({ type: "output", line });
    });
    const result = await runDetachedJob({
      link,
      remoteDir,
      isolated: false,
      reattach: () => Promise.resolve(),
      onOutput: (chunk) => lines.push(chunk),
      emit,
      signal: req.signal,
      graceMs: t.cancelGraceMs,
      heartbeatMs: t.heartbeatMs,
      reconnectMs: config.reconnectSeconds * 1000,
      connectMs: t.connectMs,
      backoffMaxMs: t.reconnectBackoffMaxMs,
    });
    lines.flush();
    if (result.kind === "cancelled") return { kind: "cancelled", ...where };
    if (result.kind === "aborted") {
      return { kind: "failed", stage: "conversion", message: result.reason, ...where };
    }
    if (result.kind === "lost") {
      return {
        kind: "failed",
        stage: "conversion",
        message: `the connection to the conversion server was lost (${result.reason}); the ` +
          `conversion of the staged copy goes on there: its log is in ${remoteDir}`,
        ...where,
      };
    }
    if (result.status === STATUS_STAGED_HELD) {
      return {
        kind: "failed",
        stage: "conversion",
        message: `another run took the staged copy in ${req.stagedDir} before its conversion ` +
          "could start; nothing was converted: run the cutover again once that run has ended",
        ...where,
      };
    }
    if (result.status !== 0) {
      const why = errorLine.last === undefined ? "" : `: ${errorLine.last}`;
      return {
        kind: "failed",
        stage: "conversion",
        message: `virt-v2v exited with status ${result.status}${why}; the full log is ` +
          `${conversionLogPath(remoteDir)} on the conversion server`,
        ...where,
      };
    }
    const notDefined = libvirtDefine.warning();
    if (notDefined !== undefined) emit({ type: "warning", message: notDefined });
    return { kind: "succeeded", ...where };
  } catch (err) {
    return { kind: "failed", stage: "conversion", message: describeError(err), ...where };
  }
}
