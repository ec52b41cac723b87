/**
 * Malformed input never produces a stack trace: hundreds of generated kernel
 * command lines and argument lists either run (here: dump the config) or end
 * with exit 1 and exactly one `virt-p2v: error: …` line.
 */
import assert from "node:assert/strict";
import { main, type MainIo } from "../src/cli/main.ts";
import { KERNEL_KEYS } from "../src/config/kernel_keys.ts";

/** A small seeded generator, so a failure can be reproduced from its case number. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = KERNEL_KEYS.flatMap((k) => (k.alias ? [k.key, k.alias] : [k.key]));
const NASTY_VALUES = [
  "",
  "abc",
  "-1",
  "0",
  "99999999999999999999",
  "1.5",
  "12",
  "2048",
  "4G",
  "1GiB",
  "1XB",
  "yes",
  "flase",
  '"unterminated',
  '"a b"',
  "a,,b",
  ",",
  "eth0:",
  ":x",
  "file:///no/such/key",
  "ftp://x",
  "$(touch /tmp/p2v-fuzz-canary)",
  "`id`",
  "x".repeat(10_000),
  "\u0000\u0001\u0002",
  "\u00e9\u4e2d",
  "SHA256:short",
  "=",
  "==",
];

function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)];
}

function randomBytes(r: () => number, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(r() * 0x250));
  return s;
}

function randomCmdline(r: () => number): string {
  const parts: string[] = [];
  const count = 1 + Math.floor(r() * 6);
  for (let i = 0; i < count; i++) {
    const kind = r();
    if (kind < 0.55) parts.push(`${pick(r, KEYS)}=${pick(r, NASTY_VALUES)}`);
    else if (kind < 0.65) parts.push(pick(r, KEYS));
    else if (kind < 0.75) parts.push(`p2v.${randomBytes(r, 5)}=${randomBytes(r, 8)}`);
    else if (kind < 0.85) parts.push(randomBytes(r, 20));
    else if (kind < 0.92) parts.push(`${pick(r, KEYS)}="${randomBytes(r, 6)}`);
    else parts.push(`root=/dev/sda1 console=ttyS0 ip=dhcp`);
  }
  // Always end in a dump, so a well-formed line exits 0 without connecting anywhere.
  return parts.join(pick(r, [" ", "  ", "\t", "\n"])) + " p2v.dump_config_and_exit";
}

const OPTIONS = [
  "--help",
  "-V",
  "--version",
  "--colours",
  "--colors",
  "--iso",
  "-v",
  "--verbose",
  "--test-disk=/abs.img",
  "--test-disk=relative.img",
  "--test-disk",
  "--long-options",
  "--short-options",
  "--unknown",
  "-Z",
  "stray",
  "--",
  "-",
  "--cmdline",
];

function randomArgs(r: () => number): string[] {
  const args: string[] = [];
  const count = Math.floor(r() * 4);
  for (let i = 0; i < count; i++) args.push(pick(r, OPTIONS));
  // Without --cmdline the program would read this machine's /proc/cmdline and start the dialog.
  args.push(`--cmdline=${randomCmdline(r)}`);
  if (r() < 0.1) args.push(randomBytes(r, 10));
  return args;
}

async function runInProcess(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: MainIo = {
    stdout: (t) => out += t,
    stderr: (t) => err += t,
    env: () => undefined,
    isTerminal: false,
  };
  const code = await main(args, io);
  return { code, out, err };
}

function checkOutcome(label: string, r: { code: number; out: string; err: string }): void {
  const errors = r.err.split("\n").filter((l) => l.startsWith("virt-p2v: error"));
  assert.doesNotMatch(r.err, /internal error|^\s+at /m, `${label}: crash\n${r.err}`);
  if (r.code === 0) {
    assert.equal(errors.length, 0, `${label}: exit 0 with an error line`);
    return;
  }
  assert.equal(r.code, 1, `${label}: exit ${r.code}`);
  assert.equal(errors.length, 1, `${label}: expected one error line:\n${r.err}`);
  assert.ok(!errors[0].includes("\r"), `${label}: multi-line error`);
  const nonWarnings = r.err.split("\n").filter((l) =>
    l !== "" && !l.startsWith("virt-p2v: warning:") && !l.startsWith("virt-p2v: error")
  );
  assert.deepEqual(nonWarnings, [], `${label}: unexpected stderr lines`);
}

Deno.test("250 generated kernel command lines never crash the program", async () => {
  const r = rng(20261126);
  let ran = 0;
  let rejected = 0;
  for (let i = 0; i < 250; i++) {
    const cmdline = randomCmdline(r);
    const result = await runInProcess([`--cmdline=${cmdline}`]);
    checkOutcome(`cmdline case ${i}: ${JSON.stringify(cmdline).slice(0, 200)}`, result);
    if (result.code === 0) ran++;
    else rejected++;
  }
  // Both outcomes must occur, or the generator is not exercising anything.
  assert.ok(ran > 10 && rejected > 100, `ran ${ran}, rejected ${rejected}`);
});

Deno.test("200 generated argument lists never crash the program", async () => {
  const r = rng(4242);
  for (let i = 0; i < 200; i++) {
    const args = randomArgs(r);
    checkOutcome(`args case ${i}: ${JSON.stringify(args).slice(0, 200)}`, await runInProcess(args));
  }
});

Deno.test("every key with a value of the wrong type is a one-line error naming the key", async () => {
  const typed: Record<string, string> = {
    "p2v.port": "twenty-two",
    "p2v.remote.port": "22abc",
    "p2v.sudo": "flase",
    "p2v.auth.sudo": "2",
    "p2v.vcpu.phys_topo": "maybe",
    "p2v.vcpu.cores": "0",
    "p2v.memory": "2048",
    "p2v.cpu.acpi": "x",
    "p2v.cpu.apic": "x",
    "p2v.cpu.pae": "x",
    "p2v.rtc.basis": "gmt",
    "p2v.rtc.offset": "soon",
    "p2v.oa": "fast",
    "p2v.output.allocation": "thin",
    "p2v.identity": "not a url",
    "p2v.hostkey": "MD5:00",
    "p2v.skip_test_connection": "perhaps",
  };
  for (const [key, value] of Object.entries(typed)) {
    const r = await runInProcess([`--cmdline=${key}=${value} p2v.dump_config_and_exit`]);
    assert.equal(r.code, 1, `${key}=${value} was accepted`);
    assert.match(r.err.trim(), new RegExp(`^virt-p2v: error: ${key.replaceAll(".", "\\.")}: `));
  }
});

Deno.test("VIRT_P2V_TIMEOUTS with a misspelled key or a bad value is refused, naming the keys", async () => {
  const withTimeouts = async (value: string) => {
    let err = "";
    const code = await main(["--cmdline=p2v.server=h p2v.disks=/x p2v.post="], {
      stdout: () => {},
      stderr: (t) => err += t,
      env: (name) => name === "VIRT_P2V_TIMEOUTS" ? value : undefined,
      isTerminal: false,
    });
    return { code, err };
  };
  let r = await withTimeouts('{"conectMs":5000}');
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /^virt-p2v: error: VIRT_P2V_TIMEOUTS: unknown key "conectMs" \(valid keys: networkWaitMs, connectMs, .*cancelGraceMs, .*\)\n$/,
  );
  r = await withTimeouts('{"connectMs":"5s"}');
  assert.match(
    r.err,
    /^virt-p2v: error: VIRT_P2V_TIMEOUTS: connectMs must be a number of milliseconds/,
  );
  r = await withTimeouts("connectMs=5000");
  assert.match(r.err, /^virt-p2v: error: VIRT_P2V_TIMEOUTS must be JSON/);
});
