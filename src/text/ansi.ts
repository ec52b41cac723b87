/**
 * Terminal escape sequences in text that comes from elsewhere (virt-v2v's
 * coloured output): CSI and OSC sequences, string controls, and two-byte
 * escapes.
 */
export const ESCAPE_SEQUENCES =
  // deno-lint-ignore no-control-regex
  /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[@-Z\\-_]|$)/g;

/** `text` without escape sequences (colours, cursor movement, titles). */
export function stripEscapes(text: string): string {
  return text.replace(ESCAPE_SEQUENCES, "");
}
