/**
 * A conversion over a long path: our program reaches the real sshd through
 * the WAN link emulator (20 ms round trip, 1 Gbit/s), and the stub virt-v2v
 * reads the disk as virt-v2v 2.x does (one shared connection through
 * nbdkit's cow filter). Every byte must arrive intact, whatever the number
 * of channels or connections the disk is spread over; what packs well
 * crosses zstd-packed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "./helpers/cleanup.ts";
import { makePackableImage, MiB } from "./helpers/images.ts";
import { p2vArgs, runP2v } from "./helpers/p2v.ts";
import { sha256File } from "./helpers/process.ts";
import { leftoverProcesses, startSshd, TEST_USER } from "./helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "./helpers/stub_server.ts";
import { startWanLink } from "./helpers/wan_link.ts";

Deno.test("over a 20 ms link, a 64 MiB disk arrives byte-identical", async () => {
  const work = await tempDir({ prefix: "p2v-wan." });
  const image = await makePackableImage(work, "packable.img", 64 * MiB);
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { input: "virt-v2v" });
    const out = await makeOutputDir(sshd);
    const link = await startWanLink({
      target: { hostname: "127.0.0.1", port: sshd.port },
      rttMs: 20,
    });
    try {
      const result = await runP2v(
        p2vArgs(
          `p2v.server=127.0.0.1 p2v.port=${link.port} p2v.username=${TEST_USER} ` +
            `p2v.identity=file://${sshd.userKeyPath} p2v.os=${out} ` +
            `p2v.name=wan p2v.disks=${image} p2v.post=`,
          ["--verbose"],
        ),
        { timeoutMs: 50_000 },
      );
      assert.equal(result.code, 0, `exit ${result.code}\n${result.stdout}\n${result.stderr}`);
      assert.ok(link.accepted >= 1, "the program did not go through the link");
      // 20 ms is past what one SSH channel fills at 1 Gbit/s: the disk must
      // have been spread over several (our copy on the server), not fallen
      // back to the single-channel relay.
      const channels = /(\d+) SSH channels per disk/.exec(result.stdout);
      assert.ok(channels && Number(channels[1]) >= 2, `one channel per disk:\n${result.stdout}`);
      // Three quarters of the image is text: it must have crossed packed.
      assert.match(result.stdout, /disk \S+: 4[0-9.]+ MiB of data sent zstd-packed in [0-9.]+ MiB/);
    } finally {
      await link.close();
    }
    assert.equal(await sha256File(join(out, "wan-sda")), await sha256File(image));
    assert.equal(await leftoverProcesses(sshd), "");
  } finally {
    await sshd.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("on a LAN with p2v.bandwidth set, our copy serves the disk and reads cross packed", async () => {
  const work = await tempDir({ prefix: "p2v-capped-lan." });
  const image = await makePackableImage(work, "packable.img", 64 * MiB);
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { input: "virt-v2v" });
    const out = await makeOutputDir(sshd);
    const result = await runP2v(
      p2vArgs(
        `p2v.server=127.0.0.1 p2v.port=${sshd.port} p2v.username=${TEST_USER} ` +
          `p2v.identity=file://${sshd.userKeyPath} p2v.os=${out} ` +
          `p2v.name=lan p2v.disks=${image} p2v.post= p2v.bandwidth=2000`,
        ["--verbose"],
      ),
      { timeoutMs: 50_000 },
    );
    assert.equal(result.code, 0, `exit ${result.code}\n${result.stdout}\n${result.stderr}`);
    assert.match(
      result.stdout,
      /1 SSH channel per disk \(.*p2v\.bandwidth set\), served by our copy/,
    );
    assert.match(result.stdout, /disk \S+: 4[0-9.]+ MiB of data sent zstd-packed in [0-9.]+ MiB/);
    assert.equal(await sha256File(join(out, "lan-sda")), await sha256File(image));
    assert.equal(await leftoverProcesses(sshd), "");
  } finally {
    await sshd.stop();
    await Deno.remove(work, { recursive: true });
  }
});
