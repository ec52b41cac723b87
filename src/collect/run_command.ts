/**
 * The default way to run an external tool during discovery. Discovery is
 * best effort: a tool that is missing, not permitted, failing, hanging or
 * flooding its output yields `ok: false` (or a capped output) instead of an
 * exception, so the caller only has to decide what "unknown" means.
 */

export interface RunResult {
  ok: boolean;
  stdout: string;
}

export interface RunOptions {
  /** Kill the tool after this long; the result is then `ok: false`. */
  timeoutMs?: number;
  /** Keep at most this many bytes of stdout (the tool is stopped there). */
  maxBytes?: number;
  /** Extra environment, e.g. `LC_ALL=C` so the output is parseable. */
  env?: Record<string, string>;
}

/** Injectable so tests can answer with canned output. */
export type Runner = (cmd: string, args: string[], opts?: RunOptions) => Promise<RunResult>;

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

export async function runCommand(
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;

  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, {
      args,
      env: opts.env,
      stdin: "null",
      stdout: "piped",
      // stderr would scribble over the terminal dialog; nobody parses it.
      stderr: "null",
    }).spawn();
  } catch {
    // NotFound, permission denied, --allow-run missing: all mean "no tool".
    return { ok: false, stdout: "" };
  }

  const reader = child.stdout.getReader();
  let timedOut = false;
  const stop = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
    // A grandchild may still hold the pipe open; cancelling ends our read.
    reader.cancel().catch(() => {});
  }, timeoutMs);

  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = maxBytes - size;
      if (value.length >= room) {
        chunks.push(value.subarray(0, room));
        size += room;
        truncated = value.length > room;
        if (truncated) break;
        continue;
      }
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // The stream errors when cancelled mid-read; what we have is kept.
  }
  if (truncated) {
    // Enough is enough: do not let a flood keep us waiting.
    await reader.cancel().catch(() => {});
    stop();
  } else {
    reader.releaseLock();
  }

  let success = false;
  try {
    success = (await child.status).success;
  } catch {
    success = false;
  }
  clearTimeout(timer);

  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  const stdout = new TextDecoder().decode(bytes);
  // A capped output is still a useful answer; a killed-by-timeout one is not.
  return { ok: !timedOut && (success || truncated), stdout };
}
