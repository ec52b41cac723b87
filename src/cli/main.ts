/**
 * The program: parse options and the kernel command line, learn the machine,
 * then dump the config, convert unattended, or start the dialog.
 */
import { collectHostFacts } from "../collect/host_facts.ts";
import { longOptionList, parseCli, shortOptionList, usageText } from "../config/cli.ts";
import { dumpConfig } from "../config/dump.ts";
import { settingsProblems } from "../config/output_rules.ts";
import { overridesFromCmdline } from "../config/kernel_keys.ts";
import { resolveConfig, type ResolveContext } from "../config/resolve.ts";
import { timeoutsFromEnv } from "../engine/timeouts.ts";
import { describeError, UserError } from "../errors.ts";
import { chooseNbdBackend, nbdExportStarter } from "../nbd/backends.ts";
import { randomString } from "../system/random.ts";
import { terminalText } from "../text/ansi.ts";
import { nameThisProcess } from "../system/process_name.ts";
import { closeLauncherFiles } from "../system/launcher_files.ts";
import { PROGRAM, VERSION } from "../version.ts";
import { runInteractive } from "./interactive.ts";
import { runUnattended } from "./unattended.ts";
import { DISK_FANOUT_FLAG, runDiskFanout } from "./disk_fanout.ts";
import { runStageServer, STAGE_FLAG } from "./stage_server.ts";

const PROC_CMDLINE = "/proc/cmdline";

export interface MainIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: (name: string) => string | undefined;
  isTerminal: boolean;
}

const encoder = new TextEncoder();
const DEFAULT_IO: MainIo = {
  stdout: (text) => writeAll(Deno.stdout, text),
  stderr: (text) => writeAll(Deno.stderr, text),
  env: (name) => Deno.env.get(name),
  isTerminal: Deno.stdout.isTerminal(),
};

function writeAll(file: { writeSync(p: Uint8Array): number }, text: string): void {
  let data = encoder.encode(text);
  while (data.length > 0) data = data.subarray(file.writeSync(data));
}

/** Runs the program and returns its exit code; never throws. */
export async function main(args: string[], io: MainIo = DEFAULT_IO): Promise<number> {
  try {
    return await runProgram(args, io);
  } catch (err) {
    // The reason may be the server's words (an SSH disconnect, a lost link):
    // it is printed as text, never as escape sequences.
    if (err instanceof UserError) {
      io.stderr(terminalText(`${PROGRAM}: ${err.prefix}${err.message}`) + "\n");
      return err.exitCode;
    }
    // A bug of ours: still one line for the user, the stack only on request.
    io.stderr(terminalText(`${PROGRAM}: error: internal error: ${describeError(err)}`) + "\n");
    if (io.env("VIRT_P2V_DEBUG") && err instanceof Error) {
      io.stderr((err.stack ?? "").split("\n").map((l) => terminalText(l) + "\n").join(""));
    }
    return 1;
  }
}

async function runProgram(args: string[], io: MainIo): Promise<number> {
  // Started by the single file's launcher: named after the loader's memfd,
  // and holding its in-memory files open.
  if (io.env("VIRT_P2V_BUILD")) {
    closeLauncherFiles();
    nameThisProcess(PROGRAM);
  }
  // The server side, started by the job script on the conversion server.
  if (args[0] === DISK_FANOUT_FLAG) return await runDiskFanout(args.slice(1), io.stderr);
  if (args[0] === STAGE_FLAG) return await runStageServer(args.slice(1));
  const cli = parseCli(args);
  if (cli.help) {
    io.stdout(usageText());
    return 0;
  }
  if (cli.version) {
    io.stdout(`${PROGRAM} ${VERSION}\n`);
    // Set by the single file's launcher: what it carries (tools/single-file).
    const build = io.env("VIRT_P2V_BUILD");
    if (build) io.stdout(`single file: ${terminalText(build)}\n`);
    return 0;
  }
  if (cli.longOptions || cli.shortOptions) {
    const list = cli.longOptions ? longOptionList() : shortOptionList();
    io.stdout(list.map((o) => o + "\n").join(""));
    return 0;
  }

  const fromProcCmdline = cli.cmdline === undefined;
  const cmdlineText = cli.cmdline ?? await readProcCmdline();
  const { overrides, warnings } = overridesFromCmdline(cmdlineText);
  for (const w of warnings) io.stderr(`${PROGRAM}: warning: ${w}\n`);

  const facts = await collectHostFacts();
  // One random guest name for both resolutions below, so that the dialog
  // can tell a name it was given from the one this machine got by default.
  const randomName = randomString(8);
  const resolveContext: ResolveContext = {
    testDisk: cli.testDisk,
    fromProcCmdline,
    isRoot: Deno.uid() === 0,
    randomName: () => randomName,
  };
  const config = resolveConfig(overrides, facts, {
    ...resolveContext,
    warn: (message) => io.stderr(`${PROGRAM}: warning: ${message}\n`),
  });

  if (config.dumpConfigAndExit) {
    io.stdout(dumpConfig(config));
    // The dump shows what was read; settings a conversion would refuse still fail it.
    const problem = settingsProblems(config)[0];
    if (problem) throw new UserError(problem.message);
    return 0;
  }

  // Both modes need these; an unusable p2v.nbd or VIRT_P2V_TIMEOUTS fails here, before any work.
  const timeouts = timeoutsFromEnv(io.env("VIRT_P2V_TIMEOUTS"));
  const startExport = nbdExportStarter(chooseNbdBackend(config.nbd));

  if (!config.remote.server) {
    return await runInteractive({
      config,
      // What this machine gets with no p2v.* key: the finished screen's kernel
      // line leaves out what still equals it.
      detected: resolveConfig({}, facts, resolveContext),
      facts,
      cli,
      env: io.env,
      timeouts,
      stdout: io.stdout,
      startExport,
    });
  }

  return await runUnattended({
    config,
    facts,
    timeouts,
    startExport,
    write: io.stdout,
    writeError: io.stderr,
    colours: cli.colours || (io.isTerminal && !io.env("NO_COLOR")),
    verbose: cli.verbose,
  });
}

async function readProcCmdline(): Promise<string> {
  try {
    return await Deno.readTextFile(PROC_CMDLINE);
  } catch (err) {
    throw new UserError(
      `cannot read ${PROC_CMDLINE} (${describeError(err)}); use --cmdline="p2v.server=…"`,
    );
  }
}
