/**
 * A warm conversion's steps on an open session (`p2v.stage`): the pre-copy
 * from the running machine, the cutover from our boot medium (sync, verify,
 * then the conversion of the staged copy on the server), and the listing.
 * All three need our program on the server, where the staging area's side
 * runs.
 */
import type { HostFacts } from "../collect/types.ts";
import type { Config } from "../config/types.ts";
import { describeError, UserError } from "../errors.ts";
import { diskSourcePath, probeDisk } from "../nbd/disk_size.ts";
import { RateLimit } from "../net/rate_limit.ts";
import type { RemoteSession } from "../net/session.ts";
import { inBash } from "../remote/remote_commands.ts";
import { ownCopyFromProbe, ownCopyProbeLines } from "../remote/server_copy.ts";
import { localBinding, machineUuid } from "../stage/binding.ts";
import { type DiskSync, startLocalHashing, syncDisks } from "./chunk_sync.ts";
import type { StagedListing } from "../stage/staging_area.ts";
import { type ServerProgram, StagingClient, type StagingRun } from "../stage/staging_client.ts";
import { loadOwnExecutable, type OwnExecutable } from "../system/own_executable.ts";
import { formatBytes } from "../text/units.ts";
import { channelsFor, measureRoundTrip, placeOwnCopy } from "./disk_channels.ts";
import type { EventSink } from "./events.ts";
import type { ServerLink } from "./link.ts";
import type { ServerFit } from "./connect.ts";
import type { ConversionOutcome } from "./outcome.ts";
import { convertStaged } from "./staged_conversion.ts";
import type { Timeouts } from "./timeouts.ts";

export interface StagedRunRequest {
  config: Config;
  /**
   * The server's test and the config as it spells the output: a cutover
   * awaits it before it says the machine may be switched off (it may still
   * be under way while the disks sync).
   */
  server: Promise<ServerFit>;
  facts: HostFacts;
  link: ServerLink;
  /** Captured while the disks sync; only the conversion of the staged copy needs them. */
  diagnostics: Promise<Record<string, string | undefined>>;
  emit: EventSink;
  signal: AbortSignal;
  timeouts: Timeouts;
  /** The cap its owner (the dialog) may change; default: `p2v.bandwidth`'s, if any. */
  bandwidth?: RateLimit;
  ownExecutable?: () => Promise<{ info: OwnExecutable; content: Uint8Array } | undefined>;
  /**
   * This machine's disks, sized and being hashed since before the
   * connection (beginLocalHashing): the caller stops it when the run ends.
   */
  hashing: LocalHashing | undefined;
}

/** This machine's disks for a pre-copy or cutover: their sizes, and their hashing under way. */
export interface LocalHashing {
  disks: Promise<DiskSync[]>;
  hashes: Promise<Promise<Uint8Array>[]>;
  /** Stops the hashing: the run ended before it was needed. */
  stop(): void;
}

/**
 * Sizes this machine's disks and starts hashing them, for a pre-copy or a
 * cutover (undefined for any other run): it needs no server, so it runs
 * while the connection is made.
 */
export function beginLocalHashing(config: Config): LocalHashing | undefined {
  const step = config.stage.step;
  if (step !== "precopy" && step !== "cutover") return undefined;
  const stopped = new AbortController();
  const disks = Promise.all(
    config.disks.map(async (name) => ({ name, size: await probeDisk(diskSourcePath(name)) })),
  );
  const hashes = disks.then((d) => startLocalHashing(d, stopped.signal));
  // Awaited by the run; a run that never gets there must not leave a rejection unhandled.
  hashes.catch(() => {});
  return { disks, hashes, stop: () => stopped.abort() };
}

/** Why the `p2v.stage*` keys cannot run as given; undefined when they can. */
export function stageSettingsProblem(config: Config): string | undefined {
  const stage = config.stage;
  if (stage.step === "none") return undefined;
  if (stage.dir === undefined) {
    return `p2v.stage=${stage.step} needs p2v.stage.dir, the staging area's directory on the ` +
      "conversion server";
  }
  if (stage.step !== "list" && config.disks.length === 0) {
    return "no disks selected for the staged copy; set p2v.disks";
  }
  return undefined;
}

