/**
 * A warm conversion through a real sshd: a pre-copy from a disk that a
 * writer keeps changing, then a cutover that sends only what changed and
 * converts the staged copy on the server (the stub reads it as virt-v2v
 * reads a file disk). Also: a pre-copy killed and resumed, a staging of
 * another machine refused, one run at a time on a staged copy (its
 * conversion's job included, once the machine is gone), the listing and the
 * tidy-up.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { tempDir } from "./helpers/cleanup.ts";
import { makePackableImage, MiB, rewriteExtents } from "./helpers/images.ts";
import { p2vArgs, type P2vRun, runP2v } from "./helpers/p2v.ts";
import { sha256File, waitFor } from "./helpers/process.ts";
import { leftoverProcesses, startSshd, TEST_USER, type TestSshd } from "./helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir, makeStagingArea } from "./helpers/stub_server.ts";
import { startWanLink } from "./helpers/wan_link.ts";

const CHUNK = 256 * 1024;

function keys(sshd: TestSshd, out: string, rest: string): string {
  return `p2v.server=127.0.0.1 p2v.port=${sshd.port} p2v.username=${TEST_USER} ` +
    `p2v.identity=file://${sshd.userKeyPath} p2v.os=${out} p2v.post= ${rest}`;
}

/** Chunks of `staged` that differ from `source`. */
async function differingChunks(source: string, staged: string): Promise<number> {
  const [a, b] = await Promise.all([Deno.readFile(source), Deno.readFile(staged)]);
  let n = 0;
  for (let at = 0; at < a.length; at += CHUNK) {
    const h = (x: Uint8Array) =>
      createHash("sha256").update(x.subarray(at, at + CHUNK)).digest("hex");
    if (h(a) !== h(b)) n++;
  }
  return n;
}

function differLine(stdout: string): { differ: number; chunks: number } {
  const m = /(\d+) of (\d+) chunks differ/.exec(stdout);
  assert.ok(m, `no hash summary:\n${stdout}`);
  return { differ: Number(m[1]), chunks: Number(m[2]) };
}

