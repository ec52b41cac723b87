/** The dialog as the tmux tests start and drive it. */
import { fileURLToPath } from "node:url";
import type { TmuxSession } from "./tmux.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
/** Where the dialog runs (the repository, as `deno task start` runs it). */
export const REPO = fileURLToPath(new URL("../..", import.meta.url));

/** The argv of the program from the sources with these `p2v.*` keys. */
export function dialogProgram(cmdline: string, extra: string[] = []): string[] {
  return [Deno.execPath(), "run", "--allow-all", "--quiet", MAIN, `--cmdline=${cmdline}`, ...extra];
}

/**
 * From the connection screen, the rest pre-filled, to the settings: the
 * server typed in, the connection tested, Next.
 */
export async function connectToSettings(tmux: TmuxSession): Promise<void> {
  await tmux.focus(/^>Conversion server/m, "BTab");
  await tmux.type("127.0.0.1");
  await tmux.focus(/\[>Test connection<\]/);
  await tmux.keys("Enter");
  await tmux.waitFor("Connected to the conversion server");
  await tmux.keys("Enter");
  await tmux.waitFor("Conversion settings");
}
