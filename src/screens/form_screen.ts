/**
 * What every form-like screen shares: a focus ring over its items, key
 * dispatch (modal box first, then the focused widget, then navigation), and
 * a modal box drawn over the page.
 */
import type { Key } from "./keys.ts";
import type { Frame, Size } from "./terminal.ts";
import type { View, ViewContext } from "./ui.ts";
import { Button } from "./button.ts";
import { FocusRing, type Item, navigate } from "./focus_ring.ts";
import { Modal } from "./modal.ts";
import type { LaidOutFrame } from "./page_layout.ts";
import type { Part } from "./page_builder.ts";
import { PageScroll } from "./page_scroll.ts";

export abstract class FormScreen<R> implements View<R> {
  readonly ring = new FocusRing();
  readonly scroll = new PageScroll();
  #modal: { box: Modal; onClose: (choice: string | null) => void } | undefined;
  #ctx: ViewContext<R> | undefined;

  /** Focusable items in focus order, as they are now. */
  abstract items(): Item[];
  /** The page without any modal box. */
  abstract layout(size: Size): LaidOutFrame;
  /** A button was pressed. */
  abstract activate(button: Button): void;
  /** A widget's value changed through the keyboard. */
  changed(_item: Item): void {}
  /** Keys the screen handles before the focused widget (Ctrl-C, PgUp, …); true if handled. */
  screenKey(_key: Key): boolean {
    return false;
  }

  get ctx(): ViewContext<R> | undefined {
    return this.#ctx;
  }

  start(ctx: ViewContext<R>): void {
    this.#ctx = ctx;
  }

  stop(): void {}

  invalidate(): void {
    this.#ctx?.invalidate();
  }

  finish(result: R): void {
    this.#ctx?.finish(result);
  }

  /** Show a box; `onClose` gets the chosen button label, or null for Escape. */
  ask(box: Modal, onClose: (choice: string | null) => void = () => {}): void {
    this.#modal = { box, onClose };
    this.invalidate();
  }

  /** "Quit without converting?" — No is the default; Yes finishes with `result`. */
  askToQuit(result: R): void {
    this.ask(
      new Modal("Quit", "Quit virt-p2v without converting anything?", ["Yes, quit", "No"], {
        focus: 1,
      }),
      (choice) => {
        if (choice === "Yes, quit") this.finish(result);
      },
    );
  }

  /** A footer's row of buttons, the focused one marked, two columns apart. */
  buttonRow(buttons: Button[]): Part[] {
    const row: Part[] = [" "];
    buttons.forEach((b, i) => {
      if (i > 0) row.push("  ");
      row.push(b.render(this.ring.is(b)));
    });
    return row;
  }

  render(size: Size): Frame {
    const frame = this.layout(size);
    if (this.#modal) {
      this.#modal.box.overlay(frame.lines, size);
      return { lines: frame.lines };
    }
    return frame;
  }

  key(key: Key, ctx: ViewContext<R>): void {
    this.#ctx = ctx;
    this.scroll.settle();
    if (this.#modal) {
      const current = this.#modal;
      const choice = current.box.key(key);
      if (choice !== undefined) {
        this.#modal = undefined;
        current.onClose(choice);
      }
      return;
    }
    if (this.screenKey(key)) return;
    const items = this.items();
    const item = this.ring.resolve(items);
    if (item instanceof Button) {
      if (key.name === "enter" || (key.name === "char" && key.ch === " ")) {
        this.activate(item);
        return;
      }
    } else if (item) {
      const result = item.key(key);
      if (result === "changed") this.changed(item);
      if (result) return;
    }
    navigate(this.ring, items, key);
  }
}

/** True when `parse` accepts the value (the config parsers throw on bad input). */
export function parses(parse: () => unknown): boolean {
  try {
    parse();
    return true;
  } catch {
    return false;
  }
}
