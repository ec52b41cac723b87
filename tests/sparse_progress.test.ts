/**
 * Progress of a real sparse image through a real OpenSSH server: the stub
 * virt-v2v's nbdcopy reads only the data extents, through nbdkit's rate
 * filter so that the copy lasts long enough to be reported in the middle.
 * The console must count against the 64 MiB of data, not the 2 GiB of disk,
 * and end at 100 %.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { GiB, makeSparseImage, MiB } from "./helpers/images.ts";
import { p2vArgs, runP2v } from "./helpers/p2v.ts";
import { sha256File } from "./helpers/process.ts";
import { startSshd, TEST_USER } from "./helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "./helpers/stub_server.ts";

const work = await Deno.makeTempDir({ prefix: "p2v-sparse-progress." });
const sparse = await makeSparseImage(work, "sparse.img", 2 * GiB, 64);

/**
 * The stub's nbdcopy at 32 Mbit/s (64 MiB take about 17 s, past the console's
 * 10 s between progress lines), after the line virt-v2v 2.x prints when a
 * disk's copy starts.
 */
const SLOW_NBDCOPY = `#!/bin/bash
src=$1 dst=$2
port=\${src##*:}
echo "[   2.5] Copying disk 1/1"
exec nbdkit -U - --filter=rate nbd hostname=localhost port="$port" rate=32M \\
  --run "PATH=/usr/bin:/bin nbdcopy \\"\\$uri\\" '$dst'"
`;

const SIZE = /^([0-9.]+) (B|KiB|MiB|GiB)$/;
const UNIT: Record<string, number> = { B: 1, KiB: 1024, MiB: MiB, GiB: GiB };

function bytesOf(text: string): number {
  const m = SIZE.exec(text);
  assert.ok(m, `not a size: ${text}`);
  return Number(m[1]) * UNIT[m[2]];
}

Deno.test("a 2 GiB image holding 64 MiB: percent and total count the 64 MiB, and end at 100 %", async () => {
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd);
    const shim = join(sshd.binDir, "nbdcopy");
    await Deno.writeTextFile(shim, SLOW_NBDCOPY);
    await Deno.chmod(shim, 0o755);
    const out = await makeOutputDir(sshd);
    const result = await runP2v(p2vArgs([
      "p2v.server=127.0.0.1",
      `p2v.port=${sshd.port}`,
      `p2v.username=${TEST_USER}`,
      `p2v.identity=file://${sshd.userKeyPath}`,
      `p2v.os=${out}`,
      `p2v.name=sparse1 p2v.disks=${sparse}`,
    ].join(" ")));
    assert.equal(result.code, 0, `exit ${result.code}\n${result.stdout}\n${result.stderr}`);
    assert.equal(await sha256File(join(out, "sparse1-sda")), await sha256File(sparse));

    const disk = sparse.replaceAll(".", "\\.");
    const copying = [
      ...result.stdout.matchAll(
        new RegExp(`^Disk ${disk}: (\\S+ \\S+) of (\\S+ \\S+) copied \\((\\d+)%\\)(.*)$`, "gm"),
      ),
    ].map((m) => ({
      done: bytesOf(m[1]),
      doneText: m[1],
      total: bytesOf(m[2]),
      percent: Number(m[3]),
      rest: m[4],
    }));
    const shown = `\n${result.stdout}`;
    // In the middle of the copy: a percent of the data, with an ETA.
    const middle = copying.filter((c) => c.percent < 100);
    assert.ok(middle.length > 0, `no progress line during the copy:${shown}`);
    for (const c of middle) {
      assert.equal(c.total, 64 * MiB, `the total is the data, not the disk:${shown}`);
      assert.ok(c.percent >= 1, `a copy under way shows its share:${shown}`);
      // The shown size is rounded to its last digit (44.8 MiB may be 44.77): the percent is
      // of the exact count, so it lies within what that rounding allows.
      const half = 0.05 * UNIT[SIZE.exec(c.doneText)![2]];
      const low = Math.floor((c.done - half) / c.total * 100);
      const high = Math.floor((c.done + half) / c.total * 100);
      assert.ok(c.percent >= low && c.percent <= high, `percent of what:${shown}`);
      assert.match(c.rest, /, [0-9.]+ [KM]iB\/s, ETA \d+:\d\d$/, shown);
    }
    // When virt-v2v moves on: 100 % of about the 64 MiB it read (reply headers come along).
    const end = copying.at(-1)!;
    assert.equal(end.percent, 100, shown);
    assert.ok(
      end.total >= 64 * MiB && end.total < 66 * MiB,
      `the copy read ${end.total} bytes:${shown}`,
    );
    assert.equal(end.done, end.total, shown);
    // … said as virt-v2v moves on, not later.
    assert.match(result.stdout, /copied \(100%\)\n\[ {2}10\.0\] Finishing off\n/, shown);
    // The summary agrees with itself: bytes over seconds is the average it gives.
    const summary = new RegExp(
      `^Disk ${disk}: (\\S+ \\S+) copied in ([0-9.]+ s|\\d+:\\d\\d), average (\\S+ \\S+)/s`,
      "m",
    ).exec(result.stdout);
    assert.ok(summary, `no summary of the copy:${shown}`);
    const copied = bytesOf(summary[1]);
    const average = bytesOf(summary[3]);
    const clock = /^(\d+):(\d\d)$/.exec(summary[2]);
    const seconds = clock ? Number(clock[1]) * 60 + Number(clock[2]) : parseFloat(summary[2]);
    assert.ok(copied >= 64 * MiB && copied < 66 * MiB, shown);
    assert.ok(seconds > 5, `a 32 Mbit/s copy of 64 MiB took ${seconds} s?${shown}`);
    // Within the rounding of the duration and of the numbers shown.
    assert.ok(Math.abs(average - copied / seconds) / average < 0.5 / seconds + 0.01, shown);
  } finally {
    await sshd.stop();
  }
});
