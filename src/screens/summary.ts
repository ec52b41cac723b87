/**
 * Between the settings and the conversion: what goes where and how much, on
 * one page, before anything is exported or started on the server. Start
 * conversion goes on; Back to settings (or Esc) changes something first.
 * The focus stays on the two buttons; the arrows up and down and the page
 * keys scroll the page when it is longer than the screen.
 */
import type { ConversionSummary } from "../report/conversion_summary.ts";
import { Button } from "./button.ts";
import { FormScreen } from "./form_screen.ts";
import type { Item } from "./focus_ring.ts";
import { isCtrl, type Key } from "./keys.ts";
import { PageBuilder } from "./page_builder.ts";
import { type LaidOutFrame, layoutPage } from "./page_layout.ts";
import { summaryLines } from "./summary_lines.ts";
import type { Size } from "./terminal.ts";
import { seg } from "./text.ts";

export type SummaryResult = "start" | "back" | "quit";

/** Rows moved by PgUp/PgDn: a screenful at 80x24 less a few rows of context. */
const PAGE_STEP = 15;

export class SummaryScreen extends FormScreen<SummaryResult> {
  readonly backButton = new Button("Back to settings");
  readonly startButton = new Button("Start conversion");
  readonly #summary: ConversionSummary;
  readonly #version: string;

  constructor(summary: ConversionSummary, version: string) {
    super();
    this.#summary = summary;
    this.#version = version;
    // The user came here by pressing Start: Enter again goes on.
    this.ring.set(this.startButton);
  }

  items(): Item[] {
    return [this.backButton, this.startButton];
  }

  override screenKey(key: Key): boolean {
    if (isCtrl(key, "c")) {
      this.askToQuit("quit");
      return true;
    }
    // The terminal went away: nothing has been started, so nothing goes on.
    if (key.name === "eof") {
      this.finish("quit");
      return true;
    }
    if (key.name === "escape") {
      this.finish("back");
      return true;
    }
    const step = scrollStep(key);
    if (step !== undefined) {
      this.scroll.by(step);
      this.invalidate();
      return true;
    }
    return false;
  }

  activate(button: Button): void {
    if (button === this.startButton) this.finish("start");
    else if (button === this.backButton) this.finish("back");
  }

  layout(size: Size): LaidOutFrame {
    const width = size.width;
    const header = new PageBuilder();
    header.add(
      " ",
      seg("Nothing has been exported yet. Check what goes where, then start.", "dim"),
    );
    // The warnings come last, maybe below the screen: say at the top that there are some.
    const warnings = this.#summary.warnings.length;
    if (warnings > 0) {
      header.add(
        " ",
        seg(`${warnings} warning${warnings === 1 ? "" : "s"} at the end of the page.`, "warn"),
      );
    }
    const body = new PageBuilder();
    body.lines.push(...summaryLines(this.#summary, width));
    const footer = new PageBuilder();
    footer.blank();
    footer.add(...this.buttonRow(this.items() as Button[]));
    return layoutPage(size, {
      title: "Conversion summary",
      header,
      body,
      footer,
      help: "Enter: press  Tab/Left/Right: move  Up/Down/PgUp/PgDn: scroll  Esc: back",
      scroll: this.scroll,
      version: this.#version,
    });
  }
}

/** Rows a scrolling key moves the page (down when positive); undefined for other keys. */
function scrollStep(key: Key): number | undefined {
  switch (key.name) {
    case "up":
      return -1;
    case "down":
      return 1;
    case "pageup":
      return -PAGE_STEP;
    case "pagedown":
      return PAGE_STEP;
    case "home":
      return -Infinity;
    case "end":
      return Infinity;
    default:
      return undefined;
  }
}
