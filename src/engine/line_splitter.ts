/**
 * Turns the byte stream of a PTY into lines. A PTY ends lines with `\r\n`,
 * and progress bars redraw themselves with a bare `\r`: only the last redraw
 * of such a line is worth showing.
 *
 * Lines are bounded: the server may print anything, including gigabytes
 * without a newline. A line longer than `maxLine` characters is cut there,
 * marked, and the rest of it is dropped as it arrives, so memory stays
 * bounded and each stored line stays small enough to lay out.
 */

/**
 * virt-v2v's longest lines (a command line in its debug output) are a few
 * KiB; 8 Ki characters keeps those whole and still bounds every stored line.
 */
export const MAX_LINE_CHARS = 8 * 1024;

/** `line` if it has at most `maxLine` characters, else its start and a marker saying it was cut. */
export function boundLine(line: string, maxLine: number): string {
  if (line.length <= maxLine) return line;
  return cut(line, maxLine) + ` [virt-p2v: line cut after ${maxLine} characters]`;
}

export class LineSplitter {
  readonly #decoder = new TextDecoder();
  #pending = "";
  /** Dropping the rest of an over-long line, up to its newline. */
  #dropping = false;
  readonly #onLine: (line: string) => void;
  readonly #maxLine: number;

  constructor(onLine: (line: string) => void, maxLine = MAX_LINE_CHARS) {
    this.#onLine = onLine;
    this.#maxLine = maxLine;
  }

  push(chunk: Uint8Array): void {
    let text = this.#decoder.decode(chunk, { stream: true });
    if (this.#dropping) {
      const newline = text.indexOf("\n");
      if (newline < 0) return;
      this.#dropping = false;
      text = text.slice(newline + 1);
    }
    this.#pending += text;
    let start = 0;
    let newline: number;
    while ((newline = this.#pending.indexOf("\n", start)) >= 0) {
      this.#emit(this.#pending.slice(start, newline));
      start = newline + 1;
    }
    this.#pending = this.#pending.slice(start);
    if (this.#pending.length > this.#maxLine) this.#overLong();
  }

  /** Emit what is left after the stream ended. */
  flush(): void {
    if (!this.#dropping) this.#pending += this.#decoder.decode();
    else this.#decoder.decode();
    if (this.#pending !== "") this.#emit(this.#pending);
    this.#pending = "";
    this.#dropping = false;
  }

  /** Too long without a newline: keep its last redraw if that fits, else cut it. */
  #overLong(): void {
    // A trailing `\r` may be the first half of `\r\n`: not a redraw yet.
    const lastRedraw = this.#pending.lastIndexOf("\r", this.#pending.length - 2);
    if (lastRedraw >= 0) this.#pending = this.#pending.slice(lastRedraw + 1);
    if (this.#pending.length <= this.#maxLine) return;
    this.#emit(this.#pending);
    this.#pending = "";
    this.#dropping = true;
  }

  #emit(raw: string): void {
    const withoutCr = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const lastRedraw = withoutCr.lastIndexOf("\r");
    const line = lastRedraw >= 0 ? withoutCr.slice(lastRedraw + 1) : withoutCr;
    this.#onLine(boundLine(line, this.#maxLine));
  }
}

/** The first `n` UTF-16 units of `text`, one fewer rather than half a surrogate pair. */
function cut(text: string, n: number): string {
  const last = text.charCodeAt(n - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? n - 1 : n);
}
