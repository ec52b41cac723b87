/**
 * The caps the Running screen's + and - keys step through, in Mbit/s, from
 * the lowest; no cap at all sits above the highest. A cap set to something
 * else (`p2v.bandwidth=80`) steps to its neighbours (50 or 100).
 */
const STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000];

/** The cap one step looser (`+1`) or tighter (`-1`) than `mbit` (0 = none). */
export function bandwidthStep(mbit: number, direction: 1 | -1): number {
  if (direction > 0) {
    if (mbit === 0) return 0;
    return STEPS.find((s) => s > mbit) ?? 0;
  }
  if (mbit === 0) return STEPS[STEPS.length - 1];
  return [...STEPS].reverse().find((s) => s < mbit) ?? STEPS[0];
}

/** "unlimited", or "100 Mbit/s". */
export function bandwidthText(mbit: number): string {
  return mbit === 0 ? "unlimited" : `${mbit} Mbit/s`;
}