/** Our program on the server, copied there once (see server_copy.ts). */
async function ourProgramThere(
  session: RemoteSession,
  req: StagedRunRequest,
  bandwidth: RateLimit | undefined,
): Promise<ServerProgram> {
  const own = await (req.ownExecutable ?? (() => loadOwnExecutable((n) => Deno.env.get(n))))();
  if (own === undefined) {
    throw new UserError(
      "a staged conversion needs virt-p2v's single executable to copy to the conversion " +
        "server (./build.sh makes one)",
    );
  }
  const t = req.timeouts;
  const probe = await session.exec(inBash(ownCopyProbeLines(own.info.sha256).join("\n")), {
    timeoutMs: t.remoteCommandMs,
  });
  const path = await placeOwnCopy(session, own, ownCopyFromProbe(probe.stdout), {
    timeoutMs: t.remoteCommandMs,
    emit: req.emit,
    bandwidth,
  });
  if (path === undefined) {
    throw new UserError("virt-p2v could not be copied to the conversion server (see the warning)");
  }
  return { path, sha256: own.info.sha256 };
}

function listingLine(l: StagedListing, now: number): string {
  const stamp = Date.parse(l.updated || l.created);
  const ageHours = Number.isNaN(stamp) ? undefined : (now - stamp) / 3_600_000;
  const age = ageHours === undefined
    ? "age unknown"
    : ageHours < 48
    ? `${ageHours.toFixed(1)} h old`
    : `${(ageHours / 24).toFixed(1)} days old`;
  const state = l.state === "precopy"
    ? "pre-copied"
    : l.state === "cutover"
    ? "cut over (kept)"
    : "incomplete";
  const disks = l.disks.map((d) => `${d.name} ${formatBytes(d.size)}`).join(", ");
  return `${l.name}: ${state}${l.inUse ? ", in use by a run now" : ""}, ${age}, ` +
    `${formatBytes(l.allocatedBytes)} on the server; disks ${disks}; machine ${
      l.machine || "unknown"
    }`;
}

