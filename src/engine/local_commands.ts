/**
 * `p2v.pre`, `p2v.post` and `p2v.fail`: commands run on THIS machine through
 * `sh -c`, with the terminal inherited so the user sees what they print.
 */
import { UserError } from "../errors.ts";
import { describeTerminalRun, runOnTerminal } from "../system/run.ts";

export type HookName = "p2v.pre" | "p2v.post" | "p2v.fail";

/** Run `command` unless it is unset or empty (empty means "run nothing"). */
export async function runHook(name: HookName, command: string | undefined): Promise<void> {
  if (command === undefined || command.trim() === "") return;
  const run = await runOnTerminal("/bin/sh", ["-c", command]);
  if (!run.started || run.signal !== null || run.code !== 0) {
    throw new UserError(
      `${name}: unexpected failure of external command (${describeTerminalRun("sh", run)})`,
    );
  }
}
