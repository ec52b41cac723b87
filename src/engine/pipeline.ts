/**
 * The one conversion pipeline both views run: check that the disks can be
 * read, capture the diagnostics while connecting, connect and test, convert,
 * close — ending in an outcome, never an exception. The unattended run wraps
 * it in the `p2v.*` hooks (`unattended_run.ts`); the dialog calls it from its
 * Running screen.
 */
import type { HostFacts } from "../collect/types.ts";
import { serverOutputName, serverProblems } from "../config/output_rules.ts";
import type { Config } from "../config/types.ts";
import { describeError } from "../errors.ts";
import type { ExportStarter } from "../nbd/export.ts";
import { type ServerCapabilities, ServerUnfitError } from "../remote/virt_v2v_probe.ts";
import { connectToServer, type ServerFit, type SessionOpener, testServer } from "./connect.ts";
import { runConversion } from "./conversion.ts";
import {
  beginLocalHashing,
  type LocalHashing,
  runStaged,
  stageSettingsProblem,
} from "./staged_run.ts";
import { unreadableDisks } from "./disk_access.ts";
import type { EventSink } from "./events.ts";
import type { ConversionOutcome } from "./outcome.ts";
import type { Timeouts } from "./timeouts.ts";
import type { RateLimit } from "../net/rate_limit.ts";

export interface PipelineRequest {
  config: Config;
  facts: HostFacts;
  timeouts: Timeouts;
  emit: EventSink;
  /** Aborting it cancels the run, at whatever stage it is. */
  signal: AbortSignal;
  startExport: ExportStarter;
  /** dmesg, lscpu, …: captured while the connection is made, uploaded for diagnosis. */
  captureDiagnostics: () => Promise<Record<string, string | undefined>>;
  /** Known from an earlier test of this server (the dialog's): the test is not repeated. */
  capabilities?: ServerCapabilities;
  open?: SessionOpener;
  /** The bandwidth cap, when the caller changes it while the disks are copied (the dialog). */
  bandwidth?: RateLimit;
}

export async function runPipeline(req: PipelineRequest): Promise<ConversionOutcome> {
  const { emit } = req;
  const outcome = await connectAndConvert(req);
  switch (outcome.kind) {
    case "succeeded":
      emit({ type: "finished", remoteDir: outcome.remoteDir, summary: outcome.summary });
      break;
    case "cancelled":
      emit({ type: "cancelled", remoteDir: outcome.remoteDir });
      break;
    case "failed":
      emit({ type: "failed", message: outcome.message, remoteDir: outcome.remoteDir });
      break;
  }
  return outcome;
}

async function connectAndConvert(req: PipelineRequest): Promise<ConversionOutcome> {
  const { config, signal } = req;
  if (signal.aborted) return { kind: "cancelled" };
  const stageProblem = stageSettingsProblem(config);
  if (stageProblem !== undefined) return { kind: "failed", stage: "server", message: stageProblem };
  const diskProblem = config.stage.step === "list"
    ? undefined
    : await unreadableDisks(config.disks, req.facts.disks.map((d) => d.name));
  if (diskProblem !== undefined) return { kind: "failed", stage: "disks", message: diskProblem };
  const diagnostics = req.captureDiagnostics();
  // A pre-copy's or a cutover's hashing of this machine's disks needs no server: it starts now,
  // and stops when the run is cancelled or ends before it is needed.
  const hashing = beginLocalHashing(config);
  const stopHashing = () => hashing?.stop();
  signal.addEventListener("abort", stopHashing);
  try {
    return await convertOnServer(req, diagnostics, hashing);
  } finally {
    signal.removeEventListener("abort", stopHashing);
    stopHashing();
  }
}

/** Connect and test (or not, see testLater), then the run itself; the session is closed at the end. */
async function convertOnServer(
  req: PipelineRequest,
  diagnostics: Promise<Record<string, string | undefined>>,
  hashing: LocalHashing | undefined,
): Promise<ConversionOutcome> {
  const { config, emit, signal } = req;
  // A cutover tests virt-v2v while the disks sync: the machine's downtime need not wait for it.
  const testLater = config.stage.step === "cutover" && req.capabilities === undefined &&
    !config.skipTestConnection;
  let connected;
  try {
    connected = await connectToServer(config, emit, req.timeouts, {
      skipTest: testLater || req.capabilities !== undefined || config.skipTestConnection,
      signal,
      open: req.open,
      // A conversion that can reconnect must notice a dead link in a minute, not half an hour.
      keepalive: config.reconnectSeconds > 0
        ? {
          intervalMs: req.timeouts.linkKeepaliveIntervalMs,
          countMax: req.timeouts.linkKeepaliveCountMax,
        }
        : undefined,
    });
  } catch (err) {
    if (signal.aborted) return { kind: "cancelled" };
    const stage = err instanceof ServerUnfitError ? "server" : "connect";
    return { kind: "failed", stage, message: describeError(err) };
  }
  const link = connected.link;
  const fitted = fitServer(
    config,
    testLater
      ? testServer(link.session, config, emit, req.timeouts)
      : Promise.resolve(req.capabilities ?? connected.capabilities),
  );
  try {
    if (testLater) {
      fitted.catch(() => {}); // the cutover awaits it before it says the machine may go off
    } else {
      const unfit = await fitted.then(() => undefined, (err: unknown) => err);
      if (unfit !== undefined) {
        if (signal.aborted) return { kind: "cancelled" };
        return { kind: "failed", stage: "server", message: describeError(unfit) };
      }
    }
    if (config.stage.step !== "none") {
      return await runStaged({
        config,
        server: fitted,
        facts: req.facts,
        link,
        diagnostics,
        emit,
        signal,
        timeouts: req.timeouts,
        bandwidth: req.bandwidth,
        hashing,
      });
    }
    const fit = await fitted;
    return await runConversion({
      config: fit.config,
      facts: req.facts,
      link,
      capabilities: fit.capabilities,
      diagnostics: await diagnostics,
      startExport: req.startExport,
      emit,
      signal,
      timeouts: req.timeouts,
      bandwidth: req.bandwidth,
    });
  } finally {
    link.close();
  }
}

/**
 * The tested server's fit for `config`: rejects with the first rule that
 * needs the server's list of outputs and fails.
 */
async function fitServer(
  config: Config,
  tested: Promise<ServerCapabilities>,
): Promise<ServerFit> {
  const capabilities = await tested;
  const problem = serverProblems(config.output, capabilities.outputs)[0];
  if (problem) throw new ServerUnfitError(problem.message);
  return { capabilities, config: withServerOutputName(config, capabilities.outputs) };
}

/**
 * The config with `-o` as this server spells it: `-o disk` for a virt-v2v
 * 2.2 is `-o local`, which every release reads.
 */
function withServerOutputName(config: Config, offered: readonly string[]): Config {
  const type = serverOutputName(config.output.type, offered) ?? config.output.type;
  return type === config.output.type ? config : { ...config, output: { ...config.output, type } };
}
