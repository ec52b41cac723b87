/**
 * Surviving a dropped link (docs/DEVELOPING.md) against a real sshd: our session's sshd
 * processes killed while bytes flow, the link black-holed for 45 s in a
 * network namespace, a server that does not come back within p2v.reconnect,
 * a cancel while reconnecting, and one of four conversions to one server cut.
 * Every conversion must end byte-identical or with one clear line, and
 * nothing of ours may be left running on the server.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { GiB, makeDenseImage, MiB } from "./helpers/images.ts";
import { whenMidCopy } from "./helpers/mid_copy.ts";
import { makeTestHost } from "./helpers/netns.ts";
import { p2vArgs, type P2vRun, runP2v } from "./helpers/p2v.ts";
import { sha256File, waitFor } from "./helpers/process.ts";
import { leftoverProcesses, startSshd, TEST_USER, type TestSshd } from "./helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "./helpers/stub_server.ts";
import { tempDir } from "./helpers/cleanup.ts";

const work = await tempDir({ prefix: "p2v-resume." });
await Deno.chmod(work, 0o755);
const SMALL = 48 * MiB;
const small = await makeDenseImage(work, "small.img", SMALL);
const smallSum = await sha256File(small);

/** Keep-alives that notice a dead link in ~3 s; relays that retry every second. */
function timeouts(extra: Record<string, number> = {}) {
  return {
    VIRT_P2V_TIMEOUTS: JSON.stringify({
      keepaliveIntervalMs: 1000,
      keepaliveCountMax: 3,
      linkKeepaliveIntervalMs: 1000,
      linkKeepaliveCountMax: 3,
      connectMs: 3000,
      reconnectBackoffMaxMs: 2000,
      relayRetryDelayMs: 1000,
      heartbeatMs: 1000,
      watchdogSlackMs: 2000,
      ...extra,
    }),
  };
}

function cmdline(sshd: TestSshd, out: string, disk: string, extra: string): string {
  return `p2v.server=${sshd.address} p2v.port=${sshd.port} p2v.username=${TEST_USER} ` +
    `p2v.identity=file://${sshd.userKeyPath} p2v.disks=${disk} p2v.os=${out} p2v.post= ${extra}`;
}

function killAll(pids: number[]): void {
  for (const p of pids) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch { /* already gone */ }
  }
}

function assertResumed(r: P2vRun): void {
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^Connection to the conversion server lost \(.*\); reconnecting/m);
  assert.match(r.stdout, /^Reconnected after \d+:\d\d \(attempt \d+\); the conversion goes on$/m);
  assert.match(r.stdout, /^Conversion finished successfully/m);
}

async function assertNothingLeft(sshd: TestSshd, withinMs = 15_000): Promise<void> {
  await waitFor(
    async () => (await leftoverProcesses(sshd)) === "",
    withinMs,
    "our processes on the server to end",
  );
}

Deno.test("1 GiB, our sshd processes killed while bytes flow: resumed, byte-identical", async () => {
  const sshd = await startSshd();
  try {
    // Slowed to ~50 MB/s so the cut lands mid-copy on any machine.
    await installStubVirtV2v(sshd, { rate: "400M" });
    const out = await makeOutputDir(sshd);
    const big = await makeDenseImage(work, "big.img", 1 * GiB);
    let killedAt = 0;
    const stop = whenMidCopy(join(out, "big-sda"), 1 * GiB, () => {
      killedAt = performance.now();
      sshd.sessionPids().then(killAll);
    });
    const r = await runP2v(p2vArgs(cmdline(sshd, out, big, "p2v.name=big p2v.channels=4")), {
      env: timeouts(),
      timeoutMs: 600_000,
    });
    stop();
    assert.ok(killedAt > 0, "the cut never struck mid-copy:\n" + r.stdout + r.stderr);
    assertResumed(r);
    assert.equal(await sha256File(join(out, "big-sda")), await sha256File(big));
    const sent = /^Disk \S+: ([0-9.]+) (MiB|GiB) sent in/m.exec(r.stdout);
    console.log(`copy resumed after the cut; export total: ${sent?.[1]} ${sent?.[2]}`);
    await assertNothingLeft(sshd);
    await Deno.remove(big);
  } finally {
    await sshd.stop();
  }
});

Deno.test("the link black-holed for 45 s mid-copy: the conversion resumes and finishes", async () => {
  const host = await makeTestHost();
  const sshd = await startSshd({ netns: host.netns, listenAddress: host.address });
  try {
    await installStubVirtV2v(sshd, { rate: "32M" });
    const out = await makeOutputDir(sshd);
    let holedAt = 0;
    const stop = whenMidCopy(join(out, "holed-sda"), SMALL, () => {
      holedAt = performance.now();
      host.blackHole(true);
      setTimeout(() => host.blackHole(false), 45_000);
    });
    const r = await runP2v(p2vArgs(cmdline(sshd, out, small, "p2v.name=holed p2v.channels=4")), {
      env: timeouts(),
      timeoutMs: 300_000,
    });
    stop();
    assert.ok(holedAt > 0, "the black hole never struck mid-copy:\n" + r.stdout + r.stderr);
    assertResumed(r);
    assert.equal(await sha256File(join(out, "holed-sda")), smallSum);
    console.log(`finished ${((performance.now() - holedAt) / 1000).toFixed(0)} s after the cut`);
    await assertNothingLeft(sshd);
  } finally {
    await host.blackHole(false);
    await sshd.stop();
    await host.remove();
  }
});

