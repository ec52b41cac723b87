/**
 * The few widgets the dialog needs — text field, checkbox, choice, button —
 * plus focus handling, page layout with scrolling, and modal boxes.
 *
 * Focus is visible without colour: the focused field has `>` before it and
 * the focused button is drawn `[>Label<]`, so a monochrome serial console
 * (or a text capture) shows where the keyboard is.
 */
import { FieldState, type KeyResult } from "./field_state.ts";
import type { Key } from "./keys.ts";
import type { Frame, Size } from "./terminal.ts";
import {
  clipLine,
  type Line,
  lineWidth,
  overlayLine,
  padText,
  sanitize,
  type Seg,
  seg,
  shorten,
  type StyleName,
  textWidth,
  wrapText,
} from "./text.ts";

/** A widget drawn on a line: its segments and, for a text field, the cursor offset. */
export interface Rendered {
  segs: Seg[];
  cursor?: number;
  focused?: boolean;
}

export type { KeyResult };

export class TextField {
  readonly kind = "text";
  label: string;
  readonly state: FieldState;
  #scroll = 0;
  readonly masked: boolean;
  enabled = true;
  /** Why the value is not acceptable, shown next to the field. */
  error: string | undefined;
  /**
   * What to type when the field is empty (e.g. `none`, `e.g. qcow2`). It is
   * drawn in angle brackets, `<none>`, so that without colour (NO_COLOR, a
   * VT100) it still cannot be taken for a value; it is never the value.
   */
  placeholder: string | undefined;

  constructor(
    label: string,
    value = "",
    opts: { masked?: boolean; maxLength?: number; placeholder?: string } = {},
  ) {
    this.label = label;
    this.state = new FieldState(value, opts.maxLength ?? 1024);
    this.masked = opts.masked ?? false;
    this.placeholder = opts.placeholder;
  }

  get value(): string {
    return this.state.value;
  }

  set value(text: string) {
    this.state.value = text;
    this.#scroll = 0;
  }

  get cursor(): number {
    return this.state.cursor;
  }

  get maxLength(): number {
    return this.state.maxLength;
  }

  /** Called by the focus ring when the keyboard comes to this field. */
  focus(): void {
    this.state.focus();
  }

  key(k: Key): KeyResult {
    return this.state.key(k);
  }

