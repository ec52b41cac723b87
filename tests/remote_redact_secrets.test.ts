import assert from "node:assert/strict";
import { tokeniseCmdline } from "../src/config/tokenise.ts";
import { REDACTED_LINE, redactSecrets } from "../src/remote/redact_secrets.ts";

const PREFIX = "[    0.000000] Kernel command line: ";

Deno.test("redact: every spelling the tokeniser accepts loses its value", () => {
  const cases: [string, string][] = [
    ["p2v.password=hunter2", "p2v.password=***"],
    ["p2v.auth.password=hunter2", "p2v.auth.password=***"],
    ['p2v.password="two words"', "p2v.password=***"],
    ['"p2v.password=two words"', '"p2v.password=***'],
    ['p2v."password"=hunter2', 'p2v."password"=***'],
    ['p2v.pass"word=two wo"rds', 'p2v.pass"word=***'],
    ['p2v.password=ab"c d"e', "p2v.password=***"],
    ["p2v.password=", "p2v.password=***"],
  ];
  for (const [word, expected] of cases) {
    const line = `${PREFIX}root=/dev/sda1 ${word} p2v.o=local`;
    assert.equal(
      redactSecrets(line),
      `${PREFIX}root=/dev/sda1 ${expected} p2v.o=local`,
      word,
    );
  }
  // Tabs separate words too; an unterminated quote runs to the end of the line.
  assert.equal(
    redactSecrets(`${PREFIX}a=1\tp2v.password=x\tb=2`),
    `${PREFIX}a=1\tp2v.password=***\tb=2`,
  );
  assert.equal(
    redactSecrets(`${PREFIX}p2v.password="open to the end`),
    `${PREFIX}p2v.password=***`,
  );
});

Deno.test("redact: other keys, flags and lines are left as they are", () => {
  const text = `${PREFIX}p2v.server=h p2v.password p2v.username=root\n` +
    "[    1.0] usb 1-1: new device, password prompt disabled\n" +
    "p2v.passwords=not-ours x.p2v.password=not-ours\n";
  assert.equal(redactSecrets(text), text);
});

Deno.test("redact: a password the word scan cannot isolate removes the whole line", () => {
  const line =
    'Unknown kernel command line parameters "BOOT_IMAGE=/vmlinuz p2v.password=hunter2", ' +
    "will be passed to user space.";
  assert.equal(redactSecrets(`before\n${line}\nafter`), `before\n${REDACTED_LINE}\nafter`);
});

Deno.test("redact: known secrets are removed wherever they appear", () => {
  assert.equal(redactSecrets("x hunter2 y hunter2\n", ["hunter2"]), "x *** y ***\n");
  // Too short to search for without garbling everything else.
  assert.equal(redactSecrets("a b c\n", ["a"]), "a b c\n");
});

Deno.test("redact: generated command lines never keep a password value", () => {
  const pieces = ["a", "b c", "=", '"', "\t", "x=y", "p2v.o=local", " "];
  const pick = (n: number) => pieces[Math.floor(Math.random() * n) % pieces.length];
  for (let i = 0; i < 2000; i++) {
    const secret = `S${i}ecret`;
    const key = Math.random() < 0.5 ? "p2v.password" : "p2v.auth.password";
    let noise = "";
    for (let j = 0; j < 6; j++) noise += pick(pieces.length);
    const quoted = Math.random() < 0.5;
    const word = quoted ? `${key}="${secret} more"` : `${key}=${secret}`;
    const line = `${PREFIX}${noise} ${word} ${noise}`;
    const tokens = tokeniseCmdline(line).tokens;
    const found = tokens.some((t) => (t.key === key) && t.value?.includes(secret));
    const out = redactSecrets(line);
    assert.ok(!out.includes(secret), `${JSON.stringify(line)} → ${JSON.stringify(out)}`);
    if (found && out !== REDACTED_LINE) {
      // What the tokeniser reads back has the key with a redacted value.
      const back = tokeniseCmdline(out).tokens.find((t) => t.key === key);
      assert.equal(back?.value, "***", JSON.stringify(line));
    }
  }
});

Deno.test("redact: the password inside a URL is masked, wherever the URL stands", () => {
  const cmdline = `${PREFIX}p2v.server=h p2v.identity=https://keyuser:s3cr3t@keys.example.com/id`;
  assert.equal(
    redactSecrets(cmdline),
    `${PREFIX}p2v.server=h p2v.identity=https://keyuser:***@keys.example.com/id`,
  );
  const quoted = 'Unknown kernel command line parameters "p2v.identity=http://u:p@ss@h/k x=1"';
  assert.equal(
    redactSecrets(quoted),
    'Unknown kernel command line parameters "p2v.identity=http://u:***@h/k x=1"',
  );
  // No password, nothing to mask: a user name alone, a port, an @ in the path.
  const plain = "https://keyuser@h/k http://h:8080/a@b p2v.identity=file:///root/id";
  assert.equal(redactSecrets(plain), plain);
});
