/**
 * `p2v.pre`, `p2v.post` and `p2v.fail`: commands run on THIS machine through
 * `sh -c`, with the terminal inherited so the user sees what they print.
 */
import { UserError } from "../errors.ts";

export type HookName = "p2v.pre" | "p2v.post" | "p2v.fail";

/** Run `command` unless it is unset or empty (empty means "run nothing"). */
export async function runHook(name: HookName, command: string | undefined): Promise<void> {
  if (command === undefined || command.trim() === "") return;
  let status: Deno.CommandStatus;
  try {
    status = await new Deno.Command("/bin/sh", {
      args: ["-c", command],
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).output();
  } catch {
    throw new UserError(`${name}: unexpected failure of external command`);
  }
  if (!status.success) throw new UserError(`${name}: unexpected failure of external command`);
}