Deno.test("warm conversion: pre-copy under a writer changing 2 %, then a cutover sends only what changed", async () => {
  const work = await tempDir({ prefix: "p2v-warm." });
  const size = 1024 * MiB;
  const image = await makePackableImage(work, "live.img", size);
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { input: "virt-v2v" });
    const out = await makeOutputDir(sshd);
    const area = await makeStagingArea(sshd);
    // 20 extents of 1 MiB while the pre-copy runs, 20 more after it: 40 MiB, ~4 %.
    const during = rewriteExtents(image, size, 20, { gapMs: 150, chunkBytes: CHUNK });
    const pre = await runP2v(
      p2vArgs(
        keys(sshd, out, `p2v.name=warm p2v.disks=${image} p2v.stage=precopy p2v.stage.dir=${area}`),
      ),
      { timeoutMs: 120_000 },
    );
    const touchedDuring = await during;
    assert.equal(pre.code, 0, `exit ${pre.code}\n${pre.stdout}\n${pre.stderr}`);
    assert.match(pre.stdout, /Pre-copy done: .* NOT consistent/);
    assert.equal(differLine(pre.stdout).differ, size / CHUNK, "a first pre-copy sends every chunk");
    const touched = await rewriteExtents(image, size, 20, { chunkBytes: CHUNK });
    for (const c of touchedDuring) touched.add(c);

    const listing = await runP2v(
      p2vArgs(keys(sshd, out, `p2v.stage=list p2v.stage.dir=${area}`)),
      { timeoutMs: 60_000 },
    );
    assert.equal(listing.code, 0, listing.stderr);
    assert.match(listing.stdout, /warm: pre-copied, [0-9.]+ h old, .* on the server; disks/);

    const cut = await runP2v(
      p2vArgs(
        keys(sshd, out, `p2v.name=warm p2v.disks=${image} p2v.stage=cutover p2v.stage.dir=${area}`),
      ),
      { timeoutMs: 120_000 },
    );
    assert.equal(cut.code, 0, `exit ${cut.code}\n${cut.stdout}\n${cut.stderr}`);
    const { differ } = differLine(cut.stdout);
    // Only chunks the writer touched may differ, and at least those it touched after the pre-copy read them.
    assert.ok(
      differ > 0 && differ <= touched.size,
      `${differ} chunks sent, ${touched.size} touched`,
    );
    const sent = /(\d+) chunks sent \(([0-9.]+) (KiB|MiB) of data in ([0-9.]+) (KiB|MiB)\)/
      .exec(cut.stdout);
    assert.ok(sent, cut.stdout);
    assert.match(cut.stdout, /verified: all 4096 chunks of the staged copy match/);
    // The server took the hashes the pre-copy kept instead of reading the staged image again.
    assert.match(cut.stdout, /hashes as its last run kept them/);
    assert.match(cut.stdout, /can now be switched off/);
    assert.match(cut.stdout, /The staged copy in .* was removed/);
    assert.equal(await sha256File(join(out, "warm-sda")), await sha256File(image));
    await assert.rejects(Deno.stat(join(area, "warm")), Deno.errors.NotFound);
    assert.equal(await leftoverProcesses(sshd), "");
  } finally {
    await sshd.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("warm conversion: a pre-copy killed midway resends only the missing chunks; another machine's staging is refused; one run at a time", async () => {
  const work = await tempDir({ prefix: "p2v-warm-resume." });
  const size = 256 * MiB;
  const image = await makePackableImage(work, "live.img", size);
  const other = await makePackableImage(work, "other.img", size / 2);
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { input: "virt-v2v" });
    const out = await makeOutputDir(sshd);
    const area = await makeStagingArea(sshd);
    const precopy = keys(
      sshd,
      out,
      `p2v.name=resume p2v.disks=${image} p2v.stage=precopy p2v.stage.dir=${area}`,
    );
    // Capped so that it is still sending when it is killed; meanwhile another
    // run is refused, and the listing says a run holds it.
    let killed = false;
    let meanwhile: Promise<[P2vRun, P2vRun]> | undefined;
    const first = await runP2v(p2vArgs(`${precopy} p2v.bandwidth=150`), {
      timeoutMs: 120_000,
      onOutput: (text, child) => {
        if (!meanwhile && /chunks sent \(/.test(text)) {
          meanwhile = Promise.all([
            runP2v(p2vArgs(precopy), { timeoutMs: 60_000 }),
            runP2v(p2vArgs(keys(sshd, out, `p2v.stage=list p2v.stage.dir=${area}`)), {
              timeoutMs: 60_000,
            }),
          ]);
          meanwhile.finally(() => {
            killed = true;
            child.kill("SIGKILL");
          }).catch(() => {});
        }
      },
    });
    assert.ok(meanwhile, `never saw the copy under way:\n${first.stdout}`);
    const [refused, listed] = await meanwhile;
    assert.ok(killed && first.code !== 0, `the first run ended on its own:\n${first.stdout}`);
    // It kept to p2v.bandwidth: 150 Mbit/s is 17.9 MiB/s.
    const rate = /chunks sent \([0-9.]+ [KMG]iB at ([0-9.]+) MiB\/s\)/.exec(first.stdout);
    assert.ok(rate && Number(rate[1]) <= 17.9 * 1.1, `over the cap:\n${first.stdout}`);
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);
    assert.match(refused.stderr, /another run is using the staged copy at .*resume right now/);
    assert.match(listed.stdout, /resume: incomplete, in use by a run now, /);
    const staged = join(area, "resume", "disk-0.img");
    const afterKill = await differingChunks(image, staged);
    assert.ok(
      afterKill > 0 && afterKill < size / CHUNK,
      `${afterKill} chunks missing after the kill`,
    );

    // Through a link that is cut while chunks cross: a one-line error, and what crossed stays.
    const link = await startWanLink({
      target: { hostname: "127.0.0.1", port: sshd.port },
      rttMs: 2,
      rateBitsPerSecond: 200e6,
    });
    let cut = false;
    const viaLink = precopy.replace(`p2v.port=${sshd.port}`, `p2v.port=${link.port}`);
    const cutRun = await runP2v(p2vArgs(`${viaLink} p2v.bandwidth=100`), {
      timeoutMs: 120_000,
      onOutput: (text) => {
        if (!cut && /chunks sent \(/.test(text)) {
          cut = true;
          link.close();
        }
      },
    });
    await link.close();
    assert.ok(cut, `never saw the copy under way:\n${cutRun.stdout}`);
    assert.notEqual(cutRun.code, 0);
    assert.equal(cutRun.stderr.trim().split("\n").length, 1, cutRun.stderr);
    assert.match(cutRun.stderr, /run it again: only what is not staged yet will cross/);
    const missing = await differingChunks(image, staged);
    assert.ok(
      missing > 0 && missing < afterKill,
      `${missing} missing after the cut, ${afterKill} before`,
    );

    const second = await runP2v(p2vArgs(precopy), { timeoutMs: 120_000 });
    assert.equal(second.code, 0, `exit ${second.code}\n${second.stdout}\n${second.stderr}`);
    assert.equal(differLine(second.stdout).differ, missing);
    assert.equal(await differingChunks(image, staged), 0);

    // Another machine's disks (another size) under the same name: refused, nothing touched.
    const wrong = await runP2v(
      p2vArgs(
        keys(
          sshd,
          out,
          `p2v.name=resume p2v.disks=${other} p2v.stage=cutover p2v.stage.dir=${area}`,
        ),
      ),
      { timeoutMs: 60_000 },
    );
    assert.notEqual(wrong.code, 0);
    assert.match(
      wrong.stderr,
      /refused: the staged copy at .*resume is not this machine's: it holds the disks/,
    );
    assert.equal(wrong.stderr.trim().split("\n").length, 1, wrong.stderr);
    // A binding of another machine's UUID: refused as well.
    const bindingPath = join(area, "resume", "binding.json");
    const binding = JSON.parse(await Deno.readTextFile(bindingPath));
    await Deno.writeTextFile(
      bindingPath,
      JSON.stringify({ ...binding, machine: "00000000-1111-2222-3333-444444444444" }),
    );
    const foreign = await runP2v(
      p2vArgs(
        keys(
          sshd,
          out,
          `p2v.name=resume p2v.disks=${image} p2v.stage=cutover p2v.stage.dir=${area}`,
        ),
      ),
      { timeoutMs: 60_000 },
    );
    assert.notEqual(foreign.code, 0);
    assert.match(foreign.stderr, /refused: .* it belongs to the machine 00000000-1111/);
    await Deno.writeTextFile(bindingPath, JSON.stringify(binding) + "\n");
    // A cutover with no pre-copy before it: refused too.
    const none = await runP2v(
      p2vArgs(
        keys(
          sshd,
          out,
          `p2v.name=never p2v.disks=${image} p2v.stage=cutover p2v.stage.dir=${area}`,
        ),
      ),
      { timeoutMs: 60_000 },
    );
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no staged copy at .*never .* run the pre-copy/);

    // A cutover whose machine is gone once the sync is verified: the conversion's job
    // holds the staged copy until virt-v2v ends; another run is refused meanwhile.
    await installStubVirtV2v(sshd, { input: "virt-v2v", rate: "128M" });
    const cutover = precopy.replace("p2v.stage=precopy", "p2v.stage=cutover");
    let gone = false;
    const vanished = await runP2v(p2vArgs(cutover), {
      timeoutMs: 120_000,
      onOutput: (text, child) => {
        if (!gone && /Copying disk .* from /.test(text)) {
          gone = true;
          child.kill("SIGKILL");
        }
      },
    });
    assert.ok(gone, `the conversion never started:\n${vanished.stdout}\n${vanished.stderr}`);
    assert.match(vanished.stdout, /can now be switched off/);
    const during = await runP2v(p2vArgs(precopy), { timeoutMs: 60_000 });
    assert.notEqual(during.code, 0, during.stdout);
    assert.match(during.stderr, /another run is using the staged copy at .*resume right now/);
    const stagedDir = join(area, "resume");
    await waitFor(
      async () =>
        (await new Deno.Command("flock", { args: ["-n", stagedDir, "true"] }).output()).success,
      90_000,
      "the conversion's job to let go of the staged copy",
      500,
    );
    assert.equal(await sha256File(join(out, "resume-sda")), await sha256File(image));
    const after = await runP2v(p2vArgs(precopy), { timeoutMs: 60_000 });
    assert.equal(after.code, 0, `exit ${after.code}\n${after.stdout}\n${after.stderr}`);
    assert.equal(differLine(after.stdout).differ, 0);
    assert.equal(await leftoverProcesses(sshd), "");
  } finally {
    await sshd.stop();
    await Deno.remove(work, { recursive: true });
  }
});

