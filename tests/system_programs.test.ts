import assert from "node:assert/strict";
import { findProgram } from "../src/system/programs.ts";
import { runCaptured, runOnTerminal } from "../src/system/run.ts";

Deno.test("programs are found on PATH, and in the sbin directories a rescue PATH leaves out", () => {
  assert.equal(findProgram("sh", "/bin"), "/bin/sh");
  // sshd (from setup.sh) lives in /usr/sbin.
  assert.equal(findProgram("sshd", "/nonexistent"), "/usr/sbin/sshd");
  assert.equal(findProgram("p2v-no-such-program", "/bin:/usr/bin"), undefined);
  assert.equal(findProgram("/bin/sh", ""), "/bin/sh");
  assert.equal(findProgram("/etc/passwd", ""), undefined, "not executable");
});

Deno.test("runCaptured keeps stderr when asked, and reports what could not start", async () => {
  const r = await runCaptured("sh", ["-c", "echo out; echo err >&2; exit 4"], { stderr: true });
  assert.deepEqual([r.started, r.code, r.stdout, r.stderr], [true, 4, "out\n", "err\n"]);
  const missing = await runCaptured("p2v-no-such-program", []);
  assert.deepEqual([missing.started, missing.code], [false, null]);
});

Deno.test("runOnTerminal gives the exit status, or why the program could not start", async () => {
  assert.deepEqual(await runOnTerminal("sh", ["-c", "exit 3"]), {
    started: true,
    code: 3,
    signal: null,
  });
  assert.deepEqual(await runOnTerminal("/no/such/program", []), {
    started: false,
    startError: "No such file or directory",
  });
});
