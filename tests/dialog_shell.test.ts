import assert from "node:assert/strict";

const INTERACTIVE = new URL("../src/cli/interactive.ts", import.meta.url).href;

/** Runs the dialog's shell action in a child whose terminal is a pipe we write to. */
async function shellAction(shell: string, input: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const { runInteractiveShell } = await import(${JSON.stringify(INTERACTIVE)});
       await runInteractiveShell(${JSON.stringify(shell)});`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

Deno.test("the Shell action runs $SHELL", async () => {
  const r = await shellAction("/bin/bash", 'echo "in $BASH_VERSION"\nexit\n');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^in \d+\./m);
});

Deno.test("the Shell action falls back to /bin/sh when $SHELL cannot be started", async () => {
  const r = await shellAction("/no/such/shell", 'echo "fallback $0"\nexit\n');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^fallback (\/bin\/)?sh$/m);
});

Deno.test("a shell that dies of a signal is the end of it: no /bin/sh after it", async () => {
  // bash reads a pipe a byte at a time, so what follows the kill is left for
  // whatever reads the terminal next.
  const r = await shellAction("/bin/bash", 'echo "before"\nkill -KILL $$\necho "after $0"\n');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^before$/m);
  assert.doesNotMatch(r.stdout, /after/);
});
