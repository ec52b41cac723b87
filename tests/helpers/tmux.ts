/**
 * Drives a real program in a real terminal: a private tmux server (its own
 * socket, in its own temporary directory; no user config) running one command in an 80×24 pane. Keys go in
 * with `send-keys`, the screen comes back with `capture-pane`; waits poll the
 * screen instead of sleeping.
 */
import { join } from "node:path";
import { tempDir } from "./cleanup.ts";
import { run } from "./process.ts";

/** POSIX shell single quotes. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

export interface TmuxOptions {
  /** argv of the program. */
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  width?: number;
  height?: number;
}

export class TmuxSession {
  /** Path of the server's socket. */
  readonly socket: string;
  readonly statusFile: string;
  readonly #dir: string;
  #last = "";

  private constructor(socket: string, dir: string) {
    this.socket = socket;
    this.#dir = dir;
    this.statusFile = join(dir, "status");
  }

  /** Start `argv` in a new pane; its exit status is written to `statusFile`. */
  static async start(opts: TmuxOptions): Promise<TmuxSession> {
    const dir = await tempDir({ prefix: "tmux." });
    const socket = join(dir, "s");
    const session = new TmuxSession(socket, dir);
    const script = [
      "#!/bin/sh",
      ...(opts.cwd ? [`cd ${shQuote(opts.cwd)}`] : []),
      ...Object.entries(opts.env ?? {}).map(([k, v]) => `export ${k}=${shQuote(v)}`),
      opts.argv.map(shQuote).join(" "),
      `echo $? > ${shQuote(session.statusFile)}`,
    ].join("\n") + "\n";
    const scriptPath = join(dir, "run.sh");
    await Deno.writeTextFile(scriptPath, script);
    await run("tmux", [
      "-S",
      socket,
      "-f",
      "/dev/null",
      "new-session",
      "-d",
      "-x",
      String(opts.width ?? 80),
      "-y",
      String(opts.height ?? 24),
      "-s",
      "main",
      `sh ${shQuote(scriptPath)}`,
    ]);
    return session;
  }

  /** The visible screen as text, one line per row. */
  async capture(): Promise<string> {
    const r = await run("tmux", ["-S", this.socket, "capture-pane", "-p", "-t", "main"], {
      check: false,
    });
    if (r.code === 0) this.#last = r.stdout;
    return r.code === 0 ? r.stdout : this.#last;
  }

  /** The screen captured last (for failure messages). */
  get lastScreen(): string {
    return this.#last;
  }

  /** Named keys (`Enter`, `Tab`, `BTab`, `Left`, `C-u`, `Space`, …). */
  async keys(...keys: string[]): Promise<void> {
    for (const key of keys) {
      await run("tmux", ["-S", this.socket, "send-keys", "-t", "main", key]);
      // One key per call with a breath between: like a person, and no keys
      // glued into one read that a terminal would never send together.
      await new Promise((r) => setTimeout(r, 30));
    }
  }

  /** Literal text, as typed. */
  async type(text: string): Promise<void> {
    await run("tmux", ["-S", this.socket, "send-keys", "-t", "main", "-l", text]);
    await new Promise((r) => setTimeout(r, 30));
  }

  /** Poll the screen until `pattern` is on it; returns that screen. */
  async waitFor(pattern: string | RegExp, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const screen = await this.capture();
      const hit = typeof pattern === "string" ? screen.includes(pattern) : pattern.test(screen);
      if (hit) return screen;
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${pattern} on the screen:\n${frame(screen)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Press `key` until `focused` matches the screen (the focus mark `>` is in
   * the text, so a regex can tell where the keyboard is).
   */
  async focus(focused: RegExp, key = "Tab", max = 60): Promise<string> {
    for (let i = 0; i < max; i++) {
      const screen = await this.capture();
      if (focused.test(screen)) return screen;
      await this.keys(key);
      await new Promise((r) => setTimeout(r, 40));
    }
    throw new Error(`focus never reached ${focused}:\n${frame(await this.capture())}`);
  }

  /** Wait for the program to end; its exit status. */
  async exitStatus(timeoutMs = 20_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const text = await Deno.readTextFile(this.statusFile);
        if (text.trim() !== "") return Number(text.trim());
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the program did not exit within ${timeoutMs} ms:\n${frame(this.#last)}`);
  }

  async kill(): Promise<void> {
    await run("tmux", ["-S", this.socket, "kill-server"], { check: false });
    // Neither kill-server nor the server's own exit removes the socket file: it goes with the dir.
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** A screen with a border, for readable failure messages. */
export function frame(screen: string): string {
  const rows = screen.replace(/\n$/, "").split("\n");
  const bar = "+" + "-".repeat(80) + "+";
  return [bar, ...rows.map((r) => "|" + r.padEnd(80) + "|"), bar].join("\n");
}
