/**
 * Escape sequences and controls a hostile conversion server may send, and
 * the check that none of them reached the terminal. No tests here.
 */
import assert from "node:assert/strict";

/** Sequences a hostile server may send, each with what must remain of it. */
export const HOSTILE: [name: string, sequence: string][] = [
  ["OSC 0 title (BEL)", "\x1b]0;pwned\x07"],
  ["OSC 2 title (ST)", "\x1b]2;pwned\x1b\\"],
  ["OSC 52 clipboard write", "\x1b]52;c;cm0gLXJmIC8K\x07"],
  ["OSC 8 hyperlink", "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\"],
  ["clear screen", "\x1b[2J"],
  ["full reset", "\x1bc"],
  ["cursor position report request", "\x1b[6n"],
  ["window title report request", "\x1b[21t"],
  ["DECRQSS", "\x1bP$qm\x1b\\"],
  ["alternate screen", "\x1b[?1049h"],
  ["save and restore cursor", "\x1b7\x1b8"],
  ["line drawing charset", "\x1b(0"],
  ["screen alignment test", "\x1b#8"],
  ["shift out and in", "\x0e\x0f"],
  ["bell", "\x07"],
  ["backspace", "\x08\x08"],
  ["carriage return", "\r"],
  ["8-bit CSI clear", "\u009b2J"],
  ["8-bit OSC title", "\u009d0;pwned\u009c"],
  ["8-bit DCS", "\u0090$qm\u009c"],
  ["C1 next line", "\u0085"],
  ["DEL", "\x7f"],
  ["APC string", "\x1b_payload\x1b\\"],
  ["lone ESC at the end", "\x1b"],
  ["unterminated OSC", "\x1b]0;pwned"],
];

// deno-lint-ignore no-control-regex
const ALLOWED = /\x1b\[[0-9;:]*m/g;
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

/**
 * Each control in `text` (but TAB and, with `colours`, SGR sequences) with a
 * little of what follows it, so that a failure shows which sequences got through.
 */
export function terminalProblems(text: string, colours: boolean): string[] {
  const rest = colours ? text.replace(ALLOWED, "") : text;
  return [...rest.matchAll(CONTROL)].map((m) => rest.slice(m.index, m.index + 8));
}

/** Throws unless `text` holds nothing but text, TABs and (with `colours`) SGR sequences. */
export function assertTerminalSafe(text: string, colours: boolean, what = ""): void {
  assert.deepEqual(terminalProblems(text, colours), [], `${what}: in ${JSON.stringify(text)}`);
}
