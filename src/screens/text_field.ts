/** A one-line text field: its value, its cursor and its box on the page. */
import { FieldState, type KeyResult } from "./field_state.ts";
import type { Key } from "./keys.ts";
import type { Rendered } from "./rendered.ts";
import { padText, sanitize, seg, shorten, type StyleName } from "./text.ts";

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

/**
 * The width of `field`'s box when `available` columns are free: all of them,
 * unless the field holds few characters (a port, a number of vCPUs), whose
 * box needs no more than its longest value and the cursor after it.
 */
export function fieldWidth(field: TextField, available: number): number {
  return Math.max(3, Math.min(available, field.maxLength + 3));
}
