/**
 * Before any disk is exported: does the server have where virt-v2v will
 * write? A missing pool, network or directory ends the run here, in one
 * line naming what the server does have; a doubt (no virsh, little space)
 * is a warning and the run goes on.
 */
import type { Config } from "../config/types.ts";
import { judgeOutputTarget, outputTarget, outputTargetCommand } from "../remote/output_target.ts";
import { UserError } from "../errors.ts";
import type { RemoteSession } from "../net/session.ts";
import type { EventSink } from "./events.ts";

/** The server lacks what the output settings name: nothing has been exported yet. */
export class OutputTargetError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = "OutputTargetError";
  }
}

/**
 * `dataBytes`: what the selected disks hold (undefined when one of them
 * cannot tell); the output needs about that much room.
 */
export async function checkOutputTarget(
  session: RemoteSession,
  config: Config,
  emit: EventSink,
  timeoutMs: number,
  dataBytes: number | undefined,
): Promise<void> {
  const target = outputTarget(config);
  if (target === undefined) return;
  const command = outputTargetCommand(target, {
    sudo: config.auth.sudo,
    timeoutSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)),
  });
  const r = await session.exec(command, { timeoutMs, what: "the output check" });
  const verdict = judgeOutputTarget(target, r.stdout, dataBytes);
  for (const message of verdict.warnings) emit({ type: "warning", message });
  if (verdict.error !== undefined) throw new OutputTargetError(verdict.error);
}
