import assert from "node:assert/strict";
import { runCommand } from "../src/collect/run_command.ts";

Deno.test("runCommand: captures stdout of a successful tool", async () => {
  assert.deepEqual(await runCommand("sh", ["-c", "echo hello; echo oops >&2"]), {
    ok: true,
    stdout: "hello\n",
  });
});

Deno.test("runCommand: non-zero exit is ok:false, output kept", async () => {
  assert.deepEqual(await runCommand("sh", ["-c", "echo partial; exit 3"]), {
    ok: false,
    stdout: "partial\n",
  });
});

Deno.test("runCommand: a missing tool is ok:false, not an exception", async () => {
  assert.deepEqual(await runCommand("p2v-no-such-tool-xyz", []), { ok: false, stdout: "" });
});

Deno.test("runCommand: stdin is closed (a tool reading it sees EOF)", async () => {
  assert.deepEqual(await runCommand("sh", ["-c", "cat; echo done"]), {
    ok: true,
    stdout: "done\n",
  });
});

Deno.test("runCommand: extra environment reaches the tool", async () => {
  const r = await runCommand("sh", ["-c", 'echo "$LC_ALL"'], { env: { LC_ALL: "C" } });
  assert.deepEqual(r, { ok: true, stdout: "C\n" });
});

Deno.test("runCommand: a hanging tool is killed at the timeout", async () => {
  const started = Date.now();
  const r = await runCommand("sleep", ["30"], { timeoutMs: 200 });
  assert.equal(r.ok, false);
  assert.ok(Date.now() - started < 5000);
});

Deno.test("runCommand: timeout also ends the read when a grandchild holds stdout", async () => {
  const started = Date.now();
  const r = await runCommand("sh", ["-c", "echo early; sleep 3 & wait"], { timeoutMs: 300 });
  assert.equal(r.ok, false);
  assert.equal(r.stdout, "early\n");
  assert.ok(Date.now() - started < 2500);
});

Deno.test("runCommand: output is capped at maxBytes and the flood stopped", async () => {
  const r = await runCommand("sh", ["-c", "yes p2v"], { maxBytes: 1000 });
  assert.equal(r.ok, true);
  assert.equal(r.stdout.length, 1000);
  assert.ok(r.stdout.startsWith("p2v\np2v\n"));
});

Deno.test("runCommand: output exactly at the cap is complete", async () => {
  const r = await runCommand("printf", ["12345"], { maxBytes: 5 });
  assert.deepEqual(r, { ok: true, stdout: "12345" });
});
