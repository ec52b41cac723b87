/**
 * Styled text for the terminal dialog: a line is a list of segments, each
 * with a style name; the painter turns style names into escape sequences (or
 * nothing). Widths are counted in terminal columns, not UTF-16 units.
 */

import { terminalText } from "../text/ansi.ts";
import {
  clipText,
  clusters,
  firstPiece,
  graphemes,
  graphemeWidth,
  PRINTABLE_ASCII,
  textWidth,
} from "../text/width.ts";

export { clipText, textWidth };

export type StyleName =
  | "title"
  | "focus"
  | "heading"
  | "error"
  | "ok"
  | "warn"
  | "dim"
  | "key"
  | "done"
  | "todo";

export interface Seg {
  text: string;
  style?: StyleName;
}

export type Line = Seg[];

export function seg(text: string, style?: StyleName): Seg {
  return style === undefined ? { text } : { text, style };
}

/** `text` cut to `width` columns, with `~` marking that something was left out. */
export function shorten(text: string, width: number): string {
  if (textWidth(text) <= width) return text;
  if (width <= 1) return clipText(text, width);
  return clipText(text, width - 1) + "~";
}

/** Keep the END of `text` (for paths): `~` then the last columns. */
export function shortenStart(text: string, width: number): string {
  if (textWidth(text) <= width) return text;
  if (width <= 1) return clipText(text, width);
  const chars = graphemes(text);
  let w = 0;
  let i = chars.length;
  while (i > 0) {
    const cw = graphemeWidth(chars[i - 1]);
    if (w + cw > width - 1) break;
    w += cw;
    i--;
  }
  return "~" + chars.slice(i).join("");
}

export function padText(text: string, width: number): string {
  const w = textWidth(text);
  return w >= width ? text : text + " ".repeat(width - w);
}

export function padStartText(text: string, width: number): string {
  const w = textWidth(text);
  return w >= width ? text : " ".repeat(width - w) + text;
}

/**
 * Text from outside (virt-v2v output, error messages, file names) made safe
 * to print: escape sequences and control characters removed, tabs expanded.
 * Nothing the server sends can move our cursor or change the terminal.
 */
export function sanitize(text: string): string {
  const clean = terminalText(text);
  if (!clean.includes("\t")) return clean;
  let out = "";
  let col = 0;
  for (const g of graphemes(clean)) {
    if (g === "\t") {
      const n = 8 - (col % 8);
      out += " ".repeat(n);
      col += n;
    } else {
      out += g;
      col += graphemeWidth(g);
    }
  }
  return out;
}

export function lineWidth(line: Line): number {
  let w = 0;
  for (const s of line) w += textWidth(s.text);
  return w;
}

export function lineText(line: Line): string {
  return line.map((s) => s.text).join("");
}

/** `line` cut to `width` columns; `clipped` tells whether anything was lost. */
export function clipLine(line: Line, width: number): { line: Line; clipped: boolean } {
  const out: Line = [];
  let left = width;
  let clipped = false;
  for (const s of line) {
    if (left <= 0) {
      if (s.text.trim() !== "") clipped = true;
      continue;
    }
    const w = textWidth(s.text);
    if (w <= left) {
      out.push(s);
      left -= w;
    } else {
      const part = clipText(s.text, left);
      if (s.text.slice(part.length).trim() !== "") clipped = true;
      out.push({ ...s, text: part });
      left -= textWidth(part);
    }
  }
  return { line: out, clipped };
}

/** `line` padded with spaces to exactly `width` columns (clipped if longer). */
export function fitLine(line: Line, width: number): Line {
  const { line: clipped } = clipLine(line, width);
  const w = lineWidth(clipped);
  return w < width ? [...clipped, { text: " ".repeat(width - w) }] : clipped;
}

/**
 * Columns `from` (inclusive) to `to` (exclusive) of a line, styles kept. A wide
 * character straddling a boundary is replaced by spaces.
 */
