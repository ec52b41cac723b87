/**
 * Interactive mode (no `p2v.server`): the terminal dialog of `src/screens`,
 * wired to the same engine as the unattended run. Everything that touches
 * the network, the disks or the machine is here, handed to the screens as
 * functions.
 */
import { captureDiagnostics } from "../collect/diagnostics.ts";
import { collectHostFacts } from "../collect/host_facts.ts";
import type { DiskInfo, HostFacts } from "../collect/types.ts";
import type { CliOptions, Config } from "../config/types.ts";
import { connectToServer } from "../engine/connect.ts";
import { runConversion } from "../engine/conversion.ts";
import { probeSourceDisk } from "../engine/source_disk.ts";
import type { Timeouts } from "../engine/timeouts.ts";
import { describeError, UserError } from "../errors.ts";
import type { DiskExport } from "../nbd/export.ts";
import { runDialog } from "../screens/dialog.ts";
import type { DialogDeps, DialogModel } from "../screens/model.ts";
import { chooseColourMode } from "../screens/paint.ts";
import { denoTerminal } from "../screens/terminal.ts";
import { Ui } from "../screens/ui.ts";
import { PROGRAM, VERSION } from "../version.ts";
import { createNetworkTools } from "./network_tools.ts";

export interface InteractiveOptions {
  config: Config;
  facts: HostFacts;
  cli: CliOptions;
  env: (name: string) => string | undefined;
  timeouts: Timeouts;
  stdout: (text: string) => void;
  startExport: (path: string) => Promise<DiskExport>;
}

/** What Power off and Reboot run; the environment can replace them (tests, odd images). */
export function machineCommands(env: (name: string) => string | undefined): {
  poweroff: string;
  reboot: string;
} {
  return {
    poweroff: env("VIRT_P2V_POWEROFF_COMMAND") || "/sbin/poweroff",
    reboot: env("VIRT_P2V_REBOOT_COMMAND") || "/sbin/reboot",
  };
}

/** Image files and devices named by path in p2v.disks, described like found disks. */
export async function withPathDisks(facts: HostFacts, disks: string[]): Promise<HostFacts> {
  const extra: DiskInfo[] = [];
  for (const name of disks) {
    if (!name.startsWith("/") || facts.disks.some((d) => d.name === name)) continue;
    try {
      extra.push({ name, sizeBytes: await probeSourceDisk(name) });
    } catch { /* listed as "not found" */ }
  }
  return extra.length === 0 ? facts : { ...facts, disks: [...facts.disks, ...extra] };
}

async function runShellCommand(command: string): Promise<void> {
  await new Deno.Command("/bin/sh", { args: ["-c", "sync"], stdin: "null" }).output().catch(
    () => {},
  );
  const status = await new Deno.Command("/bin/sh", {
    args: ["-c", command],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!status.success) {
    const detail = new TextDecoder().decode(status.stderr).trim().split("\n").pop() ?? "";
    throw new Error(`${command} exited with status ${status.code}${detail ? `: ${detail}` : ""}`);
  }
}

export async function runInteractive(opts: InteractiveOptions): Promise<number> {
  const { config, cli, env, timeouts } = opts;
  if (!Deno.stdin.isTerminal() || !Deno.stdout.isTerminal()) {
    throw new UserError(
      "the interactive dialog needs a terminal; run virt-p2v on a console or an SSH login " +
        "with a terminal, or give p2v.server=… for an unattended conversion",
    );
  }
  const commands = machineCommands(env);
  let inShell = false;
  const testDiskOnly = cli.testDisk !== undefined;

  const deps: DialogDeps = {
    version: VERSION,
    iso: cli.iso,
    fixedDisks: testDiskOnly,
    async testConnection(candidate, emit) {
      const connected = await connectToServer(candidate, emit, timeouts);
      connected.session.close();
      return connected.capabilities;
    },
    async convert(req, emit, signal) {
      const run = structuredClone(req.config);
      // The conversion must reach the same server the test saw.
      if (req.hostKey && run.remote.hostKeys.length === 0) run.remote.hostKeys = [req.hostKey];
      const diagnostics = captureDiagnostics();
      let connected;
      try {
        if (signal.aborted) return { kind: "cancelled" };
        connected = await connectToServer(run, emit, timeouts, {
          skipTest: req.capabilities !== undefined || run.skipTestConnection,
        });
      } catch (err) {
        return {
          kind: "failed",
          message: `error opening control connection to ${run.remote.server}:${run.remote.port}: ${
            describeError(err)
          }`,
        };
      }
      try {
        return await runConversion({
          config: run,
          facts: opts.facts,
          session: connected.session,
          capabilities: req.capabilities ?? connected.capabilities,
          diagnostics: await diagnostics,
          startExport: opts.startExport,
          emit,
          signal,
          timeouts,
        });
      } finally {
        connected.session.close();
      }
    },
    async refreshFacts() {
      const facts = await collectHostFacts();
      return await withPathDisks(
        testDiskOnly ? { ...facts, disks: [], removable: [] } : facts,
        config.disks,
      );
    },
    network: createNetworkTools(),
    async runShell() {
      const shell = env("SHELL") || "/bin/sh";
      opts.stdout(`Starting ${shell}. Type "exit" to return to ${PROGRAM}.\n`);
      // With a shell in front, Ctrl-C belongs to it, not to us.
      const ignore = () => {};
      Deno.addSignalListener("SIGINT", ignore);
      inShell = true;
      try {
        const spawn = (cmd: string) =>
          new Deno.Command(cmd, { stdin: "inherit", stdout: "inherit", stderr: "inherit" }).spawn()
            .status;
        await spawn(shell).catch(() => spawn("/bin/sh"));
      } catch (err) {
        opts.stdout(`Cannot start a shell: ${describeError(err)}\n`);
        await new Promise((r) => setTimeout(r, 2000));
      } finally {
        inShell = false;
        Deno.removeSignalListener("SIGINT", ignore);
      }
    },
    powerOff: () => runShellCommand(commands.poweroff),
    reboot: () => runShellCommand(commands.reboot),
  };

  const model: DialogModel = {
    config: structuredClone(config),
    facts: await withPathDisks(
      testDiskOnly ? { ...opts.facts, disks: [], removable: [] } : opts.facts,
      config.disks,
    ),
  };

  const ui = new Ui(denoTerminal(), chooseColourMode(env, cli.colours));
  let cancelRunning: (() => void) | undefined;
  // SIGTERM/SIGINT from outside: cancel a running conversion (the screens
  // show it ending), otherwise give the terminal back and stop.
  const onSignal = () => {
    if (inShell) return;
    if (cancelRunning) {
      cancelRunning();
      return;
    }
    ui.close();
    Deno.exit(1);
  };
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGHUP"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  ui.open();
  let result;
  try {
    result = await runDialog(ui, model, deps, { onRunning: (c) => cancelRunning = c });
  } finally {
    ui.close();
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }

  if (result.kind === "quit") {
    throw new UserError("the dialog was closed before a conversion; nothing was converted");
  }
  const outcome = result.outcome;
  switch (outcome.kind) {
    case "succeeded":
      opts.stdout(
        `${PROGRAM}: conversion finished successfully; the log is in ${outcome.remoteDir} on the server\n`,
      );
      return 0;
    case "cancelled":
      throw new UserError("cancelled by user", { prefix: "error during conversion: " });
    case "failed":
      // A connection that failed already says so ("error opening control connection to …").
      throw new UserError(outcome.message, {
        prefix: outcome.message.startsWith("error opening") ? "" : "error during conversion: ",
      });
  }
}
