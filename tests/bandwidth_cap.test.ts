/**
 * p2v.bandwidth against a real sshd through the WAN link emulator: a disk
 * spread over four channels is copied at the cap (measured on the link, all
 * connections together: no 10 s over it by more than 10%, the copy within
 * 10% of it), and arrives byte-identical.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "./helpers/cleanup.ts";
import { makeDenseImage, MiB } from "./helpers/images.ts";
import { p2vArgs, runP2v } from "./helpers/p2v.ts";
import { sha256File } from "./helpers/process.ts";
import { leftoverProcesses, startSshd, TEST_USER } from "./helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "./helpers/stub_server.ts";
import { startWanLink } from "./helpers/wan_link.ts";

const CAP_MBIT = 40;
/** 5 MB/s: 120 MiB take about 25 s. */
const IMAGE_MIB = 120;

Deno.test(`p2v.bandwidth=${CAP_MBIT}: four channels together hold the cap`, async () => {
  const work = await tempDir({ prefix: "p2v-bandwidth." });
  const image = await makeDenseImage(work, "dense.img", IMAGE_MIB * MiB);
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { input: "virt-v2v" });
    const out = await makeOutputDir(sshd);
    const link = await startWanLink({
      target: { hostname: "127.0.0.1", port: sshd.port },
      rttMs: 10,
    });
    const samples: { t: number; bytes: number }[] = [];
    const sampler = setInterval(
      () => samples.push({ t: performance.now() / 1000, bytes: link.bytesUp }),
      250,
    );
    try {
      const result = await runP2v(
        p2vArgs(
          `p2v.server=127.0.0.1 p2v.port=${link.port} p2v.username=${TEST_USER} ` +
            `p2v.identity=file://${sshd.userKeyPath} p2v.os=${out} p2v.name=capped ` +
            `p2v.disks=${image} p2v.post= p2v.channels=4 p2v.bandwidth=${CAP_MBIT}`,
          ["--verbose"],
        ),
        { timeoutMs: 120_000 },
      );
      assert.equal(result.code, 0, `exit ${result.code}\n${result.stdout}\n${result.stderr}`);
      assert.match(result.stdout, /4 SSH channels per disk/);
    } finally {
      clearInterval(sampler);
      await link.close();
    }
    assert.equal(await sha256File(join(out, "capped-sda")), await sha256File(image));

    const capBytes = CAP_MBIT * 1e6 / 8;
    const rate = (a: { t: number; bytes: number }, b: { t: number; bytes: number }) =>
      (b.bytes - a.bytes) / (b.t - a.t);
    const mbit = (bytesPerSecond: number) => `${(bytesPerSecond * 8 / 1e6).toFixed(1)} Mbit/s`;
    // Never over the cap: every 10 s of the whole run (our copy's upload to
    // the server included), within 10%.
    for (let i = 0; i < samples.length; i++) {
      const j = samples.findIndex((s) => s.t >= samples[i].t + 10);
      if (j < 0) break;
      const r = rate(samples[i], samples[j]);
      assert.ok(r <= 1.1 * capBytes, `10 s at ${mbit(r)} against a cap of ${CAP_MBIT}`);
    }
    // And the disk's copy (the last bytes sent, past the set-up's gaps) runs at it.
    const total = samples[samples.length - 1].bytes;
    const copy = samples.filter((s) =>
      s.bytes > total - (IMAGE_MIB - 20) * MiB && s.bytes < total - 8 * MiB
    );
    const span = copy[copy.length - 1].t - copy[0].t;
    assert.ok(span > 12, `the copy took ${span} s: too short to judge`);
    const steady = rate(copy[0], copy[copy.length - 1]);
    assert.ok(
      Math.abs(steady - capBytes) <= 0.1 * capBytes,
      `the copy ran at ${mbit(steady)} against a cap of ${CAP_MBIT}`,
    );
    assert.equal(await leftoverProcesses(sshd), "");
  } finally {
    await sshd.stop();
    await Deno.remove(work, { recursive: true });
  }
});
