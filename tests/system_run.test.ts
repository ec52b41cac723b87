/** How programs run on this machine end, and what we are told about it. */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  describeCaptured,
  describeTerminalRun,
  runCaptured,
  runOnTerminal,
} from "../src/system/run.ts";
import { tempDir } from "./helpers/cleanup.ts";

Deno.test("run: a program that does not exist says so, with the reason", async () => {
  const r = await runCaptured("/no/such/program", []);
  assert.equal(r.started, false);
  assert.equal(r.startError, "No such file or directory");
  const t = await runOnTerminal("/no/such/program", []);
  assert.deepEqual(t, { started: false, startError: "No such file or directory" });
  assert.equal(
    describeTerminalRun("/no/such/program", t),
    "/no/such/program cannot be started: No such file or directory",
  );
});

Deno.test("run: a file that is not executable is refused with its reason", async () => {
  const dir = await tempDir({ prefix: "p2v-run." });
  const file = join(dir, "not-executable");
  await Deno.writeTextFile(file, "#!/bin/sh\nexit 0\n");
  await Deno.chmod(file, 0o644);
  const r = await runCaptured(file, []);
  assert.equal(r.started, false);
  assert.equal(r.startError, "Permission denied");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run: a status and a signal are told apart", async () => {
  const exited = await runOnTerminal("/bin/sh", ["-c", "exit 7"]);
  assert.deepEqual(exited, { started: true, code: 7, signal: null });
  assert.equal(describeTerminalRun("sh", exited), "sh exited with status 7");
  const killed = await runOnTerminal("/bin/sh", ["-c", "kill -SEGV $$"]);
  assert.equal(killed.started && killed.signal, "SIGSEGV");
  assert.equal(describeTerminalRun("sh", killed), "sh was killed by SIGSEGV");
  const captured = await runCaptured("/bin/sh", ["-c", "kill -TERM $$"]);
  assert.equal(captured.code, null);
  assert.equal(captured.signal, "SIGTERM");
  assert.equal(describeCaptured("sh", captured), "sh was killed by SIGTERM");
  const status = await runCaptured("/bin/sh", ["-c", "exit 5"]);
  assert.equal(describeCaptured("sh", status), "sh exited with status 5");
  const missing = await runCaptured("/no/such/program", []);
  assert.equal(
    describeCaptured("/no/such/program", missing),
    "/no/such/program cannot be started: No such file or directory",
  );
});
