import assert from "node:assert/strict";
import { capBytes, captureDiagnostics, DIAGNOSTIC_COMMANDS } from "../src/collect/diagnostics.ts";
import type { Runner, RunOptions } from "../src/collect/run_command.ts";

Deno.test("captureDiagnostics: tools and arguments of the original", () => {
  assert.deepEqual(DIAGNOSTIC_COMMANDS.map(([n, c, a]) => [n, c, ...a]), [
    ["dmesg", "dmesg"],
    ["lscpu", "lscpu"],
    ["lspci", "lspci", "-vvv"],
    ["lsscsi", "lsscsi", "-v"],
    ["lsusb", "lsusb", "-v"],
  ]);
});

Deno.test("captureDiagnostics: missing, failing, throwing and hanging tools are undefined", async () => {
  const calls: [string, string[], RunOptions | undefined][] = [];
  let hangingStarted = false;
  const run: Runner = (cmd, args, opts) => {
    calls.push([cmd, args, opts]);
    switch (cmd) {
      case "dmesg":
        return Promise.resolve({ ok: true, stdout: "[    0.000000] Linux version 6.1\n" });
      case "lscpu":
        return Promise.resolve({ ok: true, stdout: "" });
      case "lspci":
        return Promise.resolve({ ok: false, stdout: "partial" });
      case "lsscsi":
        return Promise.reject(new Error("spawn failed"));
      default:
        hangingStarted = true;
        return new Promise(() => {}); // never answers, ignores its timeout
    }
  };
  const started = Date.now();
  const out = await captureDiagnostics(run, { timeoutMs: 50 });
  assert.ok(Date.now() - started < 5000, "a hanging tool must not stall the capture");
  assert.ok(hangingStarted);
  assert.deepEqual(out, {
    dmesg: "[    0.000000] Linux version 6.1\n",
    lscpu: "",
    lspci: undefined,
    lsscsi: undefined,
    lsusb: undefined,
  });
  for (const [, , opts] of calls) {
    assert.equal(opts?.timeoutMs, 50);
    assert.equal(opts?.env?.LC_ALL, "C");
  }
  assert.deepEqual(calls.map(([c, a]) => [c, ...a]).sort(), [
    ["dmesg"],
    ["lscpu"],
    ["lspci", "-vvv"],
    ["lsscsi", "-v"],
    ["lsusb", "-v"],
  ]);
});

Deno.test("captureDiagnostics: runs the tools in parallel", async () => {
  let running = 0;
  let peak = 0;
  const run: Runner = async () => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 20));
    running--;
    return { ok: true, stdout: "x" };
  };
  await captureDiagnostics(run);
  assert.equal(peak, 5);
});

Deno.test("captureDiagnostics: output capped even if the runner ignores maxBytes", async () => {
  const run: Runner = () => Promise.resolve({ ok: true, stdout: "y".repeat(100) });
  const out = await captureDiagnostics(run, { maxBytes: 10 });
  assert.equal(out.dmesg, "y".repeat(10));
});

Deno.test("capBytes: counts UTF-8 bytes", () => {
  assert.equal(capBytes("abc", 10), "abc");
  assert.equal(capBytes("ééé", 4), "éé");
  assert.equal(capBytes("ééé", 3), "é\uFFFD");
  assert.equal(capBytes("x".repeat(20), 5), "xxxxx");
});

Deno.test("captureDiagnostics: default runner on the real machine never throws", async () => {
  const out = await captureDiagnostics();
  assert.deepEqual(Object.keys(out).sort(), ["dmesg", "lscpu", "lspci", "lsscsi", "lsusb"]);
  for (const v of Object.values(out)) assert.ok(v === undefined || typeof v === "string");
});