Deno.test("a server that stays away longer than p2v.reconnect: one error, p2v.fail, the job ends", async () => {
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { rate: "32M" });
    const out = await makeOutputDir(sshd);
    const failMarker = join(work, "fail-gone");
    let cutAt = 0;
    const stop = whenMidCopy(join(out, "gone-sda"), SMALL, async () => {
      cutAt = performance.now();
      const sessions = await sshd.sessionPids();
      await sshd.stopListening();
      killAll(sessions);
    });
    const r = await runP2v(
      p2vArgs(
        cmdline(sshd, out, small, `p2v.name=gone p2v.reconnect=5 p2v.fail="touch ${failMarker}"`),
      ),
      { env: timeouts() },
    );
    stop();
    assert.ok(cutAt > 0, "the cut never struck mid-copy:\n" + r.stdout + r.stderr);
    assert.equal(r.code, 1);
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("virt-p2v: error"));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(
      errors[0],
      /^virt-p2v: error during conversion: the connection to the conversion server was lost during the conversion \(.*no new connection within 5 s\); the log is in \/tmp\/virt-p2v-/,
    );
    await Deno.stat(failMarker);
    // The watchdog's bound: 5 s + 3 × 1 s of keep-alives + 2 s, seen every 5 s, then 10 s to stop.
    await assertNothingLeft(sshd, 40_000);
    console.log(
      `nothing of ours on the server ${((performance.now() - cutAt) / 1000).toFixed(0)} s ` +
        `after the cut (watchdog bound 10 s)`,
    );
  } finally {
    await sshd.stop();
  }
});

Deno.test("Ctrl-C while reconnecting: cancelled, and the job is stopped once the server answers", async () => {
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { rate: "32M" });
    const out = await makeOutputDir(sshd);
    let child: Deno.ChildProcess | undefined;
    const stop = whenMidCopy(join(out, "sigint-sda"), SMALL, async () => {
      const sessions = await sshd.sessionPids();
      await sshd.stopListening();
      killAll(sessions);
    });
    let interrupted = false;
    const r = await runP2v(p2vArgs(cmdline(sshd, out, small, "p2v.name=sigint")), {
      env: timeouts(),
      onOutput: (text, c) => {
        child = c;
        if (!interrupted && /^Reconnecting \(attempt 2/m.test(text)) {
          interrupted = true;
          child.kill("SIGINT");
          setTimeout(() => sshd.listenAgain(), 1000);
        }
      },
    });
    stop();
    assert.ok(interrupted, "never saw a second reconnect attempt:\n" + r.stdout + r.stderr);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^virt-p2v: error during conversion: cancelled by user$/m);
    await assertNothingLeft(sshd);
  } finally {
    await sshd.stop();
  }
});

Deno.test("four conversions to one server, one of them cut: all four finish", async () => {
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { rate: "48M" });
    const out = await makeOutputDir(sshd);
    const names = ["four0", "four1", "four2", "four3"];
    let cut = false;
    const runs = names.map((name) =>
      runP2v(p2vArgs(cmdline(sshd, out, small, `p2v.name=${name}`)), {
        env: timeouts(),
        timeoutMs: 300_000,
        onOutput: (text) => {
          // Cut only the first one: its own sshd, found from its remote directory.
          if (name !== "four0" || cut) return;
          const dir = /Remote directory: (\S+)/.exec(text)?.[1];
          if (!dir) return;
          cut = true;
          const stop = whenMidCopy(join(out, "four0-sda"), SMALL, async () => {
            stop();
            // "PID START-TIME" of the sshd session that follows the job.
            const follower = Number(
              (await Deno.readTextFile(join(dir, "follower.pid"))).split(" ")[0],
            );
            const monitor = Number(
              (await Deno.readTextFile(`/proc/${follower}/stat`)).split(") ")[1].split(" ")[1],
            );
            killAll([follower, monitor]);
          });
        },
      })
    );
    const results = await Promise.all(runs);
    assert.ok(cut);
    assertResumed(results[0]);
    for (const [i, r] of results.entries()) {
      assert.equal(r.code, 0, `${names[i]}: ${r.stdout}${r.stderr}`);
      assert.equal(await sha256File(join(out, `${names[i]}-sda`)), smallSum, names[i]);
      if (i > 0) assert.doesNotMatch(r.stdout, /Connection to the conversion server lost/);
    }
    await assertNothingLeft(sshd);
  } finally {
    await sshd.stop();
  }
});

addEventListener("unload", () => {
  Deno.removeSync(work, { recursive: true });
});
