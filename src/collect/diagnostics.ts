/**
 * Hardware reports uploaded next to the conversion log so a failed
 * conversion can be diagnosed on the server without the physical machine.
 * Every one is optional: rescue images often lack lsscsi or lsusb.
 */

import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS, runCommand, type Runner } from "./run_command.ts";
import { within } from "../system/within.ts";

export type DiagnosticName = "dmesg" | "lscpu" | "lspci" | "lsscsi" | "lsusb";

/** Same tools and arguments as the original's generate_system_data. */
export const DIAGNOSTIC_COMMANDS: ReadonlyArray<
  readonly [name: DiagnosticName, cmd: string, args: readonly string[]]
> = [
  ["dmesg", "dmesg", []],
  ["lscpu", "lscpu", []],
  ["lspci", "lspci", ["-vvv"]],
  ["lsscsi", "lsscsi", ["-v"]],
  ["lsusb", "lsusb", ["-v"]],
];

export interface DiagnosticsOptions {
  timeoutMs?: number;
  maxBytes?: number;
}

/** Extra time the runner gets to honour its own timeout before we stop waiting. */
const GRACE_MS = 1000;

/** Output of each tool, or undefined when it is missing, failed or hung. */
export async function captureDiagnostics(
  run: Runner = runCommand,
  opts: DiagnosticsOptions = {},
): Promise<Record<DiagnosticName, string | undefined>> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const outputs = await Promise.all(
    DIAGNOSTIC_COMMANDS.map(([, cmd, args]) =>
      captureOne(run, cmd, [...args], timeoutMs, maxBytes)
    ),
  );
  const result = {} as Record<DiagnosticName, string | undefined>;
  DIAGNOSTIC_COMMANDS.forEach(([name], i) => result[name] = outputs[i]);
  return result;
}

async function captureOne(
  run: Runner,
  cmd: string,
  args: string[],
  timeoutMs: number,
  maxBytes: number,
): Promise<string | undefined> {
  // English output is what support engineers and bug reports expect.
  const attempt = run(cmd, args, { timeoutMs, maxBytes, env: { LC_ALL: "C" } })
    .then((r) => (r.ok ? capBytes(r.stdout, maxBytes) : undefined))
    .catch(() => undefined);
  // An injected runner might ignore the timeout; never let one tool stall the conversion.
  return await within(timeoutMs + GRACE_MS, attempt);
}

/** Keep at most `maxBytes` of UTF-8; a character cut in half becomes U+FFFD. */
export function capBytes(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text; // cheap: cannot exceed
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return text;
  return new TextDecoder().decode(bytes.subarray(0, maxBytes));
}
