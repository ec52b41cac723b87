import assert from "node:assert/strict";
import {
  shellDoubleQuote,
  ShellQuoteError,
  shellSingleQuote,
  shellWord,
} from "../src/remote/shell_quote.ts";

/** Values that would do harm, or get mangled, if quoted carelessly. */
const HOSTILE = [
  "",
  "plain",
  "with space",
  "  leading and trailing  ",
  "$(touch CANARY)",
  "`touch CANARY`",
  '"; touch CANARY; "',
  "'; touch CANARY; '",
  "'",
  "''",
  '"',
  "\\",
  "trailing\\",
  "\\\\double",
  '\\"',
  "\\$HOME",
  "$HOME",
  "${HOME}",
  "$((1+2))",
  "$'\\x41'",
  '$"x"',
  "!",
  "!!",
  "!$",
  "a!b",
  "line1\nline2",
  "\n",
  "cr\rlf\r\n",
  "tab\there",
  "\x01\x02\x1b[31m\x7f",
  "*",
  "?[a-z]",
  "~",
  "~root",
  "a;b|c&d>e<f",
  "#comment",
  "{a,b}",
  "-n",
  "--help",
  "é",
  "café €",
  "日本語\\",
  '€\\"',
  "😀$x",
];

/** Run `bash -c "printf '%s\0' WORD"` and return the argument it saw. */
async function viaBash(word: string): Promise<Uint8Array> {
  const out = await new Deno.Command("bash", {
    args: ["-c", `printf '%s\\0' ${word}`],
    stdout: "piped",
    stderr: "piped",
    env: { HOME: "/home/should-not-appear", LC_ALL: "C.UTF-8" },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return out.stdout;
}

function nulTerminated(value: string): Uint8Array {
  return new TextEncoder().encode(value + "\0");
}

Deno.test("shellDoubleQuote: escapes exactly $, backtick, double quote and backslash", () => {
  assert.equal(shellDoubleQuote(""), '""');
  assert.equal(shellDoubleQuote("abc"), '"abc"');
  assert.equal(shellDoubleQuote("a$b"), '"a\\$b"');
  assert.equal(shellDoubleQuote("a`b`"), '"a\\`b\\`"');
  assert.equal(shellDoubleQuote('a"b'), '"a\\"b"');
  assert.equal(shellDoubleQuote("a\\b\\"), '"a\\\\b\\\\"');
  assert.equal(shellDoubleQuote("it's !here\n"), '"it\'s !here\n"');
  assert.equal(shellDoubleQuote("café"), '"café"');
});

Deno.test("shellDoubleQuote asciiOnly: non-ASCII bytes as $'\\xNN' in the same word", () => {
  assert.equal(shellDoubleQuote("abc$", { asciiOnly: true }), '"abc\\$"');
  assert.equal(shellDoubleQuote("café", { asciiOnly: true }), `"caf"$'\\xc3\\xa9'`);
  assert.equal(shellDoubleQuote("é", { asciiOnly: true }), `$'\\xc3\\xa9'`);
  assert.equal(
    shellDoubleQuote("€\\x", { asciiOnly: true }),
    `$'\\xe2\\x82\\xac'"\\\\x"`,
  );
  for (const v of HOSTILE) {
    assert.doesNotMatch(
      shellDoubleQuote(v, { asciiOnly: true }),
      /[\u0080-\uffff]/,
      JSON.stringify(v),
    );
  }
});

Deno.test("shellDoubleQuote: bash reads every hostile value back unchanged", async () => {
  for (const v of HOSTILE) {
    assert.deepEqual(await viaBash(shellDoubleQuote(v)), nulTerminated(v), JSON.stringify(v));
    assert.deepEqual(
      await viaBash(shellDoubleQuote(v, { asciiOnly: true })),
      nulTerminated(v),
      `asciiOnly ${JSON.stringify(v)}`,
    );
  }
});

Deno.test("shellSingleQuote: bash reads every hostile value back unchanged", async () => {
  assert.equal(shellSingleQuote("a'b"), "'a'\\''b'");
  assert.equal(shellSingleQuote(""), "''");
  for (const v of HOSTILE) {
    assert.deepEqual(await viaBash(shellSingleQuote(v)), nulTerminated(v), JSON.stringify(v));
  }
});

Deno.test("shellWord: plain words stay bare, anything else is quoted", async () => {
  assert.equal(
    shellWord("/tmp/virt-p2v-20240131-a1b2c3d4"),
    "/tmp/virt-p2v-20240131-a1b2c3d4",
  );
  assert.equal(shellWord("OPT=VAL,x:y@z+1%"), "OPT=VAL,x:y@z+1%");
  assert.equal(shellWord(""), '""');
  assert.equal(shellWord("/tmp/a b"), '"/tmp/a b"');
  for (const v of HOSTILE) {
    assert.deepEqual(await viaBash(shellWord(v)), nulTerminated(v), JSON.stringify(v));
  }
});

Deno.test("quoting refuses NUL bytes with a clear error", () => {
  for (const quote of [shellDoubleQuote, shellSingleQuote, shellWord]) {
    assert.throws(() => quote("a\0b"), ShellQuoteError);
    assert.throws(() => quote("\0"), /NUL byte/);
  }
  assert.throws(() => shellDoubleQuote("é\0", { asciiOnly: true }), ShellQuoteError);
});