export async function runStaged(req: StagedRunRequest): Promise<ConversionOutcome> {
  const { config, emit, link } = req;
  const session = link.session;
  const step = config.stage.step;
  const area = config.stage.dir!;
  const stagedDir = `${area}/${config.guestname}`;
  const failed = (message: string): ConversionOutcome => ({
    kind: "failed",
    stage: "conversion",
    message,
    remoteDir: stagedDir,
  });
  const bandwidth = req.bandwidth ??
    (config.bandwidthMbit > 0 ? new RateLimit(config.bandwidthMbit) : undefined);
  // Held from the staging area's check to the end: no other run opens it meanwhile.
  let lease: StagingRun | undefined;
  try {
    emit({ type: "phase", phase: "uploading", message: "Putting virt-p2v on the server ..." });
    const program = await ourProgramThere(session, req, bandwidth);
    const client = new StagingClient(
      session,
      program,
      area,
      config.guestname,
      req.timeouts.remoteCommandMs,
    );
    if (step === "list") {
      const listed = await client.list();
      const now = Date.now();
      for (const l of listed) emit({ type: "stage", message: listingLine(l, now) });
      const summary = `${listed.length} staged conversion${
        listed.length === 1 ? "" : "s"
      } in ${area}`;
      return { kind: "succeeded", remoteDir: area, logFile: "", summary };
    }
    if (step !== "precopy" && step !== "cutover") throw new UserError(`no stage step ${step}`);

    const sizes = await req.hashing!.disks;
    const binding = localBinding(await machineUuid(), req.facts, sizes);
    emit({
      type: "phase",
      phase: "syncing",
      message: step === "precopy"
        ? `Pre-copying the running machine into ${stagedDir} ...`
        : `Cutover: sending what changed since the pre-copy to ${stagedDir} ...`,
    });
    // The round trip is measured while the server checks the staging area.
    const [opened, rtt] = await Promise.all([
      client.open(binding, step),
      config.channels !== 0 ? undefined : measureRoundTrip(session, req.timeouts.remoteCommandMs),
    ]);
    lease = opened;
    const channels = config.channels !== 0 ? config.channels : channelsFor(rtt ?? 0);
    const results = await syncDisks({
      staging: opened,
      disks: sizes,
      channels: Math.max(2, channels),
      compress: config.compress,
      bandwidth,
      emit,
      signal: req.signal,
      // The server reads the staged image at disk speed: 20 MB/s is a slow disk.
      hashTimeoutMs: req.timeouts.remoteCommandMs +
        Math.max(...sizes.map((s) => s.size)) / 20_000,
      localHashes: await req.hashing!.hashes,
    });
    const sentBytes = results.reduce((n, r) => n + r.linkBytes, 0);
    const totalBytes = sizes.reduce((n, s) => n + s.size, 0);
    if (opened.refusal !== undefined) {
      emit({
        type: "warning",
        message: `${opened.refusal}: each of the staging area's channels started a command instead`,
      });
    }
    if (step === "precopy") {
      await opened.mark(step);
      const changed = results.reduce((n, r) => n + r.changedWhileSending, 0);
      const summary = `Pre-copy done: ${formatBytes(totalBytes)} staged in ${stagedDir} on the ` +
        `server (${formatBytes(sentBytes)} sent). The staged copy is NOT consistent: this ` +
        `machine kept running while it was read${
          changed > 0 ? ` (${changed} chunks changed meanwhile)` : ""
        }. ` +
        `Run the pre-copy again to bring it closer, then boot from the virt-p2v medium with ` +
        `p2v.stage=cutover to finish.`;
      return { kind: "succeeded", remoteDir: stagedDir, logFile: "", summary };
    }

    for (const r of results) {
      emit({
        type: "stage",
        message: `disk ${r.name}: verified: all ${r.chunks} chunks of the staged copy match the ` +
          `disk as hashed at cutover (${r.sent} sent, ${r.chunks - r.sent} already staged)`,
      });
    }
    // The conversion must be able to run before the machine that could redo the sync goes off.
    const fit = await req.server.catch((err) => {
      throw new UserError(
        `${describeError(err)}; the staged copy is in sync with the disks: once the server is ` +
          "fixed, run the cutover again (only what changes meanwhile will cross)",
      );
    });
    emit({
      type: "stage",
      released: true,
      message: `The staged copy is complete and verified (${formatBytes(sentBytes)} sent). ` +
        "The physical machine can now be switched off: the conversion runs on the server " +
        "from the staged copy.",
    });
    // Recording the state costs a command on the server; the machine need not wait for it.
    // Then the conversion's job takes the staged copy over from this run, and holds it
    // until virt-v2v ends, whether or not this machine is still there.
    const held = lease;
    lease = undefined;
    const marked = held.mark(step).catch((err) =>
      emit({
        type: "warning",
        message: `the staged copy's state could not be recorded: ${describeError(err)}`,
      })
    ).then(() => held.release());
    const outcome = await convertStaged({
      config: fit.config,
      facts: req.facts,
      link,
      capabilities: fit.capabilities,
      diagnostics: await req.diagnostics,
      stagedDir,
      dataBytes: totalBytes,
      emit,
      signal: req.signal,
      timeouts: req.timeouts,
    });
    await marked;
    if (outcome.kind === "succeeded") {
      if (config.stage.keep) {
        emit({
          type: "stage",
          message: `The staged copy is kept in ${stagedDir} (p2v.stage.keep)`,
        });
      } else {
        try {
          await client.remove();
          emit({ type: "stage", message: `The staged copy in ${stagedDir} was removed` });
        } catch (err) {
          emit({
            type: "warning",
            message: `the staged copy in ${stagedDir} could not be removed: ${describeError(err)}`,
          });
        }
      }
    }
    return outcome;
  } catch (err) {
    if (req.signal.aborted) return { kind: "cancelled", remoteDir: stagedDir };
    return failed(describeError(err));
  } finally {
    await lease?.release();
    if (req.bandwidth === undefined) bandwidth?.close();
  }
}
