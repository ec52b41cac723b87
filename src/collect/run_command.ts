/**
 * How discovery runs a tool. Discovery is best effort: a tool that is
 * missing, not permitted, failing, hanging or flooding its output yields
 * `ok: false` (or a capped output) instead of an exception, so the caller
 * only has to decide what "unknown" means. Injectable, so tests can answer
 * with canned output.
 */
import {
  type Captured,
  type CaptureOptions,
  DEFAULT_MAX_BYTES,
  DEFAULT_TIMEOUT_MS,
  runCaptured,
} from "../system/run.ts";

export { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS };

/**
 * `runCaptured`'s result as discovery needs it: whether the answer can be
 * used (exit 0, or a capped output), and the output.
 */
export type RunResult = Pick<Captured, "stdout"> & { ok: boolean };

export type RunOptions = Pick<CaptureOptions, "timeoutMs" | "maxBytes" | "env">;

export type Runner = (cmd: string, args: string[], opts?: RunOptions) => Promise<RunResult>;

export const runCommand: Runner = async (cmd, args, opts = {}) => {
  const r = await runCaptured(cmd, args, opts);
  // A capped output is still a useful answer; a killed-by-timeout one is not.
  return { ok: !r.timedOut && (r.code === 0 || r.truncated), stdout: r.stdout };
};
