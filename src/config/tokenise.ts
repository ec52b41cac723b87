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

/**
 * Double quotes may appear anywhere in a word and are removed; between a
 * pair of them blanks do not end the word. That covers the documented form
 * `p2v.pre="echo hi there"` and the kernel's own `"key=a b"` form alike.
 * There is no escape character (the kernel has none either), so a value can
 * never contain a double quote.
 *
 * The first `=` splits key from value even when quoted, as the kernel does.
 */
export function tokeniseCmdline(text: string): TokeniseResult {
  const tokens: CmdlineToken[] = [];
  const warnings: string[] = [];

  let inWord = false;
  let inQuote = false;
  let key = "";
  let value: string | undefined;

  const finishWord = (): void => {
    // A word made only of quotes (`""`) carries nothing worth reporting.
    if (key !== "" || value !== undefined) {
      tokens.push(value === undefined ? { key } : { key, value });
    }
    inWord = false;
    key = "";
    value = undefined;
  };

  // Trailing blanks (the newline of /proc/cmdline) would otherwise end up
  // inside the value of an unterminated quote.
  for (const ch of text.replace(/[ \t\n\r\v\f]+$/, "")) {
    if (!inQuote && isBlank(ch)) {
      if (inWord) finishWord();
      continue;
    }
    inWord = true;
    if (ch === '"') {
      inQuote = !inQuote;
    } else if (value === undefined && ch === "=") {
      value = "";
    } else if (value === undefined) {
      key += ch;
    } else {
      value += ch;
    }
  }

  if (inQuote) {
    // The value is deliberately not echoed: it may be a password.
    const what = key === "" ? "a word" : key;
    warnings.push(
      `unterminated quoted string on the kernel command line: ${what} takes the rest of the line`,
    );
  }
  if (inWord) finishWord();

  return { tokens, warnings };
}
