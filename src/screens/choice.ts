/** One of a fixed list of options, changed in place with the arrows or a letter. */
import type { KeyResult } from "./field_state.ts";
import type { Key } from "./keys.ts";
import type { Rendered } from "./rendered.ts";
import { padText, seg, shorten, textWidth } from "./text.ts";

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
