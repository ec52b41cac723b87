/**
 * The "test connection" of SPEC §5: which virt-v2v the server has, what it
 * can do, and whether it lets us open reverse forwards.
 */
import { virtV2vProbeCommand } from "../convert/remote_commands.ts";
import { describeError, UserError } from "../errors.ts";
import { terminalText } from "../text/ansi.ts";
import type { RemoteSession } from "./session.ts";

export interface ServerCapabilities {
  /** The version string virt-v2v printed, e.g. `2.2.0`. */
  version: string;
  /** Pass `--colours` to virt-v2v. */
  coloursOption: boolean;
  inputs: string[];
  /** `-o` modes usable from virt-p2v (without `vdsm` and `rhv-upload`). */
  outputs: string[];
}

/** Output modes that make no sense when the source is a physical machine. */
const HIDDEN_OUTPUTS = new Set(["vdsm", "rhv-upload"]);

const REMOTE_COMMAND_TIMEOUT_MS = 120_000;

/**
 * virt-v2v knows about a dozen input and output modes, each a short word.
 * More, or longer, is not a virt-v2v we can work with: the lists become
 * choices in the dialog and a line on the console, so they are cut here.
 */
const MAX_MODES = 64;
const MAX_MODE_NAME = 64;

/** Run one probe; a probe that outlives its bound is an error that says which one. */
async function probe(
  session: RemoteSession,
  args: string,
  opts: { sudo: boolean; timeoutMs: number },
): Promise<string> {
  const seconds = Math.max(1, Math.ceil(opts.timeoutMs / 1000));
  try {
    const command = virtV2vProbeCommand([args], { sudo: opts.sudo, timeoutSeconds: seconds });
    const run = await session.exec(command, {
      what: `virt-v2v ${args}`,
      // A little longer than the server-side bound, so that one fires first.
      timeoutMs: opts.timeoutMs + 5_000,
    });
    if (run.code === 124) throw new Error("timed out");
    return run.stdout;
  } catch (err) {
    if (err instanceof UserError) throw err;
    if (/timed out|did not finish/.test(describeError(err))) {
      throw new UserError(
        `"virt-v2v ${args}" on the conversion server did not finish within ${seconds} s; ` +
          `check that virt-v2v works there`,
      );
    }
    throw err;
  }
}

export async function probeServer(
  session: RemoteSession,
  opts: { sudo: boolean; username: string; timeoutMs?: number },
): Promise<ServerCapabilities> {
  const timeoutMs = opts.timeoutMs ?? REMOTE_COMMAND_TIMEOUT_MS;
  const version = parseVersionOutput(
    await probe(session, "--version", { sudo: opts.sudo, timeoutMs }),
    opts,
  );
  const caps = parseMachineReadable(
    await probe(session, "--machine-readable", { sudo: opts.sudo, timeoutMs }),
  );
  return { version, ...caps };
}

/** Check `virt-v2v --version` output against SPEC §5 and return the version. */
export function parseVersionOutput(
  text: string,
  opts: { sudo: boolean; username: string },
): string {
  if (opts.sudo && /sudo:.*(password is required|terminal is required)/i.test(text)) {
    throw new UserError(
      `sudo for user "${opts.username}" requires a password. Edit /etc/sudoers on the ` +
        `conversion server to ensure the "NOPASSWD:" option is set for this user.`,
    );
  }
  if (opts.sudo && /sudo: (command )?not found|sudo: No such file/i.test(text)) {
    throw new UserError(
      "p2v.sudo is set but sudo is not installed on the conversion server; " +
        "install sudo there or log in as root without p2v.sudo",
    );
  }
  const match = /^virt-v2v\s+(\d+)\.(\d+)(\.\d+)?\S*/m.exec(text);
  if (!match) {
    throw new UserError(
      "virt-v2v is not installed on the conversion server, or it might be a too old version.",
    );
  }
  const major = Number(match[1]);
  const minor = Number(match[2]);
  const version = `${match[1]}.${match[2]}${match[3] ?? ""}`;
  if (major !== 1 && major !== 2) {
    throw new UserError(
      `virt-v2v major version is ${major} (found virt-v2v ${version}); ` +
        `this virt-p2v works with virt-v2v 1.28 or later 1.x, or 2.x`,
    );
  }
  if (major === 1 && minor < 28) {
    throw new UserError(
      `virt-v2v ${version} on the conversion server is too old; upgrade it to 1.28 or later`,
    );
  }
  return version;
}

export function parseMachineReadable(text: string): Omit<ServerCapabilities, "version"> {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  if (!lines.includes("libguestfs-rewrite")) {
    throw new UserError('Invalid output of "virt-v2v --machine-readable" command.');
  }
  const inputs = new Set<string>();
  const outputs = new Set<string>();
  const add = (to: Set<string>, name: string) => {
    if (to.size < MAX_MODES && name !== "" && name.length <= MAX_MODE_NAME) to.add(name);
  };
  // The names are shown in the dialog and with --verbose: as text, never as
  // escape sequences; a name that is nothing but controls is no mode at all.
  const name = (line: string, prefix: string) => terminalText(line.slice(prefix.length)).trim();
  for (const line of lines) {
    if (line.startsWith("input:")) add(inputs, name(line, "input:"));
    else if (line.startsWith("output:")) {
      const output = name(line, "output:");
      if (!HIDDEN_OUTPUTS.has(output)) add(outputs, output);
    }
  }
  return {
    coloursOption: lines.includes("colours-option"),
    inputs: [...inputs],
    outputs: [...outputs],
  };
}

/** Open and cancel one reverse forward, so a server with forwarding disabled fails early. */
export async function checkReverseForwarding(session: RemoteSession): Promise<void> {
  const forward = await session.forwardIn((channel) => channel.destroy());
  await session.unforwardIn(forward);
}
