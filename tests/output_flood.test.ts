/**
 * A conversion server that floods us, against the real program on a small
 * heap (a rescue machine with little memory): a huge `--version`, a huge
 * `--machine-readable`, a huge output during the conversion with one giant
 * line. Each run ends cleanly — one error line, or success — with `p2v.fail`
 * run when it failed, and never a stack trace or an out-of-memory death.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeDenseImage, MiB } from "./helpers/images.ts";
import { p2vArgs, type P2vRun, runP2v } from "./helpers/p2v.ts";
import { sha256File } from "./helpers/process.ts";
import { leftoverProcesses, startSshd, TEST_USER, type TestSshd } from "./helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "./helpers/stub_server.ts";
import { tempDir } from "./helpers/cleanup.ts";

/** What the README says is enough for the boot image, minus room for Deno itself. */
const SMALL_HEAP = ["--max-semi-space-size=1", "--max-old-space-size=200"];
const DISK_BYTES = 16 * MiB;
const FLOOD_SOURCE = new URL("./fixtures/flood-virt-v2v", import.meta.url);

const work = await tempDir({ prefix: "p2v-flood." });
await Deno.chmod(work, 0o755);
addEventListener("unload", () => {
  try {
    Deno.removeSync(work, { recursive: true });
  } catch { /* already gone */ }
});
const disk = await makeDenseImage(work, "disk.img", DISK_BYTES);
const diskSum = await sha256File(disk);

/** The ordinary stub as virt-v2v.stub, with the flooding one in front of it as virt-v2v. */
async function installFlood(sshd: TestSshd, flood: string, mib: number): Promise<void> {
  await installStubVirtV2v(sshd);
  await Deno.rename(join(sshd.binDir, "virt-v2v"), join(sshd.binDir, "virt-v2v.stub"));
  const target = join(sshd.binDir, "virt-v2v");
  await Deno.copyFile(FLOOD_SOURCE, target);
  await Deno.chmod(target, 0o755);
  await Deno.writeTextFile(join(sshd.binDir, "flood.conf"), `FLOOD=${flood}\nFLOOD_MIB=${mib}\n`);
}

async function floodRun(
  flood: string,
  mib: number,
): Promise<{ r: P2vRun; failRan: boolean; remoteLeft: string }> {
  const sshd = await startSshd();
  try {
    await installFlood(sshd, flood, mib);
    const out = await makeOutputDir(sshd);
    const failMarker = join(work, `fail-ran-${flood}`);
    const cmdline = `p2v.server=127.0.0.1 p2v.port=${sshd.port} p2v.username=${TEST_USER} ` +
      `p2v.identity=file://${sshd.userKeyPath} p2v.disks=${disk} p2v.os=${out} p2v.post= ` +
      `p2v.name=flood-${flood} p2v.fail="/usr/bin/touch ${failMarker}"`;
    const started = performance.now();
    const r = await runP2v(p2vArgs(cmdline), {
      v8Flags: SMALL_HEAP,
      keepChars: 256 * 1024,
      timeoutMs: 300_000,
    });
    console.log(
      `${flood} flood of ${mib} MiB: exit ${r.code} after ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s, peak RSS ${(r.peakRssKb / 1024).toFixed(0)} MiB`,
    );
    const failRan = await Deno.stat(failMarker).then(() => true, () => false);
    return { r, failRan, remoteLeft: await leftoverProcesses(sshd) };
  } finally {
    await sshd.stop();
  }
}

function assertCleanEnd(r: P2vRun): void {
  const all = r.stdout + r.stderr;
  const tail = all.slice(-3000);
  assert.ok(!/^\s+at /m.test(all), `a stack trace:\n${tail}`);
  assert.ok(
    !/out of memory|heap limit|Uncaught|internal error/i.test(all),
    `an unclean death:\n${tail}`,
  );
}

function assertOneError(r: P2vRun, pattern: RegExp): void {
  assertCleanEnd(r);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("virt-p2v: error"));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0], pattern);
}

Deno.test("a 512 MiB `virt-v2v --version` ends the run with one error naming it and the cap", async () => {
  const { r, failRan } = await floodRun("version", 512);
  assertOneError(r, /the conversion server's answer to `virt-v2v --version` exceeded 1 MiB/);
  assert.ok(failRan, "p2v.fail did not run");
});

Deno.test("a 200 MiB `virt-v2v --machine-readable` ends the run with one error naming it", async () => {
  const { r, failRan } = await floodRun("machine", 200);
  assertOneError(r, /answer to `virt-v2v --machine-readable` exceeded 1 MiB/);
  assert.ok(failRan, "p2v.fail did not run");
});

Deno.test("600 MiB of output at the end of the conversion, one giant line: the conversion succeeds", async () => {
  const { r, failRan, remoteLeft } = await floodRun("convert", 600);
  assertCleanEnd(r);
  assert.equal(r.code, 0, r.stdout.slice(-4000) + r.stderr);
  assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("virt-p2v: error")).length, 0);
  assert.match(r.stdout, /^flood: line 20000$/m);
  // The giant line is shown cut, and what follows it still arrives.
  const cut = r.stdout.split("\n").find((l) => l.startsWith("xxxx"));
  assert.ok(cut !== undefined, "the giant line is missing");
  assert.match(cut, /^x{8192} \[virt-p2v: line cut after 8192 characters\]$/);
  assert.match(r.stdout, /^flood: end$/m);
  assert.match(r.stdout, /Conversion finished successfully/);
  assert.ok(!failRan, "p2v.fail ran after a success");
  assert.equal(remoteLeft, "");
  assert.equal(await sha256File(disk), diskSum);
});
