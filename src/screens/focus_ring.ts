/**
 * Which widget of a screen has the keyboard, and the keys that move it.
 *
 * Focus is visible without colour: the focused field has `>` before it and
 * the focused button is drawn `[>Label<]`, so a monochrome serial console
 * (or a text capture) shows where the keyboard is.
 */
import type { Button } from "./button.ts";
import type { Checkbox } from "./checkbox.ts";
import type { Choice } from "./choice.ts";
import type { Key } from "./keys.ts";
import { TextField } from "./text_field.ts";

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
