/** A one-line text field: its value, its cursor and its box on the page. */
import { FieldState, type KeyResult } from "./field_state.ts";
import type { Key } from "./keys.ts";
import type { Rendered } from "./rendered.ts";
import { padText, sanitize, seg, shorten, type StyleName } from "./text.ts";

/** The narrowest box: the brackets and one column between them. */
const MIN_FIELD_WIDTH = 3;

/**
 * The first character a focused box of `inner` columns shows, starting from
 * where the view was (`scroll`) and moving only as far as needed: the
 * cursor stays in view, and a scrolled view leaves no blank after the value
 * but the cursor's column.
 */
function visibleStart(
  scroll: number,
  cursor: number,
  length: number,
  inner: number,
): number {
  let start = Math.min(scroll, cursor);
  if (cursor - start > inner - 1) start = cursor - inner + 1;
  if (start > 0 && length - start < inner - 1) start = Math.max(0, length - inner + 1);
  return start;
}

/**
 * A one-line text field. Its state (value, cursor, the view's scroll and
 * the width of its box) changes by keys, by the program, by the focus and
 * by the screen's layout; drawing it only reads that state, so drawing a
 * frame twice, or a frame at another size in between, changes nothing the
 * next key does.
 */
export class TextField {
  readonly kind = "text";
  label: string;
  readonly #state: FieldState;
  /**
   * The first character shown while focused, as of the last key: the view
   * moves only when the cursor would leave it, so a cursor moved back
   * through a long value moves within the box, not the value under it.
   */
  #scroll = 0;
  /** Columns of the box, the brackets included, as the screen last laid it out. */
  #width = MIN_FIELD_WIDTH;
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
    this.#state = new FieldState(value, opts.maxLength ?? 1024);
    this.masked = opts.masked ?? false;
    this.placeholder = opts.placeholder;
  }

  get value(): string {
    return this.#state.value;
  }

  /** A new value from the program: the view starts again at its beginning. */
  set value(text: string) {
    this.#state.value = text;
    this.#scroll = 0;
  }

  get cursor(): number {
    return this.#state.cursor;
  }

  get maxLength(): number {
    return this.#state.maxLength;
  }

  /**
   * Called by the focus ring when the keyboard comes to this field: the
   * value is selected and the view starts from its beginning (an unfocused
   * field shows its beginning), then follows the cursor to the end.
   */
  focus(): void {
    this.#state.focus();
    this.#scroll = 0;
  }

  /**
   * The screen's layout step gives the box its width. The scroll is left as
   * it is: a frame drawn at another size in between, then this one again,
   * shows the field as before, and the next key moves the view from there.
   */
  layout(width: number): void {
    this.#width = Math.max(MIN_FIELD_WIDTH, width);
  }

  key(k: Key): KeyResult {
    // Keys reach only the focused field: the view they move from is the one
    // a focused box of this width shows.
    const shown = this.#start();
    const result = this.#state.key(k);
    this.#scroll = visibleStart(shown, this.cursor, this.#state.chars.length, this.#inner);
    return result;
  }

  get #inner(): number {
    return this.#width - 2;
  }

  /** The first character a focused box shows now. */
  #start(): number {
    return visibleStart(this.#scroll, this.cursor, this.#state.chars.length, this.#inner);
  }

  /**
   * `[value   ]` in the laid-out width: unfocused from the value's
   * beginning, focused from where the view follows the cursor.
   */
  render(focused: boolean): Rendered {
    const inner = this.#inner;
    const chars = this.#state.chars;
    const shown = this.masked ? chars.map(() => "*") : chars.map((c) => sanitize(c) || "?");
    const start = focused ? this.#start() : 0;
    let body = shown.slice(start, start + inner).join("");
    let style: StyleName | undefined = focused ? "focus" : undefined;
    // Shown focused too, as in a browser: the hint matters most while typing starts.
    if (body === "" && this.placeholder !== undefined) {
      body = `<${shorten(sanitize(this.placeholder), inner - 2)}>`;
      style = "dim";
    }
    if (!this.enabled) style = "dim";
    const left = start > 0 ? "<" : "[";
    const right = shown.length - start > inner ? ">" : "]";
    return {
      segs: [seg(left), seg(padText(body, inner), style), seg(right)],
      cursor: focused ? 1 + this.cursor - start : undefined,
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
  return Math.max(MIN_FIELD_WIDTH, Math.min(available, field.maxLength + 3));
}
