/** The per-conversion working directory on the server (SPEC §6 step 2). */

const CHARSET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** Length of the random part of the directory name. */
export const REMOTE_DIR_RANDOM_LENGTH = 8;

/** Pattern every name made by `makeRemoteDirName` matches. */
export const REMOTE_DIR_PATTERN = /^\/tmp\/virt-p2v-[0-9]{8}-[a-z0-9]{8}$/;

/** A uniform number in [0, 1) from the platform's cryptographic generator. */
export function cryptoRandom(): number {
  const word = new Uint32Array(1);
  crypto.getRandomValues(word);
  return word[0] / 0x1_0000_0000;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/**
 * `/tmp/virt-p2v-YYYYMMDD-XXXXXXXX`: the UTC date of `now` and 8 characters
 * drawn from lowercase letters and digits, so the name never needs quoting.
 * `random` returns numbers in [0, 1) like `Math.random`; by default the
 * values come from `crypto.getRandomValues`.
 */
export function makeRemoteDirName(now: Date, random: () => number = cryptoRandom): string {
  if (Number.isNaN(now.getTime())) throw new RangeError("makeRemoteDirName: invalid date");
  const date = pad(now.getUTCFullYear(), 4) + pad(now.getUTCMonth() + 1, 2) +
    pad(now.getUTCDate(), 2);
  let suffix = "";
  for (let i = 0; i < REMOTE_DIR_RANDOM_LENGTH; i++) {
    const r = random();
    if (!(r >= 0 && r < 1)) throw new RangeError(`makeRemoteDirName: random() returned ${r}`);
    suffix += CHARSET[Math.floor(r * CHARSET.length)];
  }
  return `/tmp/virt-p2v-${date}-${suffix}`;
}
