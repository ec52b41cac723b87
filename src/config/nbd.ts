/**
 * Names of the NBD servers `p2v.nbd` can choose from, and the default order.
 * The servers themselves live in `src/nbd/`.
 */
export const NBD_BACKENDS = ["builtin", "qemu-nbd", "nbdkit"] as const;
export type NbdBackend = typeof NBD_BACKENDS[number];

/**
 * Preference when `p2v.nbd` is not given. `deno task bench` measured the
 * built-in server faster end to end through SSH than qemu-nbd behind a
 * splice (1 GiB dense: 234 vs 207 MB/s; 4 GiB sparse: 2459 vs 2088 MB/s,
 * medians of 3), and it needs nothing installed on the rescue image.
 */
export const DEFAULT_NBD_PREFERENCE: readonly NbdBackend[] = ["builtin"];
