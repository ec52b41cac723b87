/**
 * Screen 3: the conversion as it happens — remote log directory, phase,
 * a bar per disk with bytes, rate and ETA, elapsed time, and virt-v2v's
 * output scrolling live. Cancel asks first, then cancels for real (the engine
 * interrupts the remote virt-v2v). + and - loosen and tighten the bandwidth
 * cap while the disks are copied.
 */
import type { EngineEvent } from "../engine/events.ts";
import type { ConversionOutcome } from "../engine/outcome.ts";
import { ConversionProgress, diskLabel, type DiskProgress } from "../engine/progress.ts";
import { describeError } from "../errors.ts";
import { amountText } from "../report/progress_text.ts";
import { formatBytes, formatDuration, formatRate } from "../text/units.ts";
import { FormScreen } from "./form_screen.ts";
import { isCtrl, type Key } from "./keys.ts";
import type { ConvertRequest, DialogDeps } from "./model.ts";
import type { Size } from "./terminal.ts";
import {
  hardWrap,
  type Line,
  padStartText,
  padText,
  sanitize,
  seg,
  shorten,
  shortenStart,
  textWidth,
} from "./text.ts";
import { LogRing } from "./log_ring.ts";
import { LogScroll } from "./log_scroll.ts";
import type { ViewContext } from "./ui.ts";
import { Button } from "./button.ts";
import type { Item } from "./focus_ring.ts";
import { Modal } from "./modal.ts";
import { bandwidthStep, bandwidthText } from "./bandwidth_steps.ts";
import { RateLimit } from "../net/rate_limit.ts";
import { PageBuilder } from "./page_builder.ts";
import { type LaidOutFrame, layoutPage } from "./page_layout.ts";

export interface RunningResult {
  outcome: ConversionOutcome;
  /** The last lines of virt-v2v's output (sanitised). */
  logTail: string[];
  elapsedMs: number;
  disks: DiskProgress[];
}

export class RunningScreen extends FormScreen<RunningResult> {
  readonly cancelButton = new Button("Cancel conversion");
  readonly progress: ConversionProgress;
  remoteDir: string | undefined;
  /** A cutover has verified the staged copy: the physical machine may be switched off. */
  released = false;
  phase = "Starting ...";
  readonly log = new LogRing();
  /** How far the output is scrolled up; at the newest row it follows new output. */
  readonly logScroll = new LogScroll();
  cancelling = false;
  outcome: ConversionOutcome | undefined;
  #started = 0;
  /** The phase shown before the link dropped, shown again once it is back. */
  #linkPhase: string | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #abort = new AbortController();
  /** The cap the disks' data passes; + and - change it while it runs. */
  readonly bandwidth: RateLimit;
  readonly #deps: DialogDeps;
  readonly #request: ConvertRequest;

  constructor(request: ConvertRequest, deps: DialogDeps) {
    super();
    this.#request = request;
    this.#deps = deps;
    this.progress = new ConversionProgress(request.config.disks);
    this.bandwidth = new RateLimit(request.config.bandwidthMbit);
    this.ring.set(this.cancelButton);
  }

  /** Cancel without asking (SIGTERM, or the user confirmed). */
  cancel(): void {
    if (this.cancelling || this.outcome) return;
    this.cancelling = true;
    this.cancelButton.enabled = false;
    this.phase = "Cancelling: stopping virt-v2v on the conversion server ...";
    this.#abort.abort();
    this.invalidate();
  }

