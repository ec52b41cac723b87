/**
 * The lines of virt-v2v's output the running screen can scroll back through.
 * Bounded by what they weigh, not only by their number: a flood of long
 * lines must not hold hundreds of MB. The oldest lines go first.
 */
import { boundLine, MAX_LINE_CHARS } from "../engine/line_splitter.ts";

export interface LogRingLimits {
  /** Most memory the kept lines may take, counted as 2 bytes per UTF-16 unit plus a line's overhead. */
  maxBytes: number;
  maxLines: number;
  /** Longer lines are cut (and marked). */
  maxLineChars: number;
}

/**
 * 4 MiB keeps thousands of ordinary lines (far more than anyone scrolls
 * back through) or a few hundred of the longest: small next to the copy's
 * buffers on a machine with 512 MiB.
 */
export const DEFAULT_LOG_LIMITS: LogRingLimits = {
  maxBytes: 4 * 1024 * 1024,
  maxLines: 5000,
  maxLineChars: MAX_LINE_CHARS,
};

/** What a kept line costs besides its characters (the string header, the array slot). */
const LINE_OVERHEAD_BYTES = 32;

export class LogRing {
  #lines: string[] = [];
  /** Index of the oldest kept line: dropping from the front is O(1), compacted now and then. */
  #head = 0;
  #bytes = 0;
  readonly #limits: LogRingLimits;

  constructor(limits: Partial<LogRingLimits> = {}) {
    this.#limits = { ...DEFAULT_LOG_LIMITS, ...limits };
  }

  get length(): number {
    return this.#lines.length - this.#head;
  }

  /** Bytes the kept lines are counted as. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The `i`-th kept line, oldest first. */
  at(i: number): string {
    return this.#lines[this.#head + i];
  }

  /** The newest `n` lines, oldest first. */
  tail(n: number): string[] {
    return this.#lines.slice(Math.max(this.#head, this.#lines.length - n));
  }

  push(text: string): void {
    const line = boundLine(text, this.#limits.maxLineChars);
    this.#lines.push(line);
    this.#bytes += cost(line);
    while (
      this.length > 1 &&
      (this.#bytes > this.#limits.maxBytes || this.length > this.#limits.maxLines)
    ) {
      this.#bytes -= cost(this.#lines[this.#head]);
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#lines.length) {
      this.#lines = this.#lines.slice(this.#head);
      this.#head = 0;
    }
  }
}

function cost(line: string): number {
  return line.length * 2 + LINE_OVERHEAD_BYTES;
}
