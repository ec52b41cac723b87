/** A tick box: `[x]` or `[ ]`, toggled by Space or Enter. */
import type { KeyResult } from "./field_state.ts";
import type { Key } from "./keys.ts";
import type { Rendered } from "./rendered.ts";
import { padText, seg } from "./text.ts";

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
