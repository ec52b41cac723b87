/**
 * The unattended view (kernel mode): the engine's events as lines of text
 * on the console, SIGINT/SIGTERM as a cancel, the outcome as the exit code.
 */
import { captureDiagnostics } from "../collect/diagnostics.ts";
import type { HostFacts } from "../collect/types.ts";
import { settingsProblems } from "../config/output_rules.ts";
import type { Config } from "../config/types.ts";
import { runUnattendedConversion } from "../engine/unattended_run.ts";
import { outcomeError } from "../engine/outcome.ts";
import type { Timeouts } from "../engine/timeouts.ts";
import { UserError } from "../errors.ts";
import type { ExportStarter } from "../nbd/export.ts";
import { createTextReporter } from "../report/text_reporter.ts";
import { PROGRAM } from "../version.ts";

export interface UnattendedOptions {
  config: Config;
  facts: HostFacts;
  timeouts: Timeouts;
  startExport: ExportStarter;
  write: (text: string) => void;
  writeError: (text: string) => void;
  colours: boolean;
  verbose: boolean;
}

/**
 * Returns 0 after a successful conversion; throws the run's UserError otherwise.
 * Settings that break a rule needing no server fail here, before any hook
 * runs or anything is connected.
 */
export async function runUnattended(opts: UnattendedOptions): Promise<number> {
  const problem = settingsProblems(opts.config)[0];
  if (problem) throw new UserError(problem.message);
  const emit = createTextReporter({
    write: opts.write,
    colours: opts.colours,
    verbose: opts.verbose,
    config: opts.config,
  });
  const cancel = new AbortController();
  const onSignal = () => {
    opts.writeError(`${PROGRAM}: cancelling the conversion ...\n`);
    cancel.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const outcome = await runUnattendedConversion({
      config: opts.config,
      facts: opts.facts,
      timeouts: opts.timeouts,
      emit,
      signal: cancel.signal,
      startExport: opts.startExport,
      captureDiagnostics: () => captureDiagnostics(),
    });
    const error = outcomeError(outcome, opts.config);
    if (error) throw error;
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}
