/** Small process helpers for tests: run a command, find a free port, poll a condition. */
// Whatever these start is owned by this test process and dies with it.
import "./cleanup.ts";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(
  cmd: string,
  args: string[],
  opts: {
    stdin?: string;
    check?: boolean;
    env?: Record<string, string>;
    /** Start from an empty environment: only `env`. */
    clearEnv?: boolean;
    cwd?: string;
  } = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
    clearEnv: opts.clearEnv,
    cwd: opts.cwd,
  }).spawn();
  if (opts.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(opts.stdin));
    await writer.close();
  }
  const out = await child.output();
  const result = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  if (opts.check !== false && result.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  }
  return result;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

export async function waitFor(
  condition: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export async function sha256File(path: string): Promise<string> {
  const r = await run("sha256sum", [path]);
  return r.stdout.split(" ")[0];
}
