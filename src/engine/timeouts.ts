/**
 * Every wait of a run has a bound. The defaults are listed under
 * "Bounded waits" in docs/DEVELOPING.md; tests shorten them.
 */
import { ConfigError } from "../errors.ts";

export interface Timeouts {
  /** Wait for the network to come up before connecting (unattended mode). */
  networkWaitMs: number;
  /** SSH handshake and authentication. */
  connectMs: number;
  /** Keep-alive interval and how many unanswered ones end the session. */
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  /** Short remote commands: `--version`, `mkdir`, uploads. */
  remoteCommandMs: number;
  /** After a cancel, how long the remote job gets to exit before we hang up. */
  cancelGraceMs: number;
  /**
   * Keep-alives of a conversion that can reconnect (p2v.reconnect > 0): far
   * tighter than the original's, so a dead link is noticed in a minute.
   */
  linkKeepaliveIntervalMs: number;
  linkKeepaliveCountMax: number;
  /** How often we tell the server-side watchdog of a detached conversion that we are there. */
  heartbeatMs: number;
  /** The longest wait between two reconnect attempts (the backoff starts at 1 s). */
  reconnectBackoffMaxMs: number;
  /** How often the server-side relays retry a lost upstream. */
  relayRetryDelayMs: number;
  /**
   * The server-side watchdog waits this much longer than we keep trying
   * (noticing the loss, then p2v.reconnect) before it ends the conversion.
   */
  watchdogSlackMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = {
  networkWaitMs: 30_000,
  connectMs: 60_000,
  keepaliveIntervalMs: 300_000,
  keepaliveCountMax: 6,
  remoteCommandMs: 120_000,
  cancelGraceMs: 30_000,
  linkKeepaliveIntervalMs: 15_000,
  linkKeepaliveCountMax: 4,
  heartbeatMs: 5_000,
  reconnectBackoffMaxMs: 15_000,
  relayRetryDelayMs: 2_000,
  watchdogSlackMs: 30_000,
};

const KNOWN_KEYS = Object.keys(DEFAULT_TIMEOUTS) as (keyof Timeouts)[];

/**
 * `VIRT_P2V_TIMEOUTS='{"connectMs":2000}'` overrides single bounds (tests,
 * slow links). A misspelled key or a value that is not a number of
 * milliseconds is an error: silently keeping the default would hide it.
 */
export function timeoutsFromEnv(text: string | undefined): Timeouts {
  if (!text) return DEFAULT_TIMEOUTS;
  const hint = `valid keys: ${KNOWN_KEYS.join(", ")}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`VIRT_P2V_TIMEOUTS must be JSON like {"connectMs":5000} (${hint})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError(`VIRT_P2V_TIMEOUTS must be a JSON object (${hint})`);
  }
  const result: Timeouts = { ...DEFAULT_TIMEOUTS };
  for (const [key, value] of Object.entries(parsed)) {
    if (!(KNOWN_KEYS as string[]).includes(key)) {
      throw new ConfigError(`VIRT_P2V_TIMEOUTS: unknown key "${key}" (${hint})`);
    }
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new ConfigError(
        `VIRT_P2V_TIMEOUTS: ${key} must be a number of milliseconds, not ${JSON.stringify(value)}`,
      );
    }
    result[key as keyof Timeouts] = value;
  }
  return result;
}
