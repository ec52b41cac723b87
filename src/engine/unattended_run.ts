/**
 * An unattended run: a warning for each doubtful point of the disks chosen
 * (part of a volume group, the running system's disk), `p2v.pre`, a bounded
 * wait for the network, the pipeline, then `p2v.post` after success or
 * `p2v.fail` after anything else — exactly once, and without hiding why the
 * run failed.
 */
import { diskSelectionWarnings } from "../config/disk_selection.ts";
import { describeError } from "../errors.ts";
import type { EventSink } from "./events.ts";
import { runHook } from "./local_commands.ts";
import { waitForNetwork } from "./network_wait.ts";
import type { ConversionOutcome } from "./outcome.ts";
import { type PipelineRequest, runPipeline } from "./pipeline.ts";

/** Returns the outcome; throws a UserError only when `p2v.pre` or `p2v.post` fails. */
export async function runUnattendedConversion(req: PipelineRequest): Promise<ConversionOutcome> {
  const { config, emit } = req;
  // Said first, before anything is started: the user may still cancel.
  for (const message of diskSelectionWarnings(req.facts, config.disks, config.stage.step)) {
    emit({ type: "warning", message });
  }
  await runHook("p2v.pre", config.pre);
  if (!(await waitForNetwork(config.remote.server ?? "", req.timeouts.networkWaitMs))) {
    emit({ type: "warning", message: "the network did not come up in time; trying anyway" });
  }
  const outcome = await runPipeline(req);
  // A pre-copy runs on the live machine, a listing anywhere: neither may end
  // in p2v.post (a poweroff by default when booted from our medium).
  const converted = config.stage.step === "none" || config.stage.step === "cutover";
  if (outcome.kind === "succeeded" && converted) await runHook("p2v.post", config.post);
  else if (outcome.kind === "succeeded") {
    emit({ type: "debug", message: `p2v.post is not run after p2v.stage=${config.stage.step}` });
  } else await runFailHook(config.fail, emit);
  return outcome;
}

/** A failing `p2v.fail` is a warning: the run's own error is what the user must see. */
async function runFailHook(command: string | undefined, emit: EventSink): Promise<void> {
  try {
    await runHook("p2v.fail", command);
  } catch (err) {
    emit({ type: "warning", message: describeError(err) });
  }
}
