/** A button: pressed with Enter by the screen that owns it. */
import type { KeyResult } from "./field_state.ts";
import type { Key } from "./keys.ts";
import type { Rendered } from "./rendered.ts";
import { seg } from "./text.ts";

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
