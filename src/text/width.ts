/**
 * How many terminal columns text takes. A user-perceived character
 * (grapheme cluster: a letter with its combining marks, an emoji with its
 * modifiers and variation selectors, a flag) is measured as one unit by
 * `string-width`, which follows Unicode's East Asian Width and emoji data.
 */
import stringWidth from "string-width";

export const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const segmenter = new Intl.Segmenter();

/** The grapheme clusters of `text` with where each starts, without building an array. */
export function clusters(text: string): Iterable<{ segment: string; index: number }> {
  return segmenter.segment(text);
}

/** The grapheme clusters of `text`, in order. */
export function graphemes(text: string): string[] {
  if (PRINTABLE_ASCII.test(text)) return text.split("");
  return Array.from(segmenter.segment(text), (s) => s.segment);
}

/** Columns one grapheme cluster takes: 0, 1 or 2. */
export function graphemeWidth(cluster: string): number {
  if (cluster.length === 1 && PRINTABLE_ASCII.test(cluster)) return 1;
  return stringWidth(cluster);
}

export function textWidth(text: string): number {
  return PRINTABLE_ASCII.test(text) ? text.length : stringWidth(text);
}

/** The longest prefix of `text` that fits in `width` columns, whole clusters only. */
export function clipText(text: string, width: number): string {
  if (width <= 0) return "";
  if (PRINTABLE_ASCII.test(text)) return text.slice(0, width);
  let w = 0;
  let out = "";
  for (const g of graphemes(text)) {
    const gw = graphemeWidth(g);
    if (w + gw > width) break;
    w += gw;
    out += g;
  }
  return out;
}

/**
 * The first piece of `text` for a line of `width` columns: what fits, or the
 * first cluster alone when not even that fits (a wide character on a
 * one-column line), so that cutting text into lines always makes progress.
 */
export function firstPiece(text: string, width: number): string {
  const part = clipText(text, width);
  return part !== "" || text === "" ? part : graphemes(text)[0];
}
