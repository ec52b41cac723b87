/**
 * Splitting a kernel command line (`/proc/cmdline` or `--cmdline`) into
 * `key` / `key=value` tokens. Nothing here knows what a key means.
 */

/** One word of the command line. */
export interface CmdlineToken {
  key: string;
  /** `undefined` for a bare `key` (a flag); `""` for `key=`. */
  value?: string;
}

export interface TokeniseResult {
  tokens: CmdlineToken[];
  warnings: string[];
}

/**
 * Only ASCII blanks separate words: /proc/cmdline ends in a newline, and
 * PXE templates sometimes use tabs or line continuations.
 */
function isBlank(ch: string): boolean {
  return ch === " " || ch === "\t" || ch === "\n" || ch === "\r" || ch === "\v" ||
    ch === "\f";
}

/** A word of the command line with where it stands in the text. */
export interface CmdlineWord extends CmdlineToken {
  /** Index of the word's first character in the text. */
  start: number;
  /** Index just past the word's last character. */
  end: number;
  /** Index just past the `=` that starts the value; undefined for a flag. */
  valueStart?: number;
}

export interface ScanResult {
  words: CmdlineWord[];
  /** The text ended inside a quoted string. */
  unterminatedQuote: boolean;
}

/**
 * Double quotes may appear anywhere in a word and are removed; between a
 * pair of them blanks do not end the word. That covers the documented form
 * `p2v.pre="echo hi there"` and the kernel's own `"key=a b"` form alike.
 * There is no escape character (the kernel has none either), so a value can
 * never contain a double quote.
 *
 * The first `=` splits key from value even when quoted, as the kernel does.
 */
export function scanCmdline(text: string): ScanResult {
  const words: CmdlineWord[] = [];
  let inQuote = false;
  let start = -1;
  let key = "";
  let value: string | undefined;
  let valueStart: number | undefined;

  const finishWord = (end: number): void => {
    // A word made only of quotes (`""`) carries nothing worth reporting.
    if (key !== "" || value !== undefined) {
      const word: CmdlineWord = value === undefined ? { key, start, end } : {
        key,
        value,
        start,
        end,
        valueStart,
      };
      words.push(word);
    }
    start = -1;
    key = "";
    value = undefined;
    valueStart = undefined;
  };

  // Trailing blanks (the newline of /proc/cmdline) would otherwise end up
  // inside the value of an unterminated quote.
  const body = text.replace(/[ \t\n\r\v\f]+$/, "");
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (!inQuote && isBlank(ch)) {
      if (start >= 0) finishWord(i);
      continue;
    }
    if (start < 0) start = i;
    if (ch === '"') {
      inQuote = !inQuote;
    } else if (value === undefined && ch === "=") {
      value = "";
      valueStart = i + 1;
    } else if (value === undefined) {
      key += ch;
    } else {
      value += ch;
    }
  }
  if (start >= 0) finishWord(body.length);
  return { words, unterminatedQuote: inQuote };
}

/** The words of a command line as key/value tokens, with warnings for the user. */
export function tokeniseCmdline(text: string): TokeniseResult {
  const { words, unterminatedQuote } = scanCmdline(text);
  const warnings: string[] = [];
  if (unterminatedQuote) {
    // The value is deliberately not echoed: it may be a password.
    const last = words[words.length - 1];
    const what = last === undefined || last.key === "" ? "a word" : last.key;
    warnings.push(
      `unterminated quoted string on the kernel command line: ${what} takes the rest of the line`,
    );
  }
  const tokens = words.map((w): CmdlineToken =>
    w.value === undefined ? { key: w.key } : { key: w.key, value: w.value }
  );
  return { tokens, warnings };
}
