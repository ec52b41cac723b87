/**
 * Every wait of a run has a bound. Defaults follow SPEC §5; tests shorten them.
 */
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
}

export const DEFAULT_TIMEOUTS: Timeouts = {
  networkWaitMs: 30_000,
  connectMs: 60_000,
  keepaliveIntervalMs: 300_000,
  keepaliveCountMax: 6,
  remoteCommandMs: 120_000,
  cancelGraceMs: 30_000,
};

/** Test hook: `VIRT_P2V_TIMEOUTS='{"connectMs":2000}'` overrides single bounds. */
export function timeoutsFromEnv(text: string | undefined): Timeouts {
  if (!text) return DEFAULT_TIMEOUTS;
  const parsed: unknown = JSON.parse(text);
  const result: Timeouts = { ...DEFAULT_TIMEOUTS };
  if (parsed && typeof parsed === "object") {
    for (const key of Object.keys(result) as (keyof Timeouts)[]) {
      const value = (parsed as Record<string, unknown>)[key];
      if (typeof value === "number" && Number.isFinite(value) && value >= 0) result[key] = value;
    }
  }
  return result;
}
