/**
 * Secrets must not leave this machine in the diagnostics we upload (FILES
 * in docs/virt-p2v.1). The kernel copies its command line into its log twice
 * ("Command line: …", "Kernel command line: …"), so a `p2v.password=…`
 * typed into a PXE config would otherwise land in `dmesg` on the server. The
 * same goes for a password inside a URL, such as `p2v.identity=https://u:pw@…`.
 */
import { SECRET_KEYS } from "../config/kernel_keys.ts";
import { maskUrlPasswords } from "../config/mask_url.ts";
import { scanCmdline } from "../config/tokenise.ts";

export const REDACTED = "***";

/** A line we could not redact word by word is replaced whole. */
export const REDACTED_LINE = "[line removed by virt-p2v: it held a password]";

/** Shorter passwords are not searched for literally: that would garble the text. */
const MIN_LITERAL_LENGTH = 4;

/** A secret key followed by its `=`, once quotes are gone (the tokeniser drops them too). */
const SECRET_ASSIGNMENT = new RegExp(
  `(?:^|\\s)(?:${SECRET_KEYS.map((k) => k.replaceAll(".", "\\.")).join("|")})=(\\S*)`,
  "g",
);

function redactLine(line: string): string {
  if (!line.replaceAll('"', "").includes("password")) return line;
  let out = "";
  let at = 0;
  for (const word of scanCmdline(line).words) {
    if (word.valueStart === undefined || !SECRET_KEYS.includes(word.key)) continue;
    out += line.slice(at, word.valueStart) + REDACTED;
    at = word.end;
  }
  out += line.slice(at);
  // Forms the word scan cannot see as a key=value word, such as a list of
  // parameters inside one pair of quotes: drop the whole line.
  for (const m of out.replaceAll('"', "").matchAll(SECRET_ASSIGNMENT)) {
    if (m[1] !== REDACTED && m[1] !== "") return REDACTED_LINE;
  }
  return out;
}

/**
 * `text` with the value of every secret key replaced by `***`, in every
 * spelling the kernel command line tokeniser accepts (quoted or not, quotes
 * inside the key), the password of every URL masked, and every literal
 * occurrence of the given secrets too.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = maskUrlPasswords(text.split("\n").map(redactLine).join("\n"));
  for (const secret of secrets) {
    if (secret.length >= MIN_LITERAL_LENGTH) out = out.replaceAll(secret, REDACTED);
  }
  return out;
}
