/** A whole screen from a page's parts: title bar, scrolling body, key help. */
import type { PageBuilder } from "./page_builder.ts";
import type { PageScroll } from "./page_scroll.ts";
import type { Frame, Size } from "./terminal.ts";
import { clipLine, type Line, overlayLine, seg, textWidth, wrapText } from "./text.ts";

export interface PageParts {
  title: string;
  /** Fixed lines under the title bar. */
  header?: PageBuilder;
  /** Scrolled to keep the focused row visible. */
  body: PageBuilder;
  /** Fixed lines above the help line. */
  footer?: PageBuilder;
  help: string;
  /** Which body rows are shown; the layout keeps the focused one in view. */
  scroll: PageScroll;
  version: string;
}

/** Lines that had to be cut at the right edge; the render tests demand 0. */
export interface LaidOutFrame extends Frame {
  clipped: number;
  /** Body rows that did not fit and must be scrolled to. */
  hiddenRows: number;
}

/**
 * Title bar, header, scrolling body, footer and a help line, in exactly
 * `size.height` rows. When the body does not fit, `^ more` / `v more` marks
 * say that there is more to scroll to.
 */
export function layoutPage(size: Size, p: PageParts): LaidOutFrame {
  const { width, height } = size;
  const lines: Line[] = [];
  let clipped = 0;
  const push = (line: Line) => {
    const r = clipLine(line, width);
    if (r.clipped) clipped++;
    lines.push(r.line);
  };
  const left = ` virt-p2v ${p.version}`;
  const right = `${p.title} `;
  const gap = Math.max(1, width - textWidth(left) - textWidth(right));
  push([seg(left + " ".repeat(gap) + right, "title")]);

  const header = p.header?.lines ?? [];
  const footer = p.footer?.lines ?? [];
  for (const l of header) push(l);
  // The key help wraps rather than losing its end (Ctrl-U, Esc) on a narrow screen.
  const help = wrapHelp(p.help, width - 1);
  const bodyHeight = Math.max(1, height - 1 - help.length - header.length - footer.length);
  const body = p.body.lines;
  const offset = p.scroll.layout(body.length, bodyHeight, p.body.focusRow);
  const bodyTop = lines.length;
  for (let i = 0; i < bodyHeight; i++) {
    const l = body[offset + i];
    if (l === undefined) lines.push([]);
    else push(l);
  }
  if (offset > 0) {
    lines[bodyTop] = overlayLine(lines[bodyTop], [seg("^ more", "key")], width - 7, width);
  }
  const hiddenBelow = body.length - offset - bodyHeight;
  if (hiddenBelow > 0) {
    const last = bodyTop + bodyHeight - 1;
    lines[last] = overlayLine(lines[last], [seg("v more", "key")], width - 7, width);
  }
  for (const l of footer) push(l);
  while (lines.length < height - help.length) lines.push([]);
  for (const l of help) push([seg(" " + l, "dim")]);

  let cursor: { row: number; col: number } | undefined;
  if (p.body.cursor) {
    const row = p.body.cursor.row - offset;
    if (row >= 0 && row < bodyHeight) cursor = { row: bodyTop + row, col: p.body.cursor.col };
  }
  const headerCursor = p.header?.cursor;
  if (headerCursor) cursor = { row: 1 + headerCursor.row, col: headerCursor.col };
  const footerCursor = p.footer?.cursor;
  if (footerCursor) {
    cursor = { row: bodyTop + bodyHeight + footerCursor.row, col: footerCursor.col };
  }
  return {
    lines: lines.slice(0, height),
    cursor,
    clipped,
    hiddenRows: Math.max(0, body.length - bodyHeight),
  };
}

/**
 * The key help in lines of at most `width` columns, broken between its
 * entries (separated by two spaces) so that no `Key: action` is split.
 */
export function wrapHelp(help: string, width: number): string[] {
  const out: string[] = [];
  let current = "";
  for (const entry of help.split("  ")) {
    if (current === "") current = entry;
    else if (textWidth(current) + 2 + textWidth(entry) <= width) current += "  " + entry;
    else {
      out.push(current);
      current = entry;
    }
  }
  out.push(current);
  // An entry wider than the screen on its own is word-wrapped.
  return out.flatMap((l) => textWidth(l) > width ? wrapText(l, width) : [l]);
}
