import assert from "node:assert/strict";
import { tokeniseCmdline } from "../src/config/tokenise.ts";

Deno.test("tokenise: key=value words and bare flags", () => {
  const r = tokeniseCmdline("root=/dev/sda1 ro p2v.server=conv p2v.skip_test_connection");
  assert.deepEqual(r.tokens, [
    { key: "root", value: "/dev/sda1" },
    { key: "ro" },
    { key: "p2v.server", value: "conv" },
    { key: "p2v.skip_test_connection" },
  ]);
  assert.deepEqual(r.warnings, []);
});

Deno.test("tokenise: key= gives an empty value, distinct from a bare flag", () => {
  const r = tokeniseCmdline("p2v.post= p2v.fail");
  assert.deepEqual(r.tokens, [{ key: "p2v.post", value: "" }, { key: "p2v.fail" }]);
});

Deno.test("tokenise: a quoted value keeps its spaces and loses its quotes", () => {
  const r = tokeniseCmdline('p2v.pre="echo hi there" p2v.post=reboot');
  assert.deepEqual(r.tokens, [
    { key: "p2v.pre", value: "echo hi there" },
    { key: "p2v.post", value: "reboot" },
  ]);
  assert.deepEqual(r.warnings, []);
});

Deno.test("tokenise: quotes in the middle of a value or around the whole word", () => {
  const r = tokeniseCmdline('k=a" b "c "p2v.pre=echo hi" x=""');
  assert.deepEqual(r.tokens, [
    { key: "k", value: "a b c" },
    { key: "p2v.pre", value: "echo hi" },
    { key: "x", value: "" },
  ]);
});

Deno.test("tokenise: only the first = splits key from value", () => {
  const r = tokeniseCmdline("p2v.oo=opt1=val1,opt2=val2 a==b");
  assert.deepEqual(r.tokens, [
    { key: "p2v.oo", value: "opt1=val1,opt2=val2" },
    { key: "a", value: "=b" },
  ]);
});

Deno.test("tokenise: tabs, newlines and runs of blanks separate words", () => {
  const r = tokeniseCmdline("  a=1\tb=2\n\nc  \r\nd=4\n");
  assert.deepEqual(r.tokens, [
    { key: "a", value: "1" },
    { key: "b", value: "2" },
    { key: "c" },
    { key: "d", value: "4" },
  ]);
});

Deno.test("tokenise: blanks inside quotes, including a newline, are kept", () => {
  const r = tokeniseCmdline('p2v.pre="a\tb\nc"');
  assert.deepEqual(r.tokens, [{ key: "p2v.pre", value: "a\tb\nc" }]);
});

Deno.test("tokenise: an unterminated quote takes the rest of the line and warns", () => {
  const r = tokeniseCmdline('a=1 p2v.pre="echo hi p2v.post=reboot\n');
  assert.deepEqual(r.tokens, [
    { key: "a", value: "1" },
    { key: "p2v.pre", value: "echo hi p2v.post=reboot" },
  ]);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0], /unterminated quoted string.*p2v\.pre/);
});

Deno.test("tokenise: the warning of an unterminated quote never shows the value", () => {
  const r = tokeniseCmdline('p2v.password="hunter2');
  assert.deepEqual(r.tokens, [{ key: "p2v.password", value: "hunter2" }]);
  assert.ok(!r.warnings[0].includes("hunter2"));
});

Deno.test("tokenise: empty and blank lines give no tokens", () => {
  assert.deepEqual(tokeniseCmdline(""), { tokens: [], warnings: [] });
  assert.deepEqual(tokeniseCmdline(" \t\n"), { tokens: [], warnings: [] });
  assert.deepEqual(tokeniseCmdline('""').tokens, []);
});

Deno.test("tokenise: a word starting with = has an empty key", () => {
  assert.deepEqual(tokeniseCmdline("=x").tokens, [{ key: "", value: "x" }]);
});
