/**
 * The terminal the dialog draws on: size, raw mode, keys, and a display that
 * repaints only the rows that changed (a serial console at 9600 baud must
 * not redraw 2 KB for a progress tick).
 */
import type { KeySource } from "./keys.ts";
import { type ColourMode, paintLine } from "./paint.ts";
import { fitLine, type Line, lineWidth } from "./text.ts";

export interface Frame {
  /** Exactly the display height, each at most the display width. */
  lines: Line[];
  /** Where to show the text cursor (a focused text field); hidden otherwise. */
  cursor?: { row: number; col: number };
}

export interface Size {
  width: number;
  height: number;
}

export interface TerminalIo {
  /** Columns and rows; 0 (a serial console that never reported its size) means unknown. */
  size(): { columns: number; rows: number };
  write(text: string): void;
  setRaw(on: boolean): void;
  keys: KeySource;
  /** Call `callback` when the terminal is resized; returns the unsubscribe. */
  onResize(callback: () => void): () => void;
}

/** What we assume when the terminal does not tell (serial consoles report 0×0). */
export const DEFAULT_SIZE: Size = { width: 80, height: 24 };

export function terminalSize(io: TerminalIo): Size {
  let s: { columns: number; rows: number };
  try {
    s = io.size();
  } catch {
    return DEFAULT_SIZE;
  }
  return {
    width: s.columns > 0 ? s.columns : DEFAULT_SIZE.width,
    height: s.rows > 0 ? s.rows : DEFAULT_SIZE.height,
  };
}

const CSI = "\x1b[";

export class Display {
  readonly #io: TerminalIo;
  readonly #mode: ColourMode;
  #previous: string[] | undefined;

  constructor(io: TerminalIo, mode: ColourMode) {
    this.#io = io;
    this.#mode = mode;
  }

  size(): Size {
    return terminalSize(this.#io);
  }

  /** Take over the screen: no autowrap (so the last column is usable), cleared. */
  enter(): void {
    this.#io.write(`${CSI}0m${CSI}?7l${CSI}H${CSI}2J`);
    this.#previous = undefined;
  }

  /** Give the screen back: attributes reset, autowrap and cursor on, cleared. */
  leave(): void {
    this.#io.write(`${CSI}0m${CSI}?7h${CSI}?25h${CSI}H${CSI}2J`);
    this.#previous = undefined;
  }

  /** Forget what is on the screen: the next draw repaints everything. */
  invalidate(): void {
    this.#previous = undefined;
  }

  draw(frame: Frame): void {
    const { width, height } = this.size();
    let out = "";
    const full = this.#previous === undefined || this.#previous.length !== height;
    if (full) out += `${CSI}0m${CSI}H${CSI}2J`;
    const painted: string[] = [];
    for (let row = 0; row < height; row++) {
      const line = fitLine(frame.lines[row] ?? [], width);
      // Trailing plain spaces are left to erase-to-end-of-line.
      while (line.length > 0 && line[line.length - 1].style === undefined) {
        const last = line[line.length - 1];
        const trimmed = last.text.replace(/ +$/, "");
        if (trimmed === "") line.pop();
        else {
          line[line.length - 1] = { text: trimmed };
          break;
        }
      }
      // After the last column the cursor stays ON it (no autowrap): erasing
      // to the end of the line then would wipe that character.
      const text = paintLine(line, this.#mode) + (lineWidth(line) < width ? `${CSI}K` : "");
      painted.push(text);
      if (full || this.#previous![row] !== text) {
        out += `${CSI}${row + 1};1H${text}`;
      }
    }
    this.#previous = painted;
    if (frame.cursor) {
      const row = Math.min(Math.max(frame.cursor.row, 0), height - 1);
      const col = Math.min(Math.max(frame.cursor.col, 0), width - 1);
      out += `${CSI}${row + 1};${col + 1}H${CSI}?25h`;
    } else {
      out += `${CSI}?25l${CSI}${height};${width}H`;
    }
    this.#io.write(out);
  }
}

const encoder = new TextEncoder();

/** The process's own terminal. */
export function denoTerminal(): TerminalIo {
  return {
    size: () => Deno.consoleSize(),
    write(text) {
      let data = encoder.encode(text);
      while (data.length > 0) data = data.subarray(Deno.stdout.writeSync(data));
    },
    setRaw(on) {
      Deno.stdin.setRaw(on);
    },
    keys: { read: (buffer) => Deno.stdin.read(buffer) },
    onResize(callback) {
      try {
        Deno.addSignalListener("SIGWINCH", callback);
      } catch {
        return () => {};
      }
      return () => Deno.removeSignalListener("SIGWINCH", callback);
    },
  };
}
