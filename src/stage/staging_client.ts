/**
 * The physical machine's handle on a staging area: each operation is one
 * command of our copy on the server (`virt-p2v --stage …`), checked to be
 * the file we put there right before it runs.
 */
import type { RemoteProcess, RemoteSession } from "../net/session.ts";
import { inBash } from "../remote/remote_commands.ts";
import { ownCopyCheck } from "../remote/own_copy_check.ts";
import { shellWord } from "../remote/shell_quote.ts";
import { UserError } from "../errors.ts";
import { terminalText } from "../text/ansi.ts";
import type { StageBinding } from "./binding.ts";
import type { StagedListing, StagedState } from "./staging_area.ts";
import { within } from "../system/within.ts";

/** Our executable on the server. */
export interface ServerProgram {
  path: string;
  sha256: string;
}

/** What a command prints on stderr is the server's: bounded, one line, no escapes. */
function lastLine(text: string): string {
  const line = text.trim().split("\n").pop() ?? "";
  return terminalText(line.slice(0, 500));
}

/** This run's hold on a staged conversion. */
export interface StagingLease {
  /** Lets other runs open it again. */
  release(): Promise<void>;
}

/**
 * This end says it is alive this often; the server lets go of a staged
 * conversion after QUIET_MS without a word (a machine switched off after
 * the cutover's sync, a link lost without a close).
 */
const HEARTBEAT_MS = 10_000;
const QUIET_MS = 60_000;
/** How long a release waits for the server to let go before it hangs up. */
const RELEASE_WAIT_MS = 2_000;

export class StagingClient {
  constructor(
    private readonly session: RemoteSession,
    private readonly program: ServerProgram,
    readonly area: string,
    readonly name: string,
    private readonly timeoutMs: number,
  ) {}

  /** Where the staged copy is on the server. */
  get dir(): string {
    return `${this.area}/${this.name}`;
  }

  command(op: string, ...args: string[]): string {
    const p = shellWord(this.program.path);
    return inBash(
      `${ownCopyCheck(p, this.program.sha256)} || ` +
        `{ echo "${this.program.path} is not the file we copied there" >&2; exit 97; }\n` +
        `exec ${p} --stage ${[op, ...args].map(shellWord).join(" ")}`,
    );
  }

  async #run(op: string, args: string[], stdin?: string, maxOutputBytes?: number): Promise<string> {
    const r = await this.session.exec(this.command(op, ...args), {
      stdin,
      timeoutMs: this.timeoutMs,
      maxOutputBytes,
      what: `the staging area's ${op}`,
    });
    if (r.code !== 0) {
      const why = lastLine(r.stderr) || `exit status ${r.code ?? r.signal}`;
      throw new UserError(why);
    }
    return r.stdout;
  }

  /**
   * Takes the staged conversion for this run — no other run may open it
   * until `release` (or until this end falls silent, see HEARTBEAT_MS) —
   * checks the binding and the room, and sizes the staged images; throws
   * the refusal.
   */
  async open(binding: StageBinding, step: StagedState): Promise<StagingLease> {
    const decoder = new TextDecoder();
    let out = "";
    let err = "";
    let answered: (line: string) => void = () => {};
    const answer = new Promise<string>((r) => answered = r);
    const proc = await this.session.start(this.command("open", this.area, this.name), {
      onOutput: (c) => {
        if (out.length > 4096) return;
        out += decoder.decode(c);
        const end = out.indexOf("\n");
        if (end >= 0) answered(out.slice(0, end));
      },
      onStderr: (c) => {
        if (err.length < 4096) err += decoder.decode(c);
      },
    });
    proc.write(JSON.stringify({ binding, step, quietMs: QUIET_MS }) + "\n");
    const first = await within(this.timeoutMs, Promise.race([answer, proc.ended]));
    let opened = false;
    if (typeof first === "string") {
      try {
        opened = (JSON.parse(first) as { ok?: unknown }).ok === true;
      } catch { /* said below */ }
    }
    if (!opened) {
      proc.hangUp();
      if (first === undefined) {
        throw new UserError(`opening the staging area took over ${this.timeoutMs} ms`);
      }
      throw new UserError(lastLine(err) || "the staging area could not be opened");
    }
    const beat = setInterval(() => proc.write("\n"), HEARTBEAT_MS);
    return {
      release: async () => {
        clearInterval(beat);
        proc.endInput();
        // Its end is awaited only briefly: over a lost link it would never come.
        await within(RELEASE_WAIT_MS, proc.ended);
        proc.hangUp();
      },
    };
  }

  /** Every chunk hash of staged disk `disk` (`bytes` of them, exactly). */
  async hashes(disk: number, bytes: number, timeoutMs: number): Promise<Uint8Array> {
    const out = new Uint8Array(bytes);
    let at = 0;
    let over = false;
    const errors: string[] = [];
    const proc = await this.session.start(
      this.command("hash", this.area, this.name, String(disk)),
      {
        onOutput: (c) => {
          if (at + c.length > bytes) over = true;
          else out.set(c, at);
          at += c.length;
        },
        onStderr: (c) => {
          if (errors.join("").length < 4096) errors.push(new TextDecoder().decode(c));
        },
      },
    );
    proc.endInput();
    const end = await within(timeoutMs, proc.ended);
    if (end === undefined) {
      proc.hangUp();
      throw new UserError(
        `hashing the staged disk ${disk} on the server took over ${timeoutMs} ms`,
      );
    }
    if (end.status !== 0) {
      throw new UserError(lastLine(errors.join("")) || `hashing the staged disk ${disk} failed`);
    }
    if (over || at !== bytes) {
      throw new UserError(`the server sent ${at} bytes of hashes for disk ${disk}, not ${bytes}`);
    }
    return out;
  }

  /** A command that writes the chunks framed on its stdin into staged disk `disk`. */
  writer(
    disk: number,
    onOutput: (c: Uint8Array) => void,
    onStderr: (c: Uint8Array) => void,
  ): Promise<RemoteProcess> {
    return this.session.start(this.command("write", this.area, this.name, String(disk)), {
      onOutput,
      onStderr,
    });
  }

  async mark(state: StagedState): Promise<void> {
    await this.#run("mark", [this.area, this.name, state]);
  }

  async remove(): Promise<void> {
    await this.#run("remove", [this.area, this.name]);
  }

  async list(): Promise<StagedListing[]> {
    const out = await this.#run("list", [this.area]);
    const listed: StagedListing[] = [];
    for (const line of out.split("\n")) {
      if (line.trim() === "") continue;
      try {
        listed.push(JSON.parse(line) as StagedListing);
      } catch { /* not ours: skipped */ }
    }
    return listed;
  }
}
