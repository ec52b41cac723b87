/**
 * Unattended conversions through a real OpenSSH server: every disk byte goes
 * from our NBD export through the reverse forward into the stub virt-v2v's
 * nbdcopy, and lands byte-identical on the server.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { GiB, makeDenseImage, makeSparseImage } from "./helpers/images.ts";
import { p2vArgs, runP2v } from "./helpers/p2v.ts";
import { sha256File, waitFor } from "./helpers/process.ts";
import { leftoverProcesses, startSshd, type TestSshd } from "./helpers/sshd.ts";
import { serverKeys } from "./helpers/server_keys.ts";
import { installStubVirtV2v, makeOutputDir } from "./helpers/stub_server.ts";
import { tempDir } from "./helpers/cleanup.ts";

const work = await tempDir({ prefix: "p2v-conv." });
const dense = await makeDenseImage(work, "dense.img", 1 * GiB);
const sparse = await makeSparseImage(work, "sparse.img", 4 * GiB, 24);
const sums = { dense: await sha256File(dense), sparse: await sha256File(sparse) };

function baseCmdline(sshd: TestSshd, outDir: string, extra: string): string {
  return [...serverKeys(sshd, { outDir }), extra].join(" ");
}

function remoteDirOf(stdout: string): string {
  const m = /^Remote directory: (\S+)$/m.exec(stdout);
  assert.ok(m, `no remote directory in output:\n${stdout}`);
  return m[1];
}

async function assertSourcesUnchanged(): Promise<void> {
  assert.equal(await sha256File(dense), sums.dense, "dense source image changed");
  assert.equal(await sha256File(sparse), sums.sparse, "sparse source image changed");
}

for (const backend of ["qemu-nbd", "builtin", "nbdkit"]) {
  Deno.test(`${backend}: two disks are copied byte-identically and every remote file is written`, async () => {
    const sshd = await startSshd();
    try {
      await installStubVirtV2v(sshd);
      const out = await makeOutputDir(sshd);
      const postMarker = join(work, `post-ran-${backend}`);
      const started = performance.now();
      const result = await runP2v(p2vArgs(baseCmdline(
        sshd,
        out,
        `p2v.nbd=${backend} p2v.name=guest1 p2v.disks=${dense},${sparse} p2v.memory=2G p2v.vcpu.cores=3 ` +
          `p2v.post="touch ${postMarker}" p2v.fail="touch ${work}/fail-ran-${backend}"`,
      )));
      const seconds = (performance.now() - started) / 1000;
      assert.equal(result.code, 0, `exit ${result.code}\n${result.stdout}\n${result.stderr}`);
      console.log(
        `${backend}: conversion of 1 GiB dense + 4 GiB sparse: ${seconds.toFixed(1)} s, ` +
          `${(1024 / seconds).toFixed(0)} MiB/s of dense data, peak RSS ${
            (result.peakRssKb / 1024).toFixed(0)
          } MiB`,
      );

      assert.equal(await sha256File(join(out, "guest1-sda")), sums.dense);
      assert.equal(await sha256File(join(out, "guest1-sdb")), sums.sparse);
      await assertSourcesUnchanged();

      const dir = remoteDirOf(result.stdout);
      assert.match(dir, /^\/tmp\/virt-p2v-\d{8}-[a-z0-9]{8}$/);
      const read = (name: string) => Deno.readTextFile(join(dir, name));
      assert.equal(await read("name"), "guest1\n");
      assert.equal((await read("status")).trim(), "0");
      assert.match(await read("time"), /\d{4}/);
      assert.equal((await read("v2v-version")).trim(), "virt-v2v 2.2.0");
      assert.equal(await read("p2v-version"), `virt-p2v ${await programVersion()}\n`);
      assert.match(await read("environment"), /^PATH=/m);
      const xml = await read("physical.xml");
      assert.match(xml, /<name>guest1<\/name>/);
      assert.match(xml, /<memory unit="KiB">2097152<\/memory>/);
      assert.match(xml, /<vcpu>3<\/vcpu>/);
      assert.match(xml, /<target dev="sda"\/>/);
      assert.match(xml, /<target dev="sdb"\/>/);
      const log = await read("virt-v2v-conversion-log.txt");
      assert.match(log, /stub: debug line on stderr/, "stderr must reach the log");
      assert.match(log, /Copying disk sdb/);
      // Nothing in the directory is for other users of the server.
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
      for await (const e of Deno.readDir(dir)) {
        const mode = (await Deno.stat(join(dir, e.name))).mode! & 0o777;
        const expected = e.name.endsWith(".sh") ? 0o700 : 0o600;
        assert.equal(mode, expected, `${e.name}: ${mode.toString(8)}`);
      }
      const argv = (await read("stub-argv")).split("\0").slice(0, -1);
      assert.deepEqual(argv.slice(0, 6), ["-v", "-x", "--colours", "-i", "libvirtxml", "-o"]);
      assert.ok(argv.includes(out));

      // The output was streamed live, line by line, and the post command ran.
      assert.match(result.stdout, /^\[ {3}2\.0\] Copying disk\(s\)$/m);
      // The last word says where the guest went and how long it took.
      const success = result.stdout.split("\n").find((l) =>
        l.startsWith("Conversion finished successfully")
      );
      assert.equal(
        success,
        `Conversion finished successfully in ${success?.match(/in (\d+:\d\d):/)?.[1]}: ` +
          `virt-v2v wrote the guest "guest1" with -o local to ${out} on 127.0.0.1. ` +
          `The log is in ${dir} on the server.`,
      );
      await Deno.stat(postMarker);
      await assert.rejects(Deno.stat(join(work, `fail-ran-${backend}`)));
      assert.equal(await leftoverProcesses(sshd), "");
    } finally {
      await sshd.stop();
    }
  });
}

Deno.test("a failing virt-v2v ends with exit 1, its reason in the last line, the log tail shown", async () => {
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { exitCode: 3 });
    const out = await makeOutputDir(sshd);
    const failMarker = join(work, "fail-ran-2");
    const result = await runP2v(p2vArgs(baseCmdline(
      sshd,
      out,
      `p2v.name=guest2 p2v.disks=${sparse} p2v.fail="touch ${failMarker}"`,
    )));
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(
      result.stderr,
      // virt-v2v's own reason is in our last line, not only in the log above it.
      /^virt-p2v: error during conversion: virt-v2v exited with status 3: stub conversion failure requested; the full log is \/\S+\/virt-v2v-conversion-log\.txt on the conversion server$/m,
    );
    assert.equal(
      result.stderr.trim().split("\n").length,
      1,
      `one line expected:\n${result.stderr}`,
    );
    // The wrapper's banner and the last lines of the log reach the user.
    assert.match(result.stdout, /virt-v2v-conversion-log\.txt/);
    assert.match(result.stdout, /stub conversion failure requested/);
    const dir = remoteDirOf(result.stdout);
    assert.equal((await Deno.readTextFile(join(dir, "status"))).trim(), "3");
    await Deno.stat(failMarker);
    await assertSourcesUnchanged();
  } finally {
    await sshd.stop();
  }
});

Deno.test("SIGINT during the conversion cancels it and leaves nothing running on the server", async () => {
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { hang: true });
    const out = await makeOutputDir(sshd);
    const failMarker = join(work, "fail-ran-3");
    let signalled = false;
    const result = await runP2v(
      p2vArgs(baseCmdline(
        sshd,
        out,
        `p2v.name=guest3 p2v.disks=${sparse} p2v.fail="touch ${failMarker}"`,
      )),
      {
        onOutput: (text, child) => {
          if (!signalled && text.includes("stub: hanging")) {
            signalled = true;
            child.kill("SIGINT");
          }
        },
      },
    );
    assert.ok(signalled, "the stub never reached its hanging point:\n" + result.stdout);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stderr, /virt-p2v: error during conversion: cancelled by user/);
    await Deno.stat(failMarker);
    await waitFor(
      async () => (await leftoverProcesses(sshd)) === "",
      15_000,
      "remote processes to end",
    );
    await assertSourcesUnchanged();
  } finally {
    await sshd.stop();
  }
});

async function programVersion(): Promise<string> {
  const { VERSION } = await import("../src/version.ts");
  return VERSION;
}

addEventListener("unload", () => {
  Deno.removeSync(work, { recursive: true });
});
