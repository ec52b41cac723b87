/**
 * virt-v2v's own reason for failing: it ends with one `virt-v2v: error: …`
 * line in its output. That line, not the exit status, is what tells the user
 * what to fix ("cannot find libvirt pool 'default'"), so the final reason of
 * a failed conversion carries it. It comes from the server, which we trust
 * less than ourselves: it is reduced to text and to a bounded length.
 */
import { terminalText } from "../text/ansi.ts";
import { clipText } from "../text/width.ts";

/** Room for virt-v2v's longest ordinary errors, while the final line stays a line. */
export const MAX_ERROR_COLUMNS = 300;

const ERROR_PREFIX = /^virt-v2v: error: /;

/** The text of a line as the user would read it: no colours, no controls, no edge spaces. */
function plain(line: string): string {
  return terminalText(line).trim();
}

/** `reason` cut to MAX_ERROR_COLUMNS, marked when cut. */
function bounded(reason: string): string {
  const clipped = clipText(reason, MAX_ERROR_COLUMNS);
  return clipped === reason ? reason : `${clipped} ...`;
}

/**
 * A piece of virt-v2v's output fit for one of our own lines: plain text,
 * at most MAX_ERROR_COLUMNS wide.
 */
export function virtV2vText(text: string): string {
  return bounded(plain(text));
}

/** The reason on a `virt-v2v: error: …` line (colours and controls gone), or undefined. */
export function virtV2vErrorOf(line: string): string | undefined {
  // Every line of the output passes here, floods included: most are passed over cheaply.
  if (!line.includes("error:")) return undefined;
  const text = plain(line);
  if (!ERROR_PREFIX.test(text)) return undefined;
  const reason = text.replace(ERROR_PREFIX, "").trim();
  return reason === "" ? undefined : bounded(reason);
}

/**
 * Keeps the last virt-v2v error of a run's output (the one virt-v2v stopped
 * on). It is one line: virt-v2v wraps its errors only on a terminal, and its
 * stderr goes to the log file. The lines after it may be anything (the log
 * interleaves stdout and stderr), so none of them is taken as part of it.
 */
export class VirtV2vErrorWatch {
  #last: string | undefined;

  see(line: string): void {
    this.#last = virtV2vErrorOf(line) ?? this.#last;
  }

  get last(): string | undefined {
    return this.#last;
  }
}
