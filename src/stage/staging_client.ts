/**
 * The physical machine's handle on a staging area: opening, listing and
 * removing are commands of our copy on the server (`virt-p2v --stage …`),
 * checked to be the file we put there right before it runs; the run's
 * requests go to the process that holds it open (StagingRun).
 */
import type { RemoteProcess, RemoteSession } from "../net/session.ts";
import { inBash } from "../remote/remote_commands.ts";
import { ownCopyCheck } from "../remote/own_copy_check.ts";
import { shellWord } from "../remote/shell_quote.ts";
import { describeError, UserError } from "../errors.ts";
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
  async open(binding: StageBinding, step: StagedState): Promise<StagingRun> {
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
    let socket: string | undefined;
    if (typeof first === "string") {
      try {
        const said = JSON.parse(first) as { ok?: unknown; socket?: unknown };
        if (said.ok === true && typeof said.socket === "string") socket = said.socket;
      } catch { /* said below */ }
    }
    if (socket === undefined) {
      proc.hangUp();
      if (first === undefined) {
        throw new UserError(`opening the staging area took over ${this.timeoutMs} ms`);
      }
      throw new UserError(lastLine(err) || "the staging area could not be opened");
    }
    return new StagingRun(this, this.session, proc, socket, this.timeoutMs);
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

/**
 * This run's hold on a staged conversion, and its way to it: every
 * request is a channel to the socket the holding process serves on the
 * server (see staging_service.ts). Where sshd refuses channels to sockets,
 * each is a `--stage connect` command joined to it instead.
 */
export class StagingRun {
  readonly #beat: ReturnType<typeof setInterval>;
  #viaCommands = false;
  /** Why channels to the socket were refused, once they were. */
  refusal: string | undefined;

  constructor(
    private readonly client: StagingClient,
    private readonly session: RemoteSession,
    private readonly holder: RemoteProcess,
    readonly socket: string,
    private readonly timeoutMs: number,
  ) {
    this.#beat = setInterval(() => holder.write("\n"), HEARTBEAT_MS);
  }

  /** A connection to the holding process, `request` sent on it. */
  async #connect(request: string, onOutput: (c: Uint8Array) => void): Promise<RemoteProcess> {
    if (!this.#viaCommands) {
      try {
        const channel = await this.session.connectSocket(this.socket, { onOutput });
        channel.write(request + "\n");
        return channel;
      } catch (err) {
        if (this.session.closed) throw err;
        this.#viaCommands = true;
        this.refusal ??= describeError(err);
      }
    }
    let stderr = "";
    const proc = await this.session.start(
      this.client.command("connect", this.client.area, this.client.name),
      {
        onOutput,
        onStderr: (c) => {
          if (stderr.length < 4096) stderr += new TextDecoder().decode(c);
        },
      },
    );
    // Why the command failed, as the socket's process would have said it (read before `ended` settles for the caller).
    proc.ended.then((end) => {
      if (end.status !== 0 && stderr.trim() !== "") {
        onOutput(new TextEncoder().encode(`\nerror ${lastLine(stderr)}\n`));
      }
    });
    proc.write(request + "\n");
    return proc;
  }

  /**
   * Sends `request`, which nothing follows, and waits up to `timeoutMs`
   * for its answer, which goes to `onOutput`; false when it did not end in
   * time. The input is ended at once: sshd closes a channel to a socket
   * only once both directions have ended.
   */
  async #ask(
    request: string,
    onOutput: (c: Uint8Array) => void,
    timeoutMs: number,
  ): Promise<boolean> {
    const conn = await this.#connect(request, onOutput);
    conn.endInput();
    const end = await within(timeoutMs, conn.ended);
    conn.hangUp();
    return end !== undefined;
  }

  /** Every chunk hash of staged disk `disk` (`bytes` of them, exactly), and whether they were kept from the last run. */
  async hashes(
    disk: number,
    bytes: number,
    timeoutMs: number,
  ): Promise<{ hashes: Uint8Array; kept: boolean }> {
    const answer = new HashesAnswer(bytes);
    if (!await this.#ask(`hash ${disk}`, (c) => answer.push(c), timeoutMs)) {
      throw new UserError(
        `hashing the staged disk ${disk} on the server took over ${timeoutMs} ms`,
      );
    }
    return answer.result(disk);
  }

  /** A connection that writes the chunks framed on it into staged disk `disk`. */
  writer(disk: number, onOutput: (c: Uint8Array) => void): Promise<RemoteProcess> {
    return this.#connect(`write ${disk}`, onOutput);
  }

  /** Records that `state` completed. */
  async mark(state: StagedState): Promise<void> {
    let said = "";
    const answered = await this.#ask(`mark ${state}`, (c) => {
      if (said.length < 1024) said += new TextDecoder().decode(c);
    }, this.timeoutMs);
    const line = said.split("\n")[0];
    if (line === "ok") return;
    throw new UserError(
      !answered
        ? `recording the staged copy's state took over ${this.timeoutMs} ms`
        : answerError(line) ?? "the staged copy's state could not be recorded",
    );
  }

  /** Lets other runs open it again. */
  async release(): Promise<void> {
    clearInterval(this.#beat);
    this.holder.endInput();
    // Its end is awaited only briefly: over a lost link it would never come.
    await within(RELEASE_WAIT_MS, this.holder.ended);
    this.holder.hangUp();
  }
}

/** The server's "error WHY" line as one safe line; undefined for any other line. */
export function answerError(line: string): string | undefined {
  return line.startsWith("error ") ? lastLine(line.slice(6)) : undefined;
}

/** The answer to `hash DISK`: "hashes BYTES [kept]", then the hashes, raw. */
class HashesAnswer {
  #head = "";
  #headDone = false;
  #kept = false;
  readonly #out: Uint8Array;
  #at = 0;
  #over = false;

  constructor(readonly bytes: number) {
    this.#out = new Uint8Array(bytes);
  }

  push(c: Uint8Array): void {
    if (!this.#headDone) {
      const end = c.indexOf(10);
      this.#head += new TextDecoder().decode(end < 0 ? c : c.subarray(0, end));
      if (this.#head.length > 1024) this.#over = true;
      if (end < 0) return;
      this.#headDone = true;
      c = c.subarray(end + 1);
    }
    if (this.#at + c.length > this.bytes) this.#over = true;
    else this.#out.set(c, this.#at);
    this.#at += c.length;
  }

  result(disk: number): { hashes: Uint8Array; kept: boolean } {
    const m = /^hashes ([0-9]{1,12})( kept)?$/.exec(this.#head);
    if (!m) {
      throw new UserError(
        answerError(this.#head) ?? `hashing the staged disk ${disk} on the server failed`,
      );
    }
    this.#kept = m[2] !== undefined;
    if (this.#over || Number(m[1]) !== this.bytes || this.#at !== this.bytes) {
      throw new UserError(
        `the server sent ${this.#at} bytes of hashes for disk ${disk}, not ${this.bytes}`,
      );
    }
    return { hashes: this.#out, kept: this.#kept };
  }
}
