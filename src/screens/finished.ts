/**
 * Screen 4: how it ended, in plain words; where the log is; on failure the
 * last lines of the log; after a success, the kernel command line that
 * repeats this conversion unattended on other machines. Power off and Reboot
 * (boot image only) or Exit; after a failure, Back to settings to fix a
 * value and try again.
 */
import type { KernelLine } from "../config/kernel_line.ts";
import { virtV2vErrorOf } from "../engine/virt_v2v_error.ts";
import type { Config, StageStep } from "../config/types.ts";
import { describeError } from "../errors.ts";
import { FormScreen } from "./form_screen.ts";
import { isCtrl, type Key } from "./keys.ts";
import { LogScroll } from "./log_scroll.ts";
import type { DialogDeps } from "./model.ts";
import { formatDuration } from "../text/units.ts";
import { textWidth } from "../text/width.ts";
import type { RunningResult } from "./running.ts";
import type { Size } from "./terminal.ts";
import { hardWrap, sanitize, seg, type StyleName, wrapWords } from "./text.ts";
import { Button } from "./button.ts";
import type { Item } from "./focus_ring.ts";
import { PageBuilder } from "./page_builder.ts";
import { type LaidOutFrame, layoutPage } from "./page_layout.ts";

export type FinishedAction = "exit" | "poweroff" | "reboot" | "back";

/** Rows moved by PgUp/PgDn; the page is clamped to the body when laid out. */
const PAGE_STEP = 5;

/** Rows one PgUp or PgDn moves the log pane. */
const LOG_PAGE = 5;

export class FinishedScreen extends FormScreen<FinishedAction> {
  readonly powerOffButton = new Button("Power off");
  readonly rebootButton = new Button("Reboot");
  readonly exitButton = new Button("Exit");
  readonly backButton = new Button("Back to settings");
  #status: { text: string; style?: StyleName } | undefined;
  #busy = false;
  readonly #result: RunningResult;
  readonly #config: Config;
  readonly #deps: DialogDeps;
  readonly #repeat: KernelLine;
  /** How far the log pane is scrolled up from its newest row. */
  readonly logScroll = new LogScroll();

  /** `repeat`: the `p2v.*` line that repeats this conversion, shown after a success. */
  constructor(result: RunningResult, config: Config, deps: DialogDeps, repeat: KernelLine) {
    super();
    this.#result = result;
    this.#config = config;
    this.#deps = deps;
    this.#repeat = repeat;
    this.powerOffButton.enabled = deps.iso;
    this.rebootButton.enabled = deps.iso;
    // After a failure the likely next step is to fix a setting; after a cancel, to leave.
    this.ring.set(result.outcome.kind === "failed" ? this.backButton : this.exitButton);
  }

