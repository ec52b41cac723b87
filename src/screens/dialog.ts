/**
 * The order of the screens: Connection (with Network, Shell, About) →
 * Conversion settings → Running → Finished. Back from the settings returns
 * to the connection with everything kept.
 */
import type { ConversionOutcome } from "../engine/conversion.ts";
import { ConnectionScreen } from "./connection.ts";
import { type FinishedAction, FinishedScreen } from "./finished.ts";
import type { DialogDeps, DialogModel } from "./model.ts";
import { NetworkScreen } from "./network.ts";
import { RunningScreen } from "./running.ts";
import { SettingsScreen } from "./settings.ts";
import type { Ui } from "./ui.ts";

export type DialogResult =
  | { kind: "quit" }
  | { kind: "converted"; outcome: ConversionOutcome; action: FinishedAction };

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
  while (true) {
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

    settings ??= new SettingsScreen(model, deps);
    settings.updateCapabilities();
    const s = await ui.run(settings);
    if (s.kind === "quit") return { kind: "quit" };
    if (s.kind === "back") continue;

    const config = structuredClone(model.config);
    const running = new RunningScreen(
      { config, capabilities: model.capabilities, hostKey: model.hostKey },
      deps,
    );
    hooks.onRunning?.(() => running.cancel());
    const result = await ui.run(running);
    hooks.onRunning?.(undefined);
    const action = await ui.run(new FinishedScreen(result, config, deps));
    return { kind: "converted", outcome: result.outcome, action };
  }
}
