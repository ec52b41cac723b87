/**
 * What a text field holds while it is edited — the characters, the cursor,
 * and whether the whole value is still "selected" — apart from how it is
 * drawn, so the editing rules can be tested without a screen.
 */
import type { Key } from "./keys.ts";

export type KeyResult = "changed" | "handled" | false;

export class FieldState {
  #chars: string[];
  #cursor: number;
  /**
   * Set when the field gets the focus, cleared by the first key that moves
   * the cursor or edits. While set, a typed character replaces the whole
   * value: a pre-filled field (`/var/tmp` from the command line) is usually
   * retyped rather than extended, as with the select-on-focus of browser and
   * GUI forms and the fields of dialog(1)-style installers. Moving the
   * cursor first (Left, Right, Home, End, Backspace) says "edit this value",
   * and then typing inserts at the cursor.
   */
  #replacing = false;
  readonly maxLength: number;

  constructor(value = "", maxLength = 1024) {
    this.maxLength = maxLength;
    this.#chars = Array.from(value);
    this.#cursor = this.#chars.length;
  }

  get value(): string {
    return this.#chars.join("");
  }

  /** A new value from the program (not the keyboard): the cursor goes to its end. */
  set value(text: string) {
    this.#chars = Array.from(text);
    this.#cursor = this.#chars.length;
  }

  /** The characters, one grapheme-ish code point each (for drawing). */
  get chars(): readonly string[] {
    return this.#chars;
  }

  get cursor(): number {
    return this.#cursor;
  }

  /** True while the next typed character would replace the whole value. */
  get replacing(): boolean {
    return this.#replacing && this.#chars.length > 0;
  }

  /** The field got the keyboard: the value is selected, the cursor at its end. */
  focus(): void {
    this.#replacing = true;
    this.#cursor = this.#chars.length;
  }

  key(k: Key): KeyResult {
    const replacing = this.replacing;
    // Any key this field understands ends the selection; Tab and the like
    // return false below and leave it for the next field's turn.
    const result = this.#edit(k, replacing);
    if (result !== false) this.#replacing = false;
    return result;
  }

  #edit(k: Key, replacing: boolean): KeyResult {
    const chars = this.#chars;
    switch (k.name) {
      case "char":
        if (k.ch === undefined) return "handled";
        if (replacing) {
          this.#chars = [k.ch];
          this.#cursor = 1;
          return "changed";
        }
        if (chars.length >= this.maxLength) return "handled";
        chars.splice(this.#cursor++, 0, k.ch);
        return "changed";
      case "backspace":
        if (this.#cursor === 0) return "handled";
        chars.splice(--this.#cursor, 1);
        return "changed";
      case "delete":
        if (this.#cursor >= chars.length) return "handled";
        chars.splice(this.#cursor, 1);
        return "changed";
      case "left":
        this.#cursor = Math.max(0, this.#cursor - 1);
        return "handled";
      case "right":
        this.#cursor = Math.min(chars.length, this.#cursor + 1);
        return "handled";
      case "home":
        this.#cursor = 0;
        return "handled";
      case "end":
        this.#cursor = chars.length;
        return "handled";
      case "ctrl":
        switch (k.ch) {
          case "a":
            this.#cursor = 0;
            return "handled";
          case "e":
            this.#cursor = chars.length;
            return "handled";
          case "u": // clear the field, as in an installer or readline
            if (chars.length === 0) return "handled";
            this.#chars = [];
            this.#cursor = 0;
            return "changed";
          case "k":
            if (this.#cursor >= chars.length) return "handled";
            chars.splice(this.#cursor);
            return "changed";
          case "w": {
            if (this.#cursor === 0) return "handled";
            let start = this.#cursor;
            while (start > 0 && chars[start - 1] === " ") start--;
            while (start > 0 && chars[start - 1] !== " ") start--;
            chars.splice(start, this.#cursor - start);
            this.#cursor = start;
            return "changed";
          }
        }
        return false;
      default:
        return false;
    }
  }
}
