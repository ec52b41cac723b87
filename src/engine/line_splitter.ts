/**
 * Turns the byte stream of a PTY into lines. A PTY ends lines with `\r\n`,
 * and progress bars redraw themselves with a bare `\r`: only the last redraw
 * of such a line is worth showing.
 */
export class LineSplitter {
  readonly #decoder = new TextDecoder();
  #pending = "";
  readonly #onLine: (line: string) => void;
  /** A line longer than this is emitted in pieces, so a stream without newlines cannot grow memory. */
  readonly #maxLine: number;

  constructor(onLine: (line: string) => void, maxLine = 64 * 1024) {
    this.#onLine = onLine;
    this.#maxLine = maxLine;
  }

  push(chunk: Uint8Array): void {
    this.#pending += this.#decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = this.#pending.indexOf("\n")) >= 0) {
      this.#emit(this.#pending.slice(0, newline));
      this.#pending = this.#pending.slice(newline + 1);
    }
    while (this.#pending.length > this.#maxLine) {
      this.#emit(this.#pending.slice(0, this.#maxLine));
      this.#pending = this.#pending.slice(this.#maxLine);
    }
  }

  /** Emit what is left after the stream ended. */
  flush(): void {
    this.#pending += this.#decoder.decode();
    if (this.#pending !== "") this.#emit(this.#pending);
    this.#pending = "";
  }

  #emit(raw: string): void {
    const withoutCr = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const lastRedraw = withoutCr.lastIndexOf("\r");
    this.#onLine(lastRedraw >= 0 ? withoutCr.slice(lastRedraw + 1) : withoutCr);
  }
}