  /** Only a conversion that did not succeed is worth another try. */
  #canRetry(): boolean {
    return this.#result.outcome.kind !== "succeeded";
  }

  items(): Item[] {
    const power = [this.powerOffButton, this.rebootButton];
    return this.#canRetry()
      ? [this.backButton, ...power, this.exitButton]
      : [...power, this.exitButton];
  }

  override screenKey(key: Key): boolean {
    if (this.#busy) return true;
    if (isCtrl(key, "c") || key.name === "eof") {
      this.finish("exit");
      return true;
    }
    // After a failure the log pane is a few rows at 80x24: the cause may be further up.
    const failed = this.#result.outcome.kind !== "succeeded";
    if (failed && (key.name === "pageup" || key.name === "pagedown" || key.name === "end")) {
      if (key.name === "end") this.logScroll.end();
      else this.logScroll.by(key.name === "pageup" ? LOG_PAGE : -LOG_PAGE);
      this.invalidate();
      return true;
    }
    // After a success the focus stays on the buttons, so the body (a long
    // kernel line) scrolls by page keys.
    if (key.name === "pageup" || key.name === "pagedown") {
      const step = key.name === "pageup" ? -PAGE_STEP : PAGE_STEP;
      this.scroll.by(step);
      this.invalidate();
      return true;
    }
    return false;
  }

  activate(button: Button): void {
    if (this.#busy) return;
    if (button === this.exitButton) this.finish("exit");
    else if (button === this.backButton) this.finish("back");
    else if (button === this.powerOffButton) void this.#machine("poweroff");
    else if (button === this.rebootButton) void this.#machine("reboot");
  }

  async #machine(action: "poweroff" | "reboot"): Promise<void> {
    this.#busy = true;
    this.#status = { text: action === "poweroff" ? "Powering off ..." : "Rebooting ..." };
    this.invalidate();
    try {
      await (action === "poweroff" ? this.#deps.powerOff() : this.#deps.reboot());
      this.finish(action);
    } catch (err) {
      this.#busy = false;
      this.#status = {
        text: `Could not ${action === "poweroff" ? "power off" : "reboot"}: ${describeError(err)}`,
        style: "error",
      };
      this.invalidate();
    }
  }

  /**
   * The line plain and undecorated, broken only between its words: copied
   * from the screen, newlines and all, it reads back as the same settings.
   */
  #repeatLine(body: PageBuilder, width: number): void {
    if (this.#repeat.words.length === 0) return;
    // A key path or URL can be wider than the screen: it is cut at the edge,
    // and a note says so in the row the blank above would take (24 rows are few).
    // A row of whole words then stops one column short, so that only a cut
    // word fills a row.
    const cut = this.#repeat.words.some((w) => textWidth(w) > width - 3);
    if (!cut) body.blank();
    body.paragraph(
      "To repeat this conversion unattended on other machines, boot them with:",
      width,
      undefined,
      2,
    );
    const rows = wrapWords(this.#repeat.words, width - 2, { fullRowRunsOn: cut });
    for (const row of rows) body.add("  ", sanitize(row));
    if (cut) body.paragraph("A full row runs on into the next, without a space.", width, "dim", 2);
    for (const note of this.#repeat.notes) body.paragraph(note, width, "warn", 2);
  }

  /**
   * The last lines of the log, `height` rows of them, scrolled up as far
   * as `logScroll` says (bounded by what there is); virt-v2v's error line
   * stands out.
   */
  #logPane(body: PageBuilder, width: number, height: number): void {
    const rows: { text: string; error: boolean }[] = [];
    const need = height + this.logScroll.wanted;
    const tail = this.#result.logTail;
    for (let i = tail.length - 1; i >= 0 && rows.length < need; i--) {
      const error = virtV2vErrorOf(tail[i]) !== undefined;
      rows.unshift(...hardWrap(tail[i], width - 3).map((text) => ({ text, error })));
    }
    // Fewer rows than asked for means the whole tail was wrapped: its top is known.
    this.logScroll.layout(rows.length < need ? rows.length - height : Infinity);
    const up = this.logScroll.shown;
    body.blank();
    body.heading(
      up > 0
        ? `Last lines of the log (up ${up}; PgDn/End: newest)`
        : "Last lines of the log (PgUp: scroll up)",
      width,
    );
    const end = rows.length - up;
    for (const r of rows.slice(Math.max(0, end - height), end)) {
      body.add("  ", seg(r.text, r.error ? "error" : "dim"));
    }
  }

  layout(size: Size): LaidOutFrame {
    const width = size.width;
    const { outcome } = this.#result;
    const body = new PageBuilder();
    body.blank();
    const c = this.#config;
    const logFile = outcome.logFile;
    switch (outcome.kind) {
      case "succeeded":
        // A pre-copy or a listing converts nothing: its own sentence says what it did.
        if (outcome.summary !== undefined) {
          body.paragraph(outcome.summary, width, "ok", 2);
          break;
        }
        body.paragraph("The conversion was successful.", width, "ok", 2);
        body.blank();
        body.paragraph(
          `virt-v2v wrote the guest "${c.guestname}" with -o ${c.output.type}` +
            (c.output.storage ? ` to ${c.output.storage}` : "") +
            ` on ${c.remote.server}.`,
          width,
          undefined,
          2,
        );
        break;
      case "failed":
        body.paragraph("The conversion FAILED.", width, "error", 2);
        body.blank();
        body.paragraph(outcome.message, width, undefined, 2);
        break;
      case "cancelled":
        body.paragraph("The conversion was cancelled.", width, "warn", 2);
        body.blank();
        body.paragraph(
          "virt-v2v on the conversion server was interrupted; the guest was not created.",
          width,
          undefined,
          2,
        );
        break;
    }
    body.blank();
    if (logFile) {
      body.paragraph("Log file on the conversion server:", width, undefined, 2);
      body.paragraph(logFile, width, "key", 4);
    } else if (outcome.kind !== "succeeded" || outcome.summary === undefined) {
      // A pre-copy or a listing runs no virt-v2v: there is no log to miss.
      body.paragraph("No log was written on the conversion server.", width, "dim", 2);
    }
    body.paragraph(
      `Time taken: ${formatDuration(this.#result.elapsedMs / 1000)}`,
      width,
      undefined,
      2,
    );
    if (outcome.kind === "succeeded") this.#repeatLine(body, width);

    const footer = new PageBuilder();
    const showLog = outcome.kind !== "succeeded" || outcome.summary !== undefined;
    if (showLog && this.#result.logTail.length > 0) {
      // As many of the last log lines as fit between the summary and the buttons.
      const room = size.height - 2 - 3 - body.lines.length;
      if (room >= 4) this.#logPane(body, width, room - 2);
    }
    footer.blank();
    footer.add(...this.buttonRow(this.items() as Button[]));
    if (this.#status) footer.add(" ", seg(this.#status.text, this.#status.style));
    else if (!this.#deps.iso) {
      footer.add(
        seg(" Power off and Reboot are offered when running from the boot image (--iso).", "dim"),
      );
    }

    const title = outcome.kind === "succeeded"
      ? finishedTitle(c.stage.step)
      : outcome.kind === "cancelled"
      ? "Conversion cancelled"
      : "Conversion failed";
    return layoutPage(size, {
      title,
      body,
      footer,
      help: this.#canRetry()
        ? "Tab/arrows: move  Enter: press  PgUp/PgDn: log  Back to settings: fix a value"
        : "Tab/arrows: move  Enter: press  PgUp/PgDn: scroll",
      scroll: this.scroll,
      version: this.#deps.version,
    });
  }
}

function finishedTitle(step: StageStep): string {
  switch (step) {
    case "precopy":
      return "Pre-copy finished";
    case "list":
      return "Staged conversions";
    default:
      return "Conversion finished";
  }
}