export function sliceLine(line: Line, from: number, to: number): Line {
  const out: Line = [];
  let col = 0;
  for (const s of line) {
    let text = "";
    for (const g of graphemes(s.text)) {
      const cw = graphemeWidth(g);
      if (col >= from && col + cw <= to) text += g;
      else if (col < to && col + cw > from) {
        text += " ".repeat(Math.min(col + cw, to) - Math.max(col, from));
      }
      col += cw;
    }
    if (text !== "") out.push({ ...s, text });
  }
  return out;
}

/** Put `box` over `line` starting at column `at`. */
export function overlayLine(line: Line, box: Line, at: number, width: number): Line {
  const base = fitLine(line, width);
  const boxWidth = lineWidth(box);
  return [...sliceLine(base, 0, at), ...box, ...sliceLine(base, at + boxWidth, width)];
}

/**
 * Word-wrap plain text to `width` columns. Explicit newlines are kept; words
 * longer than the width are broken, so nothing is ever lost.
 */
export function wrapText(text: string, width: number): string[] {
  const out: string[] = [];
  const w = Math.max(1, width);
  for (const paragraph of text.split("\n")) {
    let current = "";
    for (const word of paragraph.split(/ +/)) {
      let rest = word;
      while (textWidth(rest) > w) {
        if (current !== "") {
          out.push(current);
          current = "";
        }
        const part = firstPiece(rest, w);
        out.push(part);
        rest = rest.slice(part.length);
      }
      if (current === "") current = rest;
      else if (textWidth(current) + 1 + textWidth(rest) <= w) current += " " + rest;
      else {
        out.push(current);
        current = rest;
      }
    }
    out.push(current);
  }
  return out;
}

/**
 * Words (which may hold blanks of their own, such as a quoted value) joined
 * by single blanks into lines of at most `width` columns, broken only
 * between words: lines copied from the screen and joined with newlines read
 * back as the same words. Only a word wider than a line is cut.
 */
export function wrapWords(
  words: readonly string[],
  width: number,
  options: { fullRowRunsOn?: boolean } = {},
): string[] {
  const w = Math.max(1, width);
  // When a full row means "this word goes on in the next row", a row of whole
  // words must stop short of the edge, and a cut word that ends exactly at the
  // edge is followed by an empty row, or a reader would join the next word on.
  const runsOn = options.fullRowRunsOn === true && w > 1;
  const whole = runsOn ? w - 1 : w;
  const out: string[] = [];
  let current = "";
  for (const word of words) {
    if (current !== "" && textWidth(current) + 1 + textWidth(word) <= whole) {
      current += " " + word;
      continue;
    }
    if (current !== "") out.push(current);
    if (textWidth(word) <= whole) {
      current = word;
      continue;
    }
    const pieces = hardWrap(word, w);
    out.push(...pieces.slice(0, -1));
    current = pieces[pieces.length - 1];
    if (runsOn && textWidth(current) >= w) {
      out.push(current, "");
      current = "";
    }
  }
  if (current !== "") out.push(current);
  return out;
}

/**
 * Cut text into pieces of at most `width` columns, keeping every space (for
 * log lines). One pass over the clusters: the width of what is left is never
 * measured again, so a long line costs time in proportion to its length.
 */
export function hardWrap(text: string, width: number): string[] {
  const w = Math.max(1, width);
  if (PRINTABLE_ASCII.test(text)) {
    if (text.length <= w) return [text];
    const out: string[] = [];
    for (let i = 0; i < text.length; i += w) out.push(text.slice(i, i + w));
    return out;
  }
  const out: string[] = [];
  let start = 0;
  let columns = 0;
  // Measuring a cluster is costly and a line repeats few distinct ones: remember them.
  const widths = new Map<string, number>();
  for (const { segment, index } of clusters(text)) {
    let cw = widths.get(segment);
    if (cw === undefined) {
      cw = graphemeWidth(segment);
      if (widths.size < 4096) widths.set(segment, cw);
    }
    // A cluster wider than the line goes alone on its own, so cutting always progresses.
    if (columns + cw > w && index > start) {
      out.push(text.slice(start, index));
      start = index;
      columns = 0;
    }
    columns += cw;
  }
  out.push(text.slice(start));
  return out;
}
