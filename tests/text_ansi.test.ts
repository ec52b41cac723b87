/**
 * The one filter for text from the server or the network: SGR colours may
 * pass when colours are on, no other escape sequence or control ever does.
 */
import assert from "node:assert/strict";
import { terminalText } from "../src/text/ansi.ts";
import { assertTerminalSafe, HOSTILE } from "./helpers/hostile_text.ts";

for (const colours of [false, true]) {
  for (const [name, sequence] of HOSTILE) {
    Deno.test(`filter (colours ${colours ? "on" : "off"}): ${name} is dropped`, () => {
      const out = terminalText(`before ${sequence} after`, { colours });
      assertTerminalSafe(out, false, name);
      assert.ok(out.startsWith("before "), out);
      assert.ok(!out.includes("pwned"), `${name}: the payload of a string sequence shows: ${out}`);
    });
  }
}

Deno.test("filter: SGR colours pass when colours are on, and only then", () => {
  const text = "\x1b[1;31mred\x1b[0m \x1b[38:5:208morange\x1b[m plain";
  assert.equal(terminalText(text, { colours: true }), text);
  assert.equal(terminalText(text), "red orange plain");
  assert.equal(terminalText(text, { colours: false }), "red orange plain");
});

Deno.test("filter: an SGR-looking sequence that is not one is dropped", () => {
  for (const seq of ["\x1b[?1m", "\x1b[1 m", "\x1b[>4;2m", "\u009b31m"]) {
    assert.equal(terminalText(`a${seq}b`, { colours: true }), "ab", JSON.stringify(seq));
  }
});

Deno.test("filter: a sequence broken by a control leaves only printable text", () => {
  const out = terminalText("a\x1b[2\x0aJb\x1b[\x1b]0;x\x07c", { colours: true });
  assertTerminalSafe(out, false);
  assert.equal(out, "a2Jbc");
});

Deno.test("filter: text, TABs and non-ASCII are kept as they are", () => {
  const text = "[  12.3] Copying disk 1/2\tto «Grüße» 日本語 ✓";
  assert.equal(terminalText(text), text);
  assert.equal(terminalText(text, { colours: true }), text);
});
