/**
 * Whether a range of bytes is all zero: a read of zeroes is answered as a
 * hole, so it costs 12 bytes on the link instead of its length.
 *
 * Data is scanned a 32-bit word at a time where the range is aligned, and
 * the scan stops at the first non-zero word, so dense data costs next to
 * nothing: only ranges that are zero (and then save their whole length) or
 * start with a long run of zeroes are read through.
 */
export function isAllZero(buf: Uint8Array, start: number, length: number): boolean {
  let at = start;
  const end = start + length;
  // Bytes up to a 4-byte boundary of the underlying memory.
  while (at < end && (buf.byteOffset + at) % 4 !== 0) {
    if (buf[at++] !== 0) return false;
  }
  const words = Math.floor((end - at) / 4);
  if (words > 0) {
    const view = new Uint32Array(buf.buffer, buf.byteOffset + at, words);
    for (let i = 0; i < words; i++) {
      if (view[i] !== 0) return false;
    }
    at += words * 4;
  }
  while (at < end) {
    if (buf[at++] !== 0) return false;
  }
  return true;
}