interface StagedServer {
  sshd: TestSshd;
  image: string;
  out: string;
  area: string;
  /** A run of `p2v.stage=STEP` on `image`, staged as "warm" in `area`. */
  run: (step: string) => Promise<P2vRun>;
}

/**
 * A packable source image of `size` bytes, a test sshd (with `sshdConfig`)
 * with the stub virt-v2v, an output dir and a staging area (`areaIn` may
 * move it), for `body`; all of it gone afterwards.
 */
async function withStagedServer(
  size: number,
  opts: { sshdConfig?: string[]; areaIn?: (area: string) => Promise<string> },
  body: (s: StagedServer) => Promise<void>,
): Promise<void> {
  const work = await tempDir({ prefix: "p2v-warm-staged." });
  const image = await makePackableImage(work, "live.img", size);
  const sshd = await startSshd({ extraConfig: opts.sshdConfig });
  try {
    await installStubVirtV2v(sshd, { input: "virt-v2v" });
    const out = await makeOutputDir(sshd);
    const made = await makeStagingArea(sshd);
    const area = opts.areaIn ? await opts.areaIn(made) : made;
    const run = (step: string) =>
      runP2v(
        p2vArgs(
          keys(
            sshd,
            out,
            `p2v.name=warm p2v.disks=${image} p2v.stage=${step} p2v.stage.dir=${area}`,
          ),
        ),
        { timeoutMs: 120_000 },
      );
    await body({ sshd, image, out, area, run });
    assert.equal(await leftoverProcesses(sshd), "");
  } finally {
    await sshd.stop();
    await Deno.remove(work, { recursive: true });
  }
}

