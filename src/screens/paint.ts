/**
 * Turning styled lines into terminal output. Three modes: `colour` (ANSI
 * colours), `mono` (bold and reverse video only: NO_COLOR, VT100-class
 * terminals) and `plain` (no escapes at all: tests, text captures).
 */
import { terminalText } from "../text/ansi.ts";
import type { Line, StyleName } from "./text.ts";

export type ColourMode = "colour" | "mono" | "plain";

const COLOUR_SGR: Record<StyleName, string> = {
  title: "1;37;44",
  focus: "7",
  heading: "1",
  error: "1;31",
  ok: "1;32",
  warn: "1;33",
  dim: "2",
  key: "1",
  done: "32",
  todo: "2",
};

/** Attributes every VT100 has; no colour (https://no-color.org). */
const MONO_SGR: Record<StyleName, string> = {
  title: "7",
  focus: "7",
  heading: "1",
  error: "1",
  ok: "1",
  warn: "1",
  dim: "",
  key: "1",
  done: "",
  todo: "",
};

/** Terminals that have no colours at all. */
const MONO_TERMS = /^(vt[0-9]+|ansi|dumb|linux-m|xterm-mono)/;

/**
 * `--colours` forces colour; otherwise a non-empty NO_COLOR or a
 * monochrome TERM means bold/reverse only.
 */
export function chooseColourMode(
  env: (name: string) => string | undefined,
  forceColours: boolean,
): ColourMode {
  if (forceColours) return "colour";
  if ((env("NO_COLOR") ?? "") !== "") return "mono";
  if (MONO_TERMS.test(env("TERM") ?? "")) return "mono";
  return "colour";
}

export function sgrFor(style: StyleName | undefined, mode: ColourMode): string {
  if (style === undefined || mode === "plain") return "";
  const code = (mode === "colour" ? COLOUR_SGR : MONO_SGR)[style];
  return code === "" ? "" : `\x1b[0;${code}m`;
}

/**
 * One line as terminal output: styles switched on and off around segments.
 * Every screen sanitises what it shows, but a text that slipped through
 * unfiltered still reaches the terminal as text: the only escape sequences
 * painted are our own.
 */
export function paintLine(line: Line, mode: ColourMode): string {
  let out = "";
  for (const s of line) {
    const sgr = sgrFor(s.style, mode);
    const text = terminalText(s.text);
    out += sgr === "" ? text : `${sgr}${text}\x1b[0m`;
  }
  return out;
}
