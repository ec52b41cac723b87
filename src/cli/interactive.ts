/**
 * The interactive view (no `p2v.server`): the terminal dialog of
 * `src/screens`, running the same pipeline as the unattended run. Everything
 * that touches the network, the disks or the machine is here, handed to the
 * screens as functions.
 */
import { captureDiagnostics } from "../collect/diagnostics.ts";
import { collectHostFacts } from "../collect/host_facts.ts";
import type { DiskInfo, HostFacts } from "../collect/types.ts";
import type { CliOptions, Config } from "../config/types.ts";
import { connectToServer } from "../engine/connect.ts";
import { outcomeError } from "../engine/outcome.ts";
import { runPipeline } from "../engine/pipeline.ts";
import type { Timeouts } from "../engine/timeouts.ts";
import { describeError, UserError } from "../errors.ts";
import { probeDisk } from "../nbd/disk_size.ts";
import type { ExportStarter } from "../nbd/export.ts";
import { runDialog } from "../screens/dialog.ts";
import type { DialogDeps, DialogModel } from "../screens/model.ts";
import { chooseColourMode } from "../screens/paint.ts";
import { denoTerminal } from "../screens/terminal.ts";
import { Ui } from "../screens/ui.ts";
import {
  describeCaptured,
  describeTerminalRun,
  runCaptured,
  runOnTerminal,
} from "../system/run.ts";
import { PROGRAM, VERSION } from "../version.ts";
import { createNetworkTools } from "./network_tools.ts";

export interface InteractiveOptions {
  config: Config;
  /** What this machine gets with no `p2v.*` key at all. */
  detected: Config;
  facts: HostFacts;
  cli: CliOptions;
  env: (name: string) => string | undefined;
  timeouts: Timeouts;
  stdout: (text: string) => void;
  startExport: ExportStarter;
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
      extra.push({ name, sizeBytes: await probeDisk(name) });
    } catch { /* listed as "not found" */ }
  }
  return extra.length === 0 ? facts : { ...facts, disks: [...facts.disks, ...extra] };
}

/** Power off or reboot: flush the disks first; a failure says why. */
async function runMachineCommand(command: string): Promise<void> {
  await runCaptured("/bin/sh", ["-c", "sync"], { timeoutMs: 60_000 });
  const r = await runCaptured("/bin/sh", ["-c", command], { timeoutMs: 60_000, stderr: true });
  if (r.code !== 0) {
    const detail = r.stderr.trim().split("\n").pop() ?? "";
    throw new Error(`${describeCaptured(command, r)}${detail ? `: ${detail}` : ""}`);
  }
}

/** `$SHELL` on the terminal, or `/bin/sh` when that one cannot be started. */
export async function runInteractiveShell(shell: string): Promise<void> {
  // However the user's shell ended (exit, a signal), they are done with it:
  // only a shell that never started is replaced by /bin/sh.
  const first = await runOnTerminal(shell, []);
  if (first.started) return;
  if (shell === "/bin/sh") throw new Error(describeTerminalRun(shell, first));
  const fallback = await runOnTerminal("/bin/sh", []);
  if (!fallback.started) {
    throw new Error(
      `${describeTerminalRun(shell, first)}; ${describeTerminalRun("/bin/sh", fallback)}`,
    );
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
      connected.link.close();
      return connected.capabilities;
    },
    convert(req, emit, signal) {
      const run = structuredClone(req.config);
      // The conversion must reach the same server the test saw.
      if (req.hostKey && run.remote.hostKeys.length === 0) run.remote.hostKeys = [req.hostKey];
      return runPipeline({
        config: run,
        facts: opts.facts,
        timeouts,
        emit,
        signal,
        startExport: opts.startExport,
        captureDiagnostics: () => captureDiagnostics(),
        capabilities: req.capabilities,
        bandwidth: req.bandwidth,
      });
    },
    async refreshFacts() {
      const facts = await collectHostFacts();
      return await withPathDisks(
        testDiskOnly ? withoutMachineDisks(facts) : facts,
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
        await runInteractiveShell(shell);
      } catch (err) {
        opts.stdout(`Cannot start a shell: ${describeError(err)}\n`);
        await new Promise((r) => setTimeout(r, 2000));
      } finally {
        inShell = false;
        Deno.removeSignalListener("SIGINT", ignore);
      }
    },
    powerOff: () => runMachineCommand(commands.poweroff),
    reboot: () => runMachineCommand(commands.reboot),
  };

  const model: DialogModel = {
    config: structuredClone(config),
    detected: opts.detected,
    facts: await withPathDisks(
      testDiskOnly ? withoutMachineDisks(opts.facts) : opts.facts,
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
  const { outcome } = result;
  if (outcome.kind !== "succeeded") throw outcomeError(outcome, result.config);
  opts.stdout(
    `${PROGRAM}: conversion finished successfully; the log is in ${outcome.remoteDir} ` +
      `on the server\n`,
  );
  return 0;
}

/** With --test-disk, the image is the only disk: none of the machine's are listed, greyed or not. */
function withoutMachineDisks(facts: HostFacts): HostFacts {
  const { runningSystem: _running, diskGroups: _groups, ...rest } = facts;
  return { ...rest, disks: [], removable: [] };
}
