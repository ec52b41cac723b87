/** Random names (guest names, remote directories) from the platform's cryptographic generator. */

export const LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789";

/**
 * `length` characters drawn uniformly from `alphabet` (at most 256 of them):
 * bytes that would bias the draw are thrown away, not folded.
 */
export function randomString(length: number, alphabet: string = LOWER_ALNUM): string {
  if (alphabet.length === 0 || alphabet.length > 256) {
    throw new RangeError(`randomString: alphabet of ${alphabet.length} characters`);
  }
  const limit = 256 - (256 % alphabet.length);
  let out = "";
  while (out.length < length) {
    // getRandomValues gives at most 64 KiB at a time.
    const draw = Math.min(65_536, (length - out.length) * 2);
    for (const b of crypto.getRandomValues(new Uint8Array(draw))) {
      if (b < limit && out.length < length) out += alphabet[b % alphabet.length];
    }
  }
  return out;
}
