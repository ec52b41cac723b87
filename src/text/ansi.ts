/**
 * Text from elsewhere (virt-v2v's output, the server's answers, the reasons
 * a connection failed) on our terminal. A hostile or broken server must not
 * be able to retitle or clear the screen, write the clipboard, switch
 * character sets, or make the terminal answer a report request: after we
 * exit, a root shell reads whatever the terminal typed.
 */

/**
 * Every terminal control, each alternative one whole sequence so that its
 * parameters go with it: CSI (7-bit and 8-bit), OSC up to BEL or ST (to the
 * end when unterminated), the DCS/SOS/PM/APC strings, the other escapes
 * (`ESC c`, `ESC 7`, `ESC ( 0`, `ESC # 8`, …), a lone ESC, every C0 control
 * but TAB, DEL, and the C1 controls (U+0080 to U+009F).
 */
const TERMINAL_CONTROLS = new RegExp(
  [
    "(?:\\x1b\\[|\\x9b)[0-?]*[ -/]*[@-~]",
    "(?:\\x1b\\]|\\x9d)[^\\x07\\x1b\\x9c]*(?:\\x07|\\x1b\\\\|\\x9c)?",
    "(?:\\x1b[PX^_]|[\\x90\\x98\\x9e\\x9f])[^\\x1b\\x9c]*(?:\\x1b\\\\|\\x9c)?",
    "\\x1b[ -/]*[0-~]?",
    "[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f]",
  ].join("|"),
  "g",
);

/** Select Graphic Rendition (colours, bold), the one kind that cannot act on the terminal. */
// deno-lint-ignore no-control-regex
const SGR = /^\x1b\[[0-9;:]*m$/;

export interface TerminalTextOptions {
  /** Keep SGR colour sequences (and nothing else). */
  colours?: boolean;
}

/**
 * `text` made safe to print: no escape sequence or control character is left
 * but TAB, and, with `colours`, SGR sequences. Callers pass one line; a
 * newline inside it is dropped like any other control.
 */
export function terminalText(text: string, opts: TerminalTextOptions = {}): string {
  return text.replace(
    TERMINAL_CONTROLS,
    (seq) => opts.colours && SGR.test(seq) ? seq : "",
  );
}
