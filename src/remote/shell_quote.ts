/**
 * Quoting of arbitrary strings for bash scripts and command lines that run
 * on the conversion server. Whatever a value contains, the shell
 * must see it as one literal word and never execute any part of it.
 */

/**
 * Thrown for a value no shell word can carry. The only such character is
 * NUL: argv strings and files are NUL-terminated, so it would silently
 * truncate the value.
 */
export class ShellQuoteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShellQuoteError";
  }
}

function rejectNul(value: string): void {
  if (value.includes("\0")) {
    throw new ShellQuoteError(
      `cannot pass a value containing a NUL byte to the shell: ${JSON.stringify(value)}`,
    );
  }
}

const NON_ASCII = /[\u0080-\uffff]/;
const NON_ASCII_RUNS = /([\u0080-\uffff]+)/;

/** Characters that keep a special meaning inside double quotes. */
const DOUBLE_QUOTE_SPECIALS = /[$`"\\]/g;

export interface DoubleQuoteOptions {
  /**
   * Emit pure ASCII: every non-ASCII character is written as its UTF-8
   * bytes in an adjacent ANSI-C quoted segment (`"caf"$'\xc3\xa9'`), still
   * one shell word. Use this for scripts that another host's bash parses:
   * in a multibyte locale that is not UTF-8 (GBK, Big5, Shift-JIS) a byte
   * >= 0x80 followed by our escaping backslash can be read as ONE
   * character, which would swallow the escape. An ASCII-only script is
   * parsed identically in every ASCII-compatible locale.
   */
  asciiOnly?: boolean;
}

/**
 * `value` inside double quotes with `$`, backtick, `"` and `\` escaped by a
 * backslash — the four characters bash still interprets between double
 * quotes. Everything else is literal there in a script:
 *  - newlines and other control characters are kept as they are;
 *  - `!` history expansion only happens in interactive shells (scripts
 *    that might be read interactively should `set +H`);
 *  - `*`, `?`, `~`, spaces and `'` are not special between double quotes.
 *
 * Throws `ShellQuoteError` for a NUL character.
 */
export function shellDoubleQuote(value: string, options: DoubleQuoteOptions = {}): string {
  rejectNul(value);
  const escape = (s: string) => `"${s.replace(DOUBLE_QUOTE_SPECIALS, (c) => `\\${c}`)}"`;
  if (!options.asciiOnly || !NON_ASCII.test(value)) return escape(value);

  // Odd-indexed parts are the non-ASCII runs: write them as $'\xNN…'.
  const encoder = new TextEncoder();
  return value.split(NON_ASCII_RUNS).map((part, i) => {
    if (i % 2 === 0) return part === "" ? "" : escape(part);
    let hex = "";
    for (const byte of encoder.encode(part)) hex += `\\x${byte.toString(16).padStart(2, "0")}`;
    return `$'${hex}'`;
  }).join("");
}

/**
 * `value` inside single quotes, where nothing at all is special; an embedded
 * `'` becomes `'\''` (close, escaped quote, reopen). Throws `ShellQuoteError`
 * for a NUL character.
 */
export function shellSingleQuote(value: string): string {
  rejectNul(value);
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Characters that never need quoting in a shell word. */
const PLAIN_WORD = /^[A-Za-z0-9_.,:/+=@%-]+$/;

/**
 * `value` as it is when it only holds characters no shell treats specially
 * (such as a `/tmp/virt-p2v-20240101-abcd1234` path), else double-quoted.
 */
export function shellWord(value: string): string {
  rejectNul(value);
  return PLAIN_WORD.test(value) ? value : shellDoubleQuote(value, { asciiOnly: true });
}
