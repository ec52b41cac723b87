/** The lines of a page, built row by row from text and widgets. */
import type { Rendered } from "./rendered.ts";
import {
  type Line,
  lineWidth,
  padText,
  sanitize,
  type Seg,
  seg,
  type StyleName,
  textWidth,
  wrapText,
} from "./text.ts";

/** A line of a page under construction: plain text, styled segments and widgets. */
export type Part = string | Seg | Rendered;

/** Builds the lines of a page, remembering the focused row and the text cursor. */
export class PageBuilder {
  readonly lines: Line[] = [];
  focusRow: number | undefined;
  cursor: { row: number; col: number } | undefined;

  add(...parts: Part[]): void {
    const line: Line = [];
    let col = 0;
    for (const p of parts) {
      if (typeof p === "string") {
        line.push(seg(p));
        col += textWidth(p);
      } else if ("segs" in p) {
        if (p.focused) this.focusRow = this.lines.length;
        if (p.cursor !== undefined) this.cursor = { row: this.lines.length, col: col + p.cursor };
        line.push(...p.segs);
        col += lineWidth(p.segs);
      } else {
        line.push(p);
        col += textWidth(p.text);
      }
    }
    this.lines.push(line);
  }

  blank(): void {
    this.lines.push([]);
  }

  /** `--- Title -----` across the width. */
  heading(title: string, width: number): void {
    const text = `-- ${title} `;
    this.lines.push([seg(text, "heading"), seg("-".repeat(Math.max(0, width - textWidth(text))))]);
  }

  /** Word-wrapped text, each line indented: a hint or a reason is never cut at the edge. */
  paragraph(text: string, width: number, style?: StyleName, indent = 1): void {
    for (const l of wrapText(sanitize(text), width - indent)) {
      this.lines.push([seg(" ".repeat(indent)), seg(l, style)]);
    }
  }
}

/** `> Label     ` before a field: the focus mark and a padded label. */
export function labelPart(label: string, width: number, focused: boolean, enabled = true): Seg[] {
  return [seg(focused ? ">" : " "), seg(padText(label, width), enabled ? undefined : "dim")];
}
