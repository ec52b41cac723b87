/**
 * Kernel mode (SPEC §5–§6, §10): one unattended conversion, driven by the
 * configuration alone, reported as text, ending in `p2v.post` or `p2v.fail`.
 */
import type { HostFacts } from "../collect/types.ts";
import type { Config } from "../config/types.ts";
import { type ConnectedServer, connectToServer } from "../engine/connect.ts";
import { runConversion } from "../engine/conversion.ts";
import type { EventSink } from "../engine/events.ts";
import { runHook } from "../engine/local_commands.ts";
import { waitForNetwork } from "../engine/network_wait.ts";
import type { Timeouts } from "../engine/timeouts.ts";
import { describeError, UserError } from "../errors.ts";
import type { DiskExport } from "../nbd/export.ts";

export interface UnattendedDeps {
  config: Config;
  facts: HostFacts;
  emit: EventSink;
  timeouts: Timeouts;
  captureDiagnostics: () => Promise<Record<string, string | undefined>>;
  startExport: (path: string) => Promise<DiskExport>;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}

/** Returns normally on success; throws a UserError (already carrying SPEC's prefix) otherwise. */
export async function runUnattended(deps: UnattendedDeps): Promise<void> {
  const { config, emit } = deps;
  await runHook("p2v.pre", config.pre);

  const server = config.remote.server!;
  if (!(await waitForNetwork(server, deps.timeouts.networkWaitMs))) {
    emit({ type: "warning", message: "the network did not come up in time; trying anyway" });
  }
  // Each failure path below runs p2v.fail exactly once, then throws its own
  // error: a failing p2v.fail must not hide why the conversion failed.
  const runFailHook = () =>
    runHook("p2v.fail", config.fail).catch((err) =>
      emit({ type: "warning", message: describeError(err) })
    );

  let connected: ConnectedServer;
  let diagnostics: Promise<Record<string, string | undefined>>;
  try {
    if (deps.signal.aborted) throw new UserError("cancelled by user");
    diagnostics = deps.captureDiagnostics();
    connected = await connectToServer(config, emit, deps.timeouts, {
      skipTest: config.skipTestConnection,
    });
  } catch (err) {
    // SPEC §5: a failed test connection ends an unattended run with this prefix.
    const message = describeError(err);
    emit({ type: "failed", message });
    await runFailHook();
    throw new UserError(message, {
      prefix: `error opening control connection to ${server}:${config.remote.port}: `,
    });
  }

  const outcome = await runConversion({
    config,
    facts: deps.facts,
    session: connected.session,
    capabilities: connected.capabilities,
    diagnostics: await diagnostics,
    startExport: deps.startExport,
    emit,
    signal: deps.signal,
    timeouts: deps.timeouts,
  }).finally(() => connected.session.close());

  switch (outcome.kind) {
    case "succeeded":
      emit({ type: "finished", remoteDir: outcome.remoteDir });
      await runHook("p2v.post", config.post);
      return;
    case "cancelled":
      emit({ type: "cancelled", remoteDir: outcome.remoteDir });
      await runFailHook();
      throw new UserError("cancelled by user", { prefix: "error during conversion: " });
    case "failed":
      emit({ type: "failed", message: outcome.message, remoteDir: outcome.remoteDir });
      await runFailHook();
      throw new UserError(outcome.message, { prefix: "error during conversion: " });
  }
}