  /** `[value   ]` in `width` columns, scrolled so the cursor is visible. */
  render(width: number, focused: boolean): Rendered {
    const inner = Math.max(1, width - 2);
    const chars = this.state.chars;
    const cursor = this.state.cursor;
    const shown = this.masked ? chars.map(() => "*") : chars.map((c) => sanitize(c) || "?");
    // Unfocused, a field shows its beginning; focused, it follows the cursor.
    if (!focused) this.#scroll = 0;
    else if (cursor < this.#scroll) this.#scroll = cursor;
    if (focused && cursor - this.#scroll > inner - 1) this.#scroll = cursor - inner + 1;
    if (this.#scroll > 0 && shown.length - this.#scroll < inner - 1) {
      this.#scroll = Math.max(0, shown.length - inner + 1);
    }
    let body = shown.slice(this.#scroll, this.#scroll + inner).join("");
    let style: StyleName | undefined = focused ? "focus" : undefined;
    // Shown focused too, as in a browser: the hint matters most while typing starts.
    if (body === "" && this.placeholder !== undefined) {
      body = `<${shorten(sanitize(this.placeholder), inner - 2)}>`;
      style = "dim";
    }
    if (!this.enabled) style = "dim";
    const left = this.#scroll > 0 ? "<" : "[";
    const right = shown.length - this.#scroll > inner ? ">" : "]";
    return {
      segs: [seg(left), seg(padText(body, inner), style), seg(right)],
      cursor: focused ? 1 + cursor - this.#scroll : undefined,
      focused,
    };
  }
}

export class Checkbox {
  readonly kind = "check";
  label: string;
  checked: boolean;
  enabled = true;

  constructor(label: string, checked: boolean) {
    this.label = label;
    this.checked = checked;
  }

  key(k: Key): KeyResult {
    if ((k.name === "char" && k.ch === " ") || k.name === "enter") {
      this.checked = !this.checked;
      return "changed";
    }
    return false;
  }

  render(focused: boolean, labelWidth?: number): Rendered {
    const label = labelWidth === undefined ? this.label : padText(this.label, labelWidth);
    const box = this.renderBox(focused);
    return { segs: [...box.segs, seg(" " + label, this.enabled ? undefined : "dim")], focused };
  }

  /** Only the focus mark and `[x]`, for rows that draw their own label. */
  renderBox(focused: boolean): Rendered {
    return {
      segs: [
        seg(focused ? ">" : " "),
        seg(`[${this.checked ? "x" : " "}]`, focused ? "focus" : undefined),
      ],
      focused,
    };
  }
}

export class Choice {
  readonly kind = "choice";
  label: string;
  options: string[];
  index: number;
  enabled = true;
  /** Why the option chosen is not acceptable, shown next to the choice. */
  error: string | undefined;
  /** How an option is shown (e.g. `` → `(not set)`). */
  display: (option: string) => string;

  constructor(label: string, options: string[], value: string, display?: (o: string) => string) {
    this.label = label;
    this.options = options.length > 0 ? options : [value];
    this.index = Math.max(0, this.options.indexOf(value));
    this.display = display ?? ((o) => o);
  }

  get value(): string {
    return this.options[this.index];
  }

  set value(v: string) {
    const i = this.options.indexOf(v);
    if (i >= 0) this.index = i;
  }

  key(k: Key): KeyResult {
    const n = this.options.length;
    if (k.name === "right" || (k.name === "char" && k.ch === " ")) {
      this.index = (this.index + 1) % n;
      return "changed";
    }
    if (k.name === "left") {
      this.index = (this.index + n - 1) % n;
      return "changed";
    }
    if (k.name === "char" && k.ch !== undefined && /[a-z0-9]/i.test(k.ch)) {
      // Jump to the next option starting with this letter.
      for (let step = 1; step <= n; step++) {
        const i = (this.index + step) % n;
        if (this.options[i].toLowerCase().startsWith(k.ch.toLowerCase())) {
          this.index = i;
          return "changed";
        }
      }
      return "handled";
    }
    return false;
  }

  /** `< value   >` wide enough for every option. */
  render(focused: boolean, maxWidth = 30): Rendered {
    // A loop, not Math.max(...): a spread of a long list overflows the stack.
    let widest = 0;
    for (const o of this.options) {
      widest = Math.max(widest, textWidth(this.display(o)));
      if (widest >= maxWidth - 4) break;
    }
    const width = Math.min(maxWidth - 4, widest);
    return {
      segs: [
        seg("<"),
        seg(
          ` ${padText(shorten(this.display(this.value), width), width)} `,
          focused ? "focus" : undefined,
        ),
        seg(">"),
      ],
      focused,
    };
  }
}

export class Button {
  readonly kind = "button";
  label: string;
  enabled: boolean;

  constructor(label: string, enabled = true) {
    this.label = label;
    this.enabled = enabled;
  }

  key(_k: Key): KeyResult {
    return false;
  }

  /** `[ Label ]`, focused `[>Label<]`, unavailable `( Label )`. */
  render(focused: boolean): Rendered {
    if (!this.enabled) return { segs: [seg(`( ${this.label} )`, "dim")], focused: false };
    if (focused) return { segs: [seg("[>"), seg(this.label, "focus"), seg("<]")], focused };
    return { segs: [seg(`[ ${this.label} ]`)], focused };
  }
}

export type Item = TextField | Checkbox | Choice | Button;

/** Which item has the keyboard, over a list that may change between frames. */
export class FocusRing {
  #current: Item | undefined;

  get current(): Item | undefined {
    return this.#current;
  }

  /** The focused item if it is still present and enabled, else the first enabled one. */
  resolve(items: readonly Item[]): Item | undefined {
    if (this.#current && items.includes(this.#current) && this.#current.enabled) {
      return this.#current;
    }
    this.#enter(items.find((i) => i.enabled));
    return this.#current;
  }

  set(item: Item): void {
    this.#enter(item);
  }

  is(item: Item): boolean {
    return this.#current === item;
  }

  move(items: readonly Item[], delta: 1 | -1): void {
    const enabled = items.filter((i) => i.enabled);
    if (enabled.length === 0) return;
    const at = this.#current ? enabled.indexOf(this.#current) : -1;
    const next = at < 0 ? 0 : (at + delta + enabled.length) % enabled.length;
    this.#enter(enabled[next]);
  }

  /** Focus `item`; a text field that gets the keyboard selects its value. */
  #enter(item: Item | undefined): void {
    if (item instanceof TextField) item.focus();
    this.#current = item;
  }
}

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

export interface PageParts {
  title: string;
  /** Fixed lines under the title bar. */
  header?: PageBuilder;
  /** Scrolled to keep the focused row visible. */
  body: PageBuilder;
  /** Fixed lines above the help line. */
  footer?: PageBuilder;
  help: string;
  /** First body row shown; updated to follow the focus. */
  scroll: { offset: number };
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
  let offset = Math.min(p.scroll.offset, Math.max(0, body.length - bodyHeight));
  const focus = p.body.focusRow;
  if (focus !== undefined) {
    if (focus < offset) offset = focus;
    if (focus >= offset + bodyHeight) offset = focus - bodyHeight + 1;
  }
  p.scroll.offset = offset;
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

/** A box over the page: a message, a question, or a list of choices. */
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

/**
 * The width of `field`'s box when `available` columns are free: all of them,
 * unless the field holds few characters (a port, a number of vCPUs), whose
 * box needs no more than its longest value and the cursor after it.
 */
export function fieldWidth(field: TextField, available: number): number {
  return Math.max(3, Math.min(available, field.maxLength + 3));
}

/** `> Label     ` before a field: the focus mark and a padded label. */
export function labelPart(label: string, width: number, focused: boolean, enabled = true): Seg[] {
  return [seg(focused ? ">" : " "), seg(padText(label, width), enabled ? undefined : "dim")];
}

/** Standard navigation between items; returns true when the key moved the focus. */
export function navigate(ring: FocusRing, items: readonly Item[], k: Key): boolean {
  switch (k.name) {
    case "tab":
    case "down":
      ring.move(items, 1);
      return true;
    case "backtab":
    case "up":
      ring.move(items, -1);
      return true;
    case "enter":
      // Enter in a field moves on, like Tab; buttons and checkboxes handle it themselves.
      if (ring.current?.kind === "text" || ring.current?.kind === "choice") {
        ring.move(items, 1);
        return true;
      }
      return false;
    case "left":
    case "right":
      // Between buttons, left/right move too.
      if (ring.current?.kind === "button") {
        ring.move(items, k.name === "right" ? 1 : -1);
        return true;
      }
      return false;
    default:
      return false;
  }
}
