/**
 * What the test connection asks the server's virt-v2v: which version it is
 * (`--version`), what it can do (`--machine-readable`), and, when there is
 * none, why not.
 */
import { locateVirtV2vCommand, virtV2vProbeCommand } from "./remote_commands.ts";
import { isUsableOutput } from "../config/output_rules.ts";
import { describeError, UserError } from "../errors.ts";
import { terminalText } from "../text/ansi.ts";
import type { RemoteSession } from "../net/session.ts";
import type { LibvirtInventory } from "./output_target.ts";

export interface ServerCapabilities {
  /** The version string virt-v2v printed, e.g. `2.2.0`. */
  version: string;
  /** Pass `--colours` to virt-v2v. */
  coloursOption: boolean;
  inputs: string[];
  /** `-o` modes usable from virt-p2v, by the server's names (without `vdsm`, `rhv-upload`, ...). */
  outputs: string[];
  /**
   * The pools and networks of the server's libvirt, when it offers `-o
   * libvirt` and `virsh` answered: the dialog names them at `-os`.
   */
  libvirt?: LibvirtInventory;
}

const REMOTE_COMMAND_TIMEOUT_MS = 120_000;

/**
 * The login worked, but the server cannot convert: the message says what is
 * missing there, not that the connection failed.
 */
export class ServerUnfitError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = "ServerUnfitError";
  }
}

/** `virt-v2v --version` printed no version line (before we know why). */
class NoVersionError extends UserError {}

/** What to do when the login has no virt-v2v. */
const INSTALL_OR_SWITCH = "install virt-v2v there, or log in as a user that has it (p2v.username)";

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
  let version: string;
  try {
    version = parseVersionOutput(
      await probe(session, "--version", { sudo: opts.sudo, timeoutMs }),
      opts,
    );
  } catch (err) {
    if (err instanceof NoVersionError && !opts.sudo) {
      throw await whyNoVersion(session, opts.username, timeoutMs);
    }
    throw err;
  }
  const caps = parseMachineReadable(
    await probe(session, "--machine-readable", { sudo: opts.sudo, timeoutMs }),
  );
  return { version, ...caps };
}

/** The server's answer to `locateVirtV2vCommand`. */
export interface VirtV2vLocation {
  /** Where `command -v` found it; undefined when it did not. */
  path?: string;
  /** The PATH searched; undefined when the answer had none (an odd shell). */
  searchPath?: string;
}

export function parseVirtV2vLocation(text: string): VirtV2vLocation {
  const field = (name: string): string | undefined => {
    const line = text.split("\n").find((l) => l.startsWith(`${name}=`));
    return line === undefined ? undefined : terminalText(line.slice(name.length + 1)).trim();
  };
  const path = field("virt-v2v");
  return { path: path === "" ? undefined : path, searchPath: field("PATH") };
}

/**
 * The error for a `virt-v2v --version` without a version: either there is
 * no virt-v2v in the login's PATH (said with the user and that PATH), or
 * the one found printed something else.
 */
export function noVersionError(where: VirtV2vLocation, username: string): UserError {
  if (where.path === undefined && where.searchPath === undefined) {
    // The login shell did not answer the question (not a POSIX shell): say no more than we know.
    return new UserError(
      "virt-v2v is not installed on the conversion server, or it might be a too old version.",
    );
  }
  if (where.path === undefined) {
    const searched = where.searchPath === "" ? " (its PATH is empty)" : ` (${where.searchPath})`;
    return new ServerUnfitError(
      `virt-v2v was not found on the conversion server in the PATH of user "${username}"` +
        `${searched}; ${INSTALL_OR_SWITCH}`,
    );
  }
  return new UserError(
    `${where.path} on the conversion server printed no virt-v2v version: it might be a too ` +
      `old or broken virt-v2v; check "virt-v2v --version" there as user "${username}"`,
  );
}

async function whyNoVersion(
  session: RemoteSession,
  username: string,
  timeoutMs: number,
): Promise<UserError> {
  let where: VirtV2vLocation = {};
  try {
    const run = await session.exec(locateVirtV2vCommand(), {
      what: "command -v virt-v2v",
      timeoutMs,
    });
    where = parseVirtV2vLocation(run.stdout);
  } catch {
    // Without the answer we still know there was no version.
  }
  return noVersionError(where, username);
}

/** Check `virt-v2v --version` output and return the version (1.28 or later, or 2.x). */
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
  if (opts.sudo && /sudo: virt-v2v: command not found/i.test(text)) {
    throw new ServerUnfitError(
      `virt-v2v was not found on the conversion server by sudo for user "${opts.username}" ` +
        `(sudo searches the secure_path of /etc/sudoers); install virt-v2v there, ` +
        `or log in as root without p2v.sudo`,
    );
  }
  const match = /^virt-v2v\s+(\d+)\.(\d+)(\.\d+)?\S*/m.exec(text);
  if (!match) {
    throw new NoVersionError(
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
      if (isUsableOutput(output)) add(outputs, output);
    }
  }
  return {
    coloursOption: lines.includes("colours-option"),
    inputs: [...inputs],
    outputs: [...outputs],
  };
}
