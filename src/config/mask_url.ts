/**
 * Passwords written into URLs (`https://user:pw@host/key` for
 * `p2v.identity`) must not show up in a config dump, an error message or
 * the diagnostics we upload. Only the password goes: the user name and the
 * rest of the URL stay, since they are what one needs to see a typo.
 */

export const MASKED_PASSWORD = "***";

/**
 * A scheme, `//`, a user name, `:`, the password, `@`. The password runs to
 * the LAST `@` before the authority ends (at `/ ? # \` or a blank), as URL
 * parsers split it, so an unencoded `@` inside it cannot leave a tail behind;
 * the user name may hold an `@` for the same reason.
 */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#\\:]*):[^\s/?#\\]*@/gi;

/** `text` with the password of every URL in it replaced by `***`. */
export function maskUrlPasswords(text: string): string {
  return text.replace(URL_PASSWORD, `$1:${MASKED_PASSWORD}@`);
}