  override start(ctx: ViewContext<RunningResult>): void {
    super.start(ctx);
    this.#started = ctx.now();
    this.#timer = setInterval(() => ctx.invalidate(), 1000);
    const request = { ...this.#request, bandwidth: this.bandwidth };
    this.#deps.convert(request, (e) => this.onEvent(e), this.#abort.signal)
      .catch((err): ConversionOutcome => ({
        kind: "failed",
        stage: "conversion",
        message: describeError(err),
      }))
      .then((outcome) => this.#done(outcome));
  }

  override stop(): void {
    clearInterval(this.#timer);
  }

  #done(outcome: ConversionOutcome): void {
    this.outcome = outcome;
    this.bandwidth.close();
    clearInterval(this.#timer);
    this.progress.finish(outcome.kind === "succeeded", this.ctx?.now() ?? 0);
    this.finish({
      outcome,
      logTail: this.log.tail(200),
      elapsedMs: (this.ctx?.now() ?? 0) - this.#started,
      disks: this.progress.disks,
    });
  }

  onEvent(event: EngineEvent): void {
    this.progress.onEvent(event, this.ctx?.now() ?? 0);
    switch (event.type) {
      case "phase":
        if (!this.cancelling) this.phase = event.message;
        break;
      case "remote-dir":
        this.remoteDir = event.path;
        break;
      case "output":
        this.#pushLog(sanitize(event.line));
        break;
      case "link-lost":
        this.#pushLog(`virt-p2v: connection lost: ${sanitize(event.reason)}`);
        this.#linkPhase = this.phase;
        if (!this.cancelling) this.phase = "Connection lost — reconnecting ...";
        break;
      case "reconnecting":
        if (!this.cancelling) {
          this.phase = `Connection lost — reconnecting (attempt ${event.attempt}, ${
            formatDuration(event.elapsedMs / 1000)
          })`;
        }
        break;
      case "link-resumed":
        this.#pushLog(
          `virt-p2v: reconnected after ${formatDuration(event.elapsedMs / 1000)}; ` +
            `the conversion goes on`,
        );
        if (!this.cancelling) this.phase = this.#linkPhase ?? "Doing conversion ...";
        break;
      case "stage":
        this.#pushLog(sanitize(event.message));
        if (event.released) this.released = true;
        break;
      case "warning":
        this.#pushLog(`virt-p2v: warning: ${sanitize(event.message)}`);
        break;
      case "host-key":
        this.#pushLog(`Server host key: ${event.fingerprint}`);
        break;
      default:
        break;
    }
    this.invalidate();
  }

  #pushLog(line: string): void {
    this.log.push(line);
    this.logScroll.grew();
  }

  items(): Item[] {
    return [this.cancelButton];
  }

  override screenKey(key: Key): boolean {
    if (key.name === "pageup") {
      this.logScroll.by(10);
      this.invalidate();
      return true;
    }
    if (key.name === "pagedown") {
      this.logScroll.by(-10);
      this.invalidate();
      return true;
    }
    if (key.name === "end") {
      this.logScroll.end();
      this.invalidate();
      return true;
    }
    if (key.name === "char" && (key.ch === "+" || key.ch === "-") && !this.outcome) {
      const next = bandwidthStep(this.bandwidth.mbit, key.ch === "+" ? 1 : -1);
      if (next !== this.bandwidth.mbit) {
        this.bandwidth.set(next);
        this.#pushLog(`virt-p2v: bandwidth cap now ${bandwidthText(next)}`);
      }
      this.invalidate();
      return true;
    }
    if (isCtrl(key, "c")) {
      if (!this.cancelling) this.activate(this.cancelButton);
      return true;
    }
    // The terminal went away: the conversion goes on; nothing to ask.
    return key.name === "eof";
  }

  activate(button: Button): void {
    if (button !== this.cancelButton || this.cancelling) return;
    this.ask(
      new Modal(
        "Cancel the conversion",
        "Really cancel the conversion? virt-v2v on the conversion server will be " +
          "stopped and the guest will not be created.",
        ["Yes, cancel", "No, continue"],
        { focus: 1 },
      ),
      (choice) => {
        if (choice === "Yes, cancel") this.cancel();
      },
    );
  }

  layout(size: Size): LaidOutFrame {
    const width = size.width;
    const c = this.#request.config;
    const now = this.ctx?.now() ?? this.#started;
    const elapsed = `Elapsed ${formatDuration((now - this.#started) / 1000)}`;

    const header = new PageBuilder();
    const target = c.stage.step === "precopy"
      ? `Pre-copying "${c.guestname}" to ${c.remote.server}:${c.stage.dir ?? ""}`
      : c.stage.step === "list"
      ? `Staged conversions on ${c.remote.server}:${c.stage.dir ?? ""}`
      : `Converting "${c.guestname}" on ${c.remote.server} (-o ${c.output.type})`;
    const room = width - textWidth(elapsed) - 3;
    header.add(
      " ",
      seg(padText(shorten(sanitize(target), room), room), "heading"),
      " ",
      seg(elapsed),
    );
    header.add(
      " Log directory on the server: ",
      seg(
        this.remoteDir ? shortenStart(this.remoteDir, width - 31) : "(not created yet)",
        this.remoteDir ? "key" : "dim",
      ),
    );
    header.add(
      " Phase: ",
      seg(shorten(sanitize(this.phase), width - 9), this.cancelling ? "warn" : undefined),
    );
    header.add(
      " virt-v2v: ",
      seg(
        shorten(sanitize(this.progress.step ?? "(waiting for output)"), width - 12),
        this.progress.step ? undefined : "dim",
      ),
    );
    for (const line of this.#diskLines(width)) header.lines.push(line);
    // A cutover's staged copy is verified: the conversion no longer needs this machine.
    if (this.released) {
      header.paragraph(
        "The staged copy is verified: this machine can be switched off now; the conversion " +
          "goes on on the server.",
        width,
        "ok",
        1,
      );
    }
    header.add(
      " Bandwidth cap: ",
      seg(bandwidthText(this.bandwidth.mbit), this.bandwidth.mbit === 0 ? "dim" : "key"),
      seg("  (+/- to change)", "dim"),
    );

    const footer = new PageBuilder();
    footer.add(" ", this.cancelButton.render(this.ring.is(this.cancelButton)));

    // The header's last row, the output heading, is added below.
    const bodyHeight = Math.max(
      1,
      size.height - 2 - (header.lines.length + 1) - footer.lines.length,
    );
    // Wrap only the lines that can be seen.
    const need = bodyHeight + this.logScroll.wanted;
    const rows: string[] = [];
    for (let i = this.log.length - 1; i >= 0 && rows.length < need; i--) {
      rows.unshift(...hardWrap(this.log.at(i), width - 1));
    }
    // Fewer rows than asked for means the whole log was wrapped: its top is known.
    this.logScroll.layout(rows.length < need ? rows.length - bodyHeight : Infinity);
    const up = this.logScroll.shown;
    header.heading(
      up > 0
        ? `virt-v2v output (scrolled up ${up} lines; End follows)`
        : "virt-v2v output (PgUp/PgDn scroll)",
      width,
    );
    const end = rows.length - up;
    const body = new PageBuilder();
    for (const r of rows.slice(Math.max(0, end - bodyHeight), end)) body.add(" ", r);

    return layoutPage(size, {
      title: this.cancelling
        ? "Cancelling the conversion"
        : c.stage.step === "precopy"
        ? "Pre-copy running"
        : "Conversion running",
      header,
      body,
      footer,
      help: "Enter: cancel conversion  PgUp/PgDn/End: scroll output  Ctrl-L: redraw",
      scroll: this.scroll,
      version: this.#deps.version,
    });
  }

  /** One line per disk: name, bar, percent, bytes, rate, ETA — columns aligned. */
  #diskLines(width: number): Line[] {
    const disks: DiskProgress[] = this.progress.disks;
    if (disks.length === 0) return [];
    const names = disks.map((d) => diskLabel(d.name));
    const nameW = Math.min(12, Math.max(...names.map(textWidth)));
    const statuses = disks.map((d) => d.status());
    const cols = statuses.map((s, i) => {
      const eta = i === this.progress.copying ? s.eta : undefined;
      return {
        pct: s.percent === undefined ? "" : `${s.percent}%`,
        bytes: amountText(s),
        rate: s.state === "copied"
          ? "done"
          : s.state === "waiting"
          ? "waiting"
          : s.rate === undefined
          ? ""
          : formatRate(s.rate),
        eta: eta === undefined ? "" : `ETA ${formatDuration(eta)}`,
      };
    });
    // Fixed columns, so the bars do not change length when a rate appears or the
    // copy begins: room for "<total> of <total> copied" from the start.
    const totalW = Math.max(
      ...disks.map((d) => textWidth(formatBytes(d.dataBytes ?? d.sizeBytes ?? 0))),
    );
    const bytesW = Math.max(
      totalW * 2 + " of  copied".length,
      ...cols.map((c) => textWidth(c.bytes)),
    );
    const rateW = Math.max(10, ...cols.map((c) => textWidth(c.rate)));
    const etaW = Math.max(8, ...cols.map((c) => textWidth(c.eta)));
    const fixed = 1 + nameW + 2 + 2 + 4 + 2 + bytesW + 2 + rateW + 2 + etaW;
    const barW = Math.max(4, Math.min(40, width - fixed));
    return statuses.map((s, i) => {
      const filled = Math.round((s.percent ?? 0) / 100 * barW);
      const c = cols[i];
      return [
        seg(" " + padText(shorten(names[i], nameW), nameW) + " ["),
        seg("#".repeat(filled), "done"),
        seg(".".repeat(barW - filled), "todo"),
        seg("] " + padStartText(c.pct, 4) + "  " + padText(c.bytes, bytesW)),
        seg("  " + padStartText(c.rate, rateW) + "  " + c.eta),
      ];
    });
  }
}
