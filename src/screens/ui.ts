/**
 * The dialog's event loop: draw the current view, wait for a key or for the
 * view to ask for a redraw (engine events, timers), hand keys to the view,
 * until the view finishes with a result.
 */
import { isCtrl, type Key, Keyboard } from "./keys.ts";
import type { ColourMode } from "./paint.ts";
import { Display, type Frame, type Size, type TerminalIo } from "./terminal.ts";
import { seg, wrapText } from "./text.ts";

/** The smallest terminal the screens are laid out for. */
export const MIN_SIZE: Size = { width: 80, height: 24 };

function fits(size: Size): boolean {
  return size.width >= MIN_SIZE.width && size.height >= MIN_SIZE.height;
}

/** Shown instead of a screen while the terminal is smaller than 80×24. */
export function tooSmall(size: Size): Frame {
  const text = `The terminal is ${size.width}x${size.height}; virt-p2v needs at least ` +
    `${MIN_SIZE.width}x${MIN_SIZE.height}. Make the window bigger (on a serial console, ` +
    `"stty cols 80 rows 24" before starting virt-p2v). Ctrl-L redraws, Ctrl-C quits.`;
  return { lines: wrapText(text, Math.max(10, size.width - 1)).map((l) => [seg(l)]) };
}

export interface ViewContext<R> {
  /** Something changed: draw again soon. */
  invalidate(): void;
  /** The view is done; `run` returns `result`. */
  finish(result: R): void;
  /** Milliseconds, monotonic enough for rates and elapsed time. */
  now(): number;
}

export interface View<R> {
  render(size: Size): Frame;
  key(key: Key, ctx: ViewContext<R>): void;
  /** Called once when the view is shown. */
  start?(ctx: ViewContext<R>): void;
  /** Called when the view is left (stop timers). */
  stop?(): void;
}

export interface UiOptions {
  /** Shortest time between two redraws caused by events (keys redraw at once). */
  frameMs?: number;
  now?: () => number;
}

export class Ui {
  readonly #io: TerminalIo;
  readonly #display: Display;
  readonly #keys: Keyboard;
  readonly #frameMs: number;
  readonly #now: () => number;
  #wake: (() => void) | undefined;
  #woken = false;
  #lastDraw = 0;
  #active = false;
  #unsubscribeResize: (() => void) | undefined;

  constructor(io: TerminalIo, mode: ColourMode, opts: UiOptions = {}) {
    this.#io = io;
    this.#display = new Display(io, mode);
    this.#keys = new Keyboard(io.keys);
    this.#frameMs = opts.frameMs ?? 50;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Raw mode on, screen taken over. */
  open(): void {
    if (this.#active) return;
    this.#io.setRaw(true);
    this.#display.enter();
    this.#unsubscribeResize = this.#io.onResize(() => {
      this.#display.invalidate();
      this.#poke();
    });
    this.#active = true;
  }

  /** Screen given back, raw mode off. Safe to call twice. */
  close(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#unsubscribeResize?.();
    this.#display.leave();
    try {
      this.#io.setRaw(false);
    } catch { /* the terminal is gone */ }
  }

  #poke(): void {
    this.#woken = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #nextWake(): Promise<void> {
    if (this.#woken) return Promise.resolve();
    return new Promise((resolve) => this.#wake = resolve);
  }

  async run<R>(view: View<R>): Promise<R> {
    let result: { value: R } | undefined;
    const ctx: ViewContext<R> = {
      invalidate: () => this.#poke(),
      finish: (value) => {
        result ??= { value };
        this.#poke();
      },
      now: this.#now,
    };
    view.start?.(ctx);
    try {
      while (result === undefined) {
        this.#woken = false;
        const size = this.#display.size();
        this.#display.draw(fits(size) ? view.render(size) : tooSmall(size));
        this.#lastDraw = this.#now();
        await Promise.race([this.#keys.wait(), this.#nextWake()]);
        let hadKey = false;
        while (result === undefined) {
          const key = this.#keys.take();
          if (key === undefined) break;
          hadKey = true;
          if (isCtrl(key, "l")) this.#display.invalidate();
          else if (fits(this.#display.size())) view.key(key, ctx);
          // Keys on a screen nobody can see would act blindly. Ctrl-C there means
          // "I cannot use this": the view gets what it gets when the terminal goes
          // away (quit where nothing runs; a running conversion goes on).
          else if (isCtrl(key, "c")) view.key({ name: "eof" }, ctx);
        }
        if (!hadKey && result === undefined) {
          // Events only: coalesce bursts (a fast log) into one frame per period.
          const wait = this.#lastDraw + this.#frameMs - this.#now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }
    } finally {
      view.stop?.();
    }
    return result.value;
  }

  /**
   * Hand the terminal to something else (a shell): cooked mode, screen
   * cleared, then everything restored and repainted. Only call it right after
   * handling a key, when no read of ours is in flight.
   */
  async suspend<T>(fn: () => Promise<T>): Promise<T> {
    this.close();
    try {
      return await fn();
    } finally {
      this.open();
    }
  }

  /** True when a read of the terminal is outstanding. */
  get readingKeys(): boolean {
    return this.#keys.reading;
  }
}
