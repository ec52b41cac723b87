/**
 * Running external programs on this machine: one way to run a tool and
 * collect what it prints (bounded in time and size), one way to hand it the
 * terminal. Neither ever throws: a tool that cannot start says so in the
 * result.
 */

export interface CaptureOptions {
  /** Kill the tool after this long. */
  timeoutMs?: number;
  /** Keep at most this many bytes of each stream; a tool flooding stdout is stopped there. */
  maxBytes?: number;
  /** Extra environment, e.g. `LC_ALL=C` so the output is parseable. */
  env?: Record<string, string>;
  /** Keep stderr (otherwise it is discarded: it would scribble over the dialog). */
  stderr?: boolean;
}

export interface Captured {
  /** False when the program could not be started (missing, not permitted). */
  started: boolean;
  /** Why it could not be started, e.g. `No such file or directory`; empty when it was. */
  startError: string;
  /** The exit status; null when it was not started or was killed by a signal. */
  code: number | null;
  /** The signal that ended it (`SIGKILL` also when we stopped it at a bound), else null. */
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** stdout was longer than `maxBytes` and was cut there. */
  truncated: boolean;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

/** Read up to `maxBytes` of a stream; `cut` tells whether more was there. */
async function readCapped(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; cut: boolean }> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let cut = false;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = maxBytes - size;
      if (value.length > room) {
        chunks.push(value.subarray(0, room));
        size += room;
        cut = true;
        break;
      }
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // The stream errors when cancelled mid-read; what we have is kept.
  }
  if (cut) await reader.cancel().catch(() => {});
  else reader.releaseLock();
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return { bytes, cut };
}

/** Run `cmd` with stdin closed and collect its output. */
export async function runCaptured(
  cmd: string,
  args: readonly string[],
  opts: CaptureOptions = {},
): Promise<Captured> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, {
      args: [...args],
      env: opts.env,
      stdin: "null",
      stdout: "piped",
      stderr: opts.stderr ? "piped" : "null",
    }).spawn();
  } catch (e) {
    return {
      started: false,
      startError: spawnErrorText(e),
      code: null,
      signal: null,
      stdout: "",
      stderr: "",
      timedOut: false,
      truncated: false,
    };
  }
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  };
  let timedOut = false;
  const stdout = child.stdout.getReader();
  const stderr = opts.stderr ? child.stderr.getReader() : undefined;
  // A grandchild may hold the pipes open after the tool is killed: cancelling ends our reads.
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
    for (const r of [stdout, stderr]) r?.cancel().catch(() => {});
  }, timeoutMs);
  const [out, err] = await Promise.all([
    readCapped(stdout, maxBytes).then((r) => {
      // Enough is enough: do not let a flood keep us waiting.
      if (r.cut) kill();
      return r;
    }),
    stderr ? readCapped(stderr, maxBytes) : Promise.resolve(undefined),
  ]);
  const status = await child.status.catch(() => undefined);
  clearTimeout(timer);
  const decoder = new TextDecoder();
  return {
    started: true,
    startError: "",
    code: timedOut || out.cut || status?.signal ? null : status?.code ?? null,
    signal: status?.signal ?? null,
    stdout: decoder.decode(out.bytes),
    stderr: err ? decoder.decode(err.bytes) : "",
    timedOut,
    truncated: out.cut,
  };
}

/** How a program handed the terminal ended. */
export type TerminalRun =
  | { started: false; startError: string }
  | { started: true; code: number; signal: Deno.Signal | null };

/**
 * The reason a spawn failed, without Deno's wrapping: `Permission denied`,
 * `No such file or directory`.
 */
function spawnErrorText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return /^Failed to spawn '[^']*': (.*?)(?: \(os error \d+\))?$/s.exec(text)?.[1] ?? text;
}

/** How a run on the terminal ended, in words: `exited with status 2`, `killed by SIGSEGV`. */
export function describeTerminalRun(cmd: string, run: TerminalRun): string {
  if (!run.started) return `${cmd} cannot be started: ${run.startError}`;
  if (run.signal !== null) return `${cmd} was killed by ${run.signal}`;
  return `${cmd} exited with status ${run.code}`;
}

/** How a captured run ended, in the same words as `describeTerminalRun`. */
export function describeCaptured(cmd: string, r: Captured): string {
  return describeTerminalRun(
    cmd,
    // A null status without a signal: the status could not be read.
    r.started
      ? { started: true, code: r.code ?? -1, signal: r.signal }
      : { started: false, startError: r.startError },
  );
}

/**
 * Run `cmd` on our terminal (stdin, stdout and stderr inherited) and say how
 * it ended: not started (and why), or its status and the signal that ended it.
 */
export async function runOnTerminal(cmd: string, args: readonly string[]): Promise<TerminalRun> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, {
      args: [...args],
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (e) {
    return { started: false, startError: spawnErrorText(e) };
  }
  const status = await child.status;
  return { started: true, code: status.code, signal: status.signal };
}
