/**
 * How discovery runs a tool. Discovery is best effort: a tool that is
 * missing, not permitted, failing, hanging or flooding its output yields
 * `ok: false` (or a capped output) instead of an exception, so the caller
 * only has to decide what "unknown" means. Injectable, so tests can answer
 * with canned output.
 */
import {
  type CaptureOptions,
  DEFAULT_MAX_BYTES,
  DEFAULT_TIMEOUT_MS,
  runCaptured,
} from "../system/run.ts";

export { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS };

export interface RunResult {
  ok: boolean;
  stdout: string;
}

export type RunOptions = Pick<CaptureOptions, "timeoutMs" | "maxBytes" | "env">;

export type Runner = (cmd: string, args: string[], opts?: RunOptions) => Promise<RunResult>;

export const runCommand: Runner = async (cmd, args, opts = {}) => {
  const r = await runCaptured(cmd, args, opts);
  // A capped output is still a useful answer; a killed-by-timeout one is not.
  return { ok: !r.timedOut && (r.code === 0 || r.truncated), stdout: r.stdout };
};
