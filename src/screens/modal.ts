/** A box over the page: a message, a question, or a list of choices. */
import { Button } from "./button.ts";
import type { Key } from "./keys.ts";
import type { Size } from "./terminal.ts";
import {
  type Line,
  lineWidth,
  overlayLine,
  padText,
  sanitize,
  type Seg,
  seg,
  type StyleName,
  textWidth,
  wrapText,
} from "./text.ts";

export class Modal {
  readonly title: string;
  readonly text: string;
  readonly buttons: string[];
  focus: number;
  readonly style: StyleName | undefined;

  constructor(
    title: string,
    text: string,
    buttons: string[],
    opts: { focus?: number; style?: StyleName } = {},
  ) {
    this.title = title;
    this.text = text;
    this.buttons = buttons;
    this.focus = opts.focus ?? 0;
    this.style = opts.style;
  }

  /**
   * The chosen button's label, `null` for Escape (the last button is the
   * "no" answer by convention), or undefined while still open.
   */
  key(k: Key): string | null | undefined {
    const n = this.buttons.length;
    switch (k.name) {
      case "left":
      case "backtab":
      case "up":
        this.focus = (this.focus + n - 1) % n;
        return undefined;
      case "right":
      case "tab":
      case "down":
        this.focus = (this.focus + 1) % n;
        return undefined;
      case "enter":
        return this.buttons[this.focus];
      case "escape":
        return null;
      case "ctrl":
        return k.ch === "c" ? null : undefined;
      case "char": {
        // First letter of a button chooses it (y/n).
        const hit = this.buttons.find((b) =>
          b.toLowerCase().startsWith((k.ch ?? "").toLowerCase())
        );
        return hit;
      }
      default:
        return undefined;
    }
  }

  /** Draw the box centred over `lines` (which are modified). */
  overlay(lines: Line[], size: Size): void {
    const width = Math.min(size.width - 4, 70);
    const inner = width - 4;
    const body = wrapText(this.text.split("\n").map(sanitize).join("\n"), inner);
    const buttonSegs: Seg[] = [];
    this.buttons.forEach((b, i) => {
      if (i > 0) buttonSegs.push(seg("  "));
      buttonSegs.push(...new Button(b).render(i === this.focus).segs);
    });
    const maxBody = Math.max(1, size.height - 8);
    const shownBody = body.length > maxBody ? [...body.slice(0, maxBody - 1), "..."] : body;
    const box: Line[] = [];
    const titleText = ` ${this.title} `;
    box.push([
      seg("+-" + titleText + "-".repeat(Math.max(0, width - 3 - textWidth(titleText))) + "+"),
    ]);
    box.push([seg("|" + " ".repeat(width - 2) + "|")]);
    for (const l of shownBody) {
      box.push([seg("| "), seg(padText(l, inner), this.style), seg(" |")]);
    }
    box.push([seg("|" + " ".repeat(width - 2) + "|")]);
    const bw = lineWidth(buttonSegs);
    const pad = Math.max(0, Math.floor((width - 2 - bw) / 2));
    box.push([
      seg("|" + " ".repeat(pad)),
      ...buttonSegs,
      seg(" ".repeat(Math.max(0, width - 2 - pad - bw)) + "|"),
    ]);
    box.push([seg("+" + "-".repeat(width - 2) + "+")]);
    const top = Math.max(1, Math.floor((size.height - box.length) / 2));
    const leftCol = Math.floor((size.width - width) / 2);
    box.forEach((l, i) => {
      if (top + i < lines.length) {
        lines[top + i] = overlayLine(lines[top + i], l, leftCol, size.width);
      }
    });
  }
}
