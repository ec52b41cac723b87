/**
 * The order of the screens: Connection (with Network, Shell, About) →
 * Conversion settings → Summary → Running → Finished. Back from the
 * settings returns to the connection with everything kept; Back from the
 * summary, or from a failed conversion, returns to the settings, to change
 * something and convert (again).
 */
import { kernelLine } from "../config/kernel_line.ts";
import type { Config } from "../config/types.ts";
import type { ConversionOutcome } from "../engine/outcome.ts";
import { conversionSummary } from "../report/conversion_summary.ts";
import { ConnectionScreen } from "./connection.ts";
import { FinishedScreen } from "./finished.ts";
import type { DialogDeps, DialogModel } from "./model.ts";
import { NetworkScreen } from "./network.ts";
import { RunningScreen } from "./running.ts";
import { SettingsScreen } from "./settings.ts";
import { SummaryScreen } from "./summary.ts";
import type { Ui } from "./ui.ts";

export type DialogResult =
  | { kind: "quit" }
  /** The last conversion, and the settings it ran with. */
  | { kind: "converted"; outcome: ConversionOutcome; config: Config };

export interface DialogHooks {
  /** Lets the caller cancel a running conversion (SIGTERM) — set while one runs. */
  onRunning?: (cancel: (() => void) | undefined) => void;
}

export async function runDialog(
  ui: Ui,
  model: DialogModel,
  deps: DialogDeps,
  hooks: DialogHooks = {},
): Promise<DialogResult> {
  const connection = new ConnectionScreen(model, deps);
  let settings: SettingsScreen | undefined;
  let at: "connection" | "settings" = "connection";
  while (true) {
    if (at === "connection") {
      const c = await ui.run(connection);
      if (c.kind === "quit") return { kind: "quit" };
      if (c.kind === "network") {
        await ui.run(new NetworkScreen(deps));
        continue;
      }
      if (c.kind === "shell") {
        await ui.suspend(() => deps.runShell());
        continue;
      }
      at = "settings";
    }

    settings ??= new SettingsScreen(model, deps);
    settings.updateCapabilities();
    const s = await ui.run(settings);
    if (s.kind === "quit") return { kind: "quit" };
    if (s.kind === "back") {
      at = "connection";
      continue;
    }
    // What goes where, checked before anything is exported; Back keeps the settings as they are.
    const summary = conversionSummary({
      config: model.config,
      facts: model.facts,
      capabilities: model.capabilities,
      hostKey: model.hostKey,
    });
    const confirmed = await ui.run(new SummaryScreen(summary, deps.version));
    if (confirmed === "quit") return { kind: "quit" };
    if (confirmed === "back") continue;

    const config = structuredClone(model.config);
    const running = new RunningScreen(
      { config, capabilities: model.capabilities, hostKey: model.hostKey },
      deps,
    );
    hooks.onRunning?.(() => running.cancel());
    const result = await ui.run(running);
    hooks.onRunning?.(undefined);
    const repeat = kernelLine({ config, detected: model.detected, seenHostKey: model.hostKey });
    const action = await ui.run(new FinishedScreen(result, config, deps, repeat));
    // Back from a failure: the settings again, everything as it was.
    if (action === "back") continue;
    return { kind: "converted", outcome: result.outcome, config };
  }
}
