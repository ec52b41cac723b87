/** Runs the real program (`deno run main.ts`) as a child process, as a user would. */
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

export interface P2vRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Peak resident set size of the program, from /proc (kB), when sampled. */
  peakRssKb: number;
}

export interface P2vOptions {
  env?: Record<string, string>;
  /** Called with the output so far; may send signals to the child. */
  onOutput?: (text: string, child: Deno.ChildProcess) => void;
  timeoutMs?: number;
  /** V8 flags for the child; default: the same as `deno task start`. */
  v8Flags?: string[];
  /** Keep only about this many of the last characters of each stream (a flood would fill the test's memory). */
  keepChars?: number;
  /** A command that runs the program (`setpriv`, `--bounding-set=…`), when it needs less privilege. */
  wrapper?: string[];
}

export function p2vArgs(cmdline: string, extra: string[] = []): string[] {
  return [`--cmdline=${cmdline}`, ...extra];
}

export async function runP2v(args: string[], opts: P2vOptions = {}): Promise<P2vRun> {
  const wrapper = opts.wrapper ?? [];
  const child = new Deno.Command(wrapper[0] ?? Deno.execPath(), {
    // The same V8 flag as `deno task start`: it bounds memory during the copy.
    args: [
      ...(wrapper.length > 0 ? [...wrapper.slice(1), Deno.execPath()] : []),
      "run",
      "--allow-all",
      "--quiet",
      `--v8-flags=${(opts.v8Flags ?? ["--max-semi-space-size=1"]).join(",")}`,
      MAIN,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...opts.env },
  }).spawn();
  let stdout = "";
  let stderr = "";
  let peakRssKb = 0;
  const sampler = setInterval(async () => {
    try {
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      const m = /VmHWM:\s+(\d+)/.exec(status);
      if (m) peakRssKb = Math.max(peakRssKb, Number(m[1]));
    } catch { /* exited */ }
  }, 200);
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 180_000);
  const keep = opts.keepChars;
  const trim = (text: string) =>
    keep !== undefined && text.length > 2 * keep ? text.slice(-keep) : text;
  const pump = async (stream: ReadableStream<Uint8Array>, isOut: boolean) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      if (isOut) stdout = trim(stdout + text);
      else stderr = trim(stderr + text);
      opts.onOutput?.(stdout + stderr, child);
    }
  };
  await Promise.all([pump(child.stdout, true), pump(child.stderr, false)]);
  const status = await child.status;
  clearTimeout(timer);
  clearInterval(sampler);
  return { code: status.code, stdout, stderr, peakRssKb };
}