/**
 * A pre-copy and a cutover where sshd will not open a channel to the run's
 * socket: each channel is a command joined to it instead. Between them,
 * something on the server rewrites a staged chunk and puts the
 * modification time back: the kept hashes no longer count, and the chunk
 * is found and sent again.
 */
function socketRefused(
  opts: { sshdConfig?: string[]; areaIn?: (area: string) => Promise<string> },
): Promise<void> {
  const size = 32 * MiB;
  return withStagedServer(size, opts, async ({ image, out, area, run }) => {
    const pre = await run("precopy");
    assert.equal(pre.code, 0, `exit ${pre.code}\n${pre.stdout}\n${pre.stderr}`);
    assert.match(pre.stdout + pre.stderr, /refused a channel to the Unix socket/);
    assert.match(
      pre.stdout + pre.stderr,
      /: each of the staging area's channels started a command instead/,
    );
    const staged = join(area, "warm", "disk-0.img");
    assert.equal(await differingChunks(image, staged), 0);

    const before = await Deno.stat(staged);
    const file = await Deno.open(staged, { write: true });
    await file.seek(5 * CHUNK + 100, Deno.SeekMode.Start);
    await file.write(new Uint8Array(64).fill(0xee));
    file.close();
    await Deno.utime(staged, before.atime!, before.mtime!);

    const cut = await run("cutover");
    assert.equal(cut.code, 0, `exit ${cut.code}\n${cut.stdout}\n${cut.stderr}`);
    assert.doesNotMatch(cut.stdout, /kept them/, "the kept hashes no longer hold");
    assert.deepEqual(differLine(cut.stdout), { differ: 1, chunks: size / CHUNK });
    assert.match(cut.stdout, /verified: all 128 chunks of the staged copy match/);
    assert.equal(await sha256File(join(out, "warm-sda")), await sha256File(image));
  });
}

Deno.test("warm conversion: sshd with AllowStreamLocalForwarding no; a staged chunk changed behind our back is sent again", async () => {
  await socketRefused({ sshdConfig: ["AllowStreamLocalForwarding no"] });
});

Deno.test("warm conversion: a staging area whose socket path is over 107 bytes", async () => {
  await socketRefused({
    areaIn: async (area) => {
      const long = join(area, "a-staging-area-whose-path-is-long".repeat(3));
      await Deno.mkdir(long, { mode: 0o1777 });
      await Deno.chmod(long, 0o1777);
      return long;
    },
  });
});

Deno.test("warm conversion: a cutover to a server whose virt-v2v fails its test syncs, but does not let the machine go", async () => {
  const size = 16 * MiB;
  await withStagedServer(size, {}, async ({ sshd, image, area, run }) => {
    const pre = await run("precopy");
    assert.equal(pre.code, 0, `exit ${pre.code}\n${pre.stdout}\n${pre.stderr}`);
    await rewriteExtents(image, size, 2, { chunkBytes: CHUNK });
    await Deno.writeTextFile(
      join(sshd.binDir, "virt-v2v"),
      "#!/bin/sh\necho 'virt-v2v: cannot run here' >&2\nexit 1\n",
      { mode: 0o755 },
    );

    const cut = await run("cutover");
    assert.notEqual(cut.code, 0, cut.stdout);
    assert.match(cut.stdout, /verified|chunks sent/, "the disks were synced meanwhile");
    assert.doesNotMatch(cut.stdout, /can now be switched off/);
    assert.match(
      cut.stdout + cut.stderr,
      /the staged copy is in sync with the disks: once the server is fixed, run the cutover again/,
    );
    assert.equal(await differingChunks(image, join(area, "warm", "disk-0.img")), 0);
  });
});
