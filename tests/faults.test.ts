/**
 * The faults a P2V run survives. Each scenario uses the real program and a
 * real sshd, and checks what the user sees, the exit code, that nothing of
 * ours is left running on the server, and that the source disk is unchanged.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { makeDenseImage, MiB } from "./helpers/images.ts";
import { p2vArgs, type P2vRun, runP2v } from "./helpers/p2v.ts";
import { run, sha256File, waitFor } from "./helpers/process.ts";
import { leftoverProcesses, startSshd, TEST_PASSWORD, TEST_USER } from "./helpers/sshd.ts";
import { whenMidCopy } from "./helpers/mid_copy.ts";
import { installStubVirtV2v, makeOutputDir } from "./helpers/stub_server.ts";
import { tempDir } from "./helpers/cleanup.ts";

const work = await tempDir({ prefix: "p2v-faults." });
await Deno.chmod(work, 0o755);
const DISK_BYTES = 32 * MiB;
const disk = await makeDenseImage(work, "disk.img", DISK_BYTES);
const diskSum = await sha256File(disk);
const sshd = await startSshd();
const out = await makeOutputDir(sshd);

/** Short bounds so a dead link is noticed in seconds, not the default 30 minutes. */
const FAST = {
  VIRT_P2V_TIMEOUTS: JSON.stringify({
    keepaliveIntervalMs: 1000,
    keepaliveCountMax: 3,
    connectMs: 3000,
  }),
};

function cmdline(extra: string): string {
  return `p2v.server=127.0.0.1 p2v.port=${sshd.port} p2v.username=${TEST_USER} ` +
    `p2v.identity=file://${sshd.userKeyPath} p2v.disks=${disk} p2v.os=${out} p2v.post= ${extra}`;
}

/** The per-connection sshd processes of our test server: the privileged monitor and its session child. */
async function sessionSshdPids(): Promise<number[]> {
  const listener = Number((await Deno.readTextFile(join(sshd.dir, "sshd.pid"))).trim());
  const children = async (pid: number) =>
    (await run("pgrep", ["-P", String(pid)], { check: false })).stdout
      .split("\n").filter((l) => l !== "").map(Number);
  const monitors = await children(listener);
  const sessions = (await Promise.all(monitors.map(children))).flat();
  return [...sessions, ...monitors];
}

/** A process of the list may have ended on its own meanwhile. */
function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch { /* gone */ }
}

function assertOneErrorLine(r: P2vRun, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("virt-p2v: error"));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0], pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
}

/** The stub's rate for faults that must strike mid-copy: 32 MiB take about 4 s. */
const SLOW = "64M";

/**
 * Calls `strike` once the stub, copying `name`'s disk, is between a quarter
 * and three quarters of the way.
 */
function midCopy(name: string, strike: () => void): (text: string) => void {
  let watching = false;
  return (text) => {
    if (watching || !text.includes("stub: copying")) return;
    watching = true;
    whenMidCopy(join(out, `${name}-sda`), DISK_BYTES, strike);
  };
}

/** Every test starts from a well-behaved stub, whatever the previous one did. */
async function freshStub(behaviour: Parameters<typeof installStubVirtV2v>[1] = {}) {
  await installStubVirtV2v(sshd, behaviour);
}

Deno.test("p2v.reconnect=0, link loss while bytes flow: reported with the remote dir, nothing left", async () => {
  await freshStub({ rate: SLOW });
  const failMarker = join(work, "fail-linkloss");
  let killedAt = 0;
  const r = await runP2v(
    p2vArgs(cmdline(`p2v.name=linkloss p2v.reconnect=0 p2v.fail="/usr/bin/touch ${failMarker}"`)),
    {
      env: FAST,
      onOutput: midCopy("linkloss", () => {
        killedAt = performance.now();
        sessionSshdPids().then((pids) => pids.forEach((p) => signal(p, "SIGKILL")));
      }),
    },
  );
  const detectMs = performance.now() - killedAt;
  assert.ok(killedAt > 0, "the fault never struck mid-copy:\n" + r.stdout + r.stderr);
  assertOneErrorLine(
    r,
    /^virt-p2v: error during conversion: the connection to the conversion server was lost during the conversion .*\/tmp\/virt-p2v-\d{8}-[a-z0-9]{8}/,
  );
  console.log(`link loss detected and reported in ${detectMs.toFixed(0)} ms`);
  await Deno.stat(failMarker);
  await waitFor(
    async () => (await leftoverProcesses(sshd)) === "",
    15_000,
    "remote processes to end",
  );
  assert.equal(await sha256File(disk), diskSum);
});

Deno.test("p2v.reconnect=0, a stalled sshd while bytes flow is detected by keep-alives", async () => {
  await freshStub({ rate: SLOW });
  let stopped: number[] = [];
  let stoppedAt = 0;
  try {
    const r = await runP2v(p2vArgs(cmdline("p2v.name=stalled p2v.reconnect=0")), {
      env: FAST,
      onOutput: midCopy("stalled", () => {
        stoppedAt = performance.now();
        sessionSshdPids().then((pids) => {
          stopped = pids;
          pids.forEach((p) => signal(p, "SIGSTOP"));
        });
      }),
    });
    const detectMs = performance.now() - stoppedAt;
    assert.ok(stoppedAt > 0, "the fault never struck mid-copy:\n" + r.stdout + r.stderr);
    assertOneErrorLine(r, /connection to the conversion server was lost/);
    console.log(
      `stalled server detected in ${detectMs.toFixed(0)} ms (bound: 1 s × 3 keep-alives)`,
    );
    assert.ok(detectMs < 15_000, `took ${detectMs} ms`);
  } finally {
    // Once it runs again, sshd sees our side gone and hangs up the remote job.
    for (const p of stopped) signal(p, "SIGCONT");
  }
  await waitFor(
    async () => (await leftoverProcesses(sshd)) === "",
    15_000,
    "remote processes to end",
  );
});

Deno.test("Ctrl-C while bytes flow cancels the conversion and leaves nothing on the server", async () => {
  await freshStub({ rate: SLOW });
  const failMarker = join(work, "fail-sigint");
  let sentAt = 0;
  let child: Deno.ChildProcess | undefined;
  const watch = midCopy("sigint", () => {
    sentAt = performance.now();
    child?.kill("SIGINT");
  });
  const r = await runP2v(
    p2vArgs(cmdline(`p2v.name=sigint p2v.fail="/usr/bin/touch ${failMarker}"`)),
    {
      onOutput: (text, c) => {
        child = c;
        watch(text);
      },
    },
  );
  assert.ok(sentAt > 0, "the signal never struck mid-copy:\n" + r.stdout + r.stderr);
  assertOneErrorLine(r, /^virt-p2v: error during conversion: cancelled by user$/);
  console.log(`cancelled ${(performance.now() - sentAt).toFixed(0)} ms after SIGINT`);
  await Deno.stat(failMarker);
  await waitFor(
    async () => (await leftoverProcesses(sshd)) === "",
    15_000,
    "remote processes to end",
  );
});

Deno.test("a disk that fails with EIO mid-copy: one line naming the disk and offset, nothing left", async () => {
  await freshStub();
  // A real kernel read error: a FUSE file whose second half nbdkit cannot read.
  const mnt = await tempDir({ dir: work, prefix: "fuse." });
  const failing = join(mnt, "failing.img");
  const half = DISK_BYTES / 2;
  const fuse = new Deno.Command("nbdfuse", {
    args: [
      "-r",
      failing,
      "[",
      "nbdkit",
      "eval",
      `get_size=echo ${DISK_BYTES}`,
      `pread=if [ $4 -ge ${half} ]; then echo "EIO bad sector" >&2; exit 1; fi; ` +
      `dd if=${disk} iflag=skip_bytes,count_bytes skip=$4 count=$3 status=none`,
      "]",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitFor(() => Deno.stat(failing).then(() => true, () => false), 10_000, "nbdfuse");
    const failMarker = join(work, "fail-eio");
    const r = await runP2v(
      p2vArgs(
        cmdline(`p2v.name=eio p2v.fail="/usr/bin/touch ${failMarker}"`).replace(
          `p2v.disks=${disk}`,
          `p2v.disks=${failing}`,
        ),
      ),
    );
    assertOneErrorLine(
      r,
      new RegExp(
        `^virt-p2v: error during conversion: cannot read disk ${failing} at offset (\\d+) ` +
          `\\(\\d+ bytes\\): Input/output error; the disk may be failing`,
      ),
    );
    const offset = Number(/at offset (\d+)/.exec(r.stderr)![1]);
    assert.ok(offset >= half && offset < DISK_BYTES, `offset ${offset}`);
    await Deno.stat(failMarker);
    await waitFor(
      async () => (await leftoverProcesses(sshd)) === "",
      15_000,
      "remote processes to end",
    );
  } finally {
    await run("umount", [mnt], { check: false });
    await fuse.status;
  }
});

Deno.test("a server that accepts TCP but never speaks SSH times out with a clear message", async () => {
  const silent = createServer(() => {/* accept and say nothing */});
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const port = (silent.address() as { port: number }).port;
  try {
    const started = performance.now();
    const r = await runP2v(
      p2vArgs(`p2v.server=127.0.0.1 p2v.port=${port} p2v.password=x p2v.disks=${disk} p2v.post=`),
      { env: FAST },
    );
    const ms = performance.now() - started;
    assertOneErrorLine(r, /timed out after 3 s waiting for the SSH server/);
    assert.ok(ms < 20_000, `took ${ms} ms`);
  } finally {
    silent.close();
  }
});

Deno.test("a --machine-readable that never ends is bounded and leaves nothing behind", async () => {
  await freshStub({ machineReadableHangs: true });
  const started = performance.now();
  const r = await runP2v(p2vArgs(cmdline("")), {
    env: { VIRT_P2V_TIMEOUTS: JSON.stringify({ remoteCommandMs: 2000 }) },
  });
  const ms = performance.now() - started;
  assertOneErrorLine(
    r,
    /error opening control connection to .*: "virt-v2v --machine-readable" on the conversion server did not finish within 2 s/,
  );
  assert.ok(ms < 20_000, `took ${ms} ms`);
  await waitFor(
    async () => (await leftoverProcesses(sshd)) === "",
    10_000,
    "the hung probe to be stopped",
  );
});

Deno.test("hostile configuration values are never executed on the server", async () => {
  await freshStub();
  const canary = join(work, "CANARY");
  const hostile = [
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `"; touch ${canary}; "`,
    `'; touch ${canary}; '`,
    `\\"; touch ${canary} #`,
  ];
  for (const [i, value] of hostile.entries()) {
    const quoted = value.replaceAll('"', "");
    const r = await runP2v(
      p2vArgs(cmdline(`p2v.name=hostile${i}`), []).map((a) =>
        a + ` p2v.oo="x=${quoted}" p2v.of="${quoted}" p2v.oc="${quoted}"`
      ),
    );
    // The stub ignores these options, so the conversion succeeds with the values intact.
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await assert.rejects(Deno.stat(canary), `canary created by ${value}`);
    const dir = /Remote directory: (\S+)/.exec(r.stdout)![1];
    const argv = (await Deno.readTextFile(join(dir, "stub-argv"))).split("\0");
    assert.deepEqual(argv.slice(argv.indexOf("-oo"), argv.indexOf("-oo") + 2), [
      "-oo",
      `x=${quoted}`,
    ]);
    assert.equal(argv[argv.indexOf("-of") + 1], quoted);
    assert.equal(argv[argv.indexOf("-oc") + 1], quoted);
  }
  assert.equal(await sha256File(disk), diskSum);
});

Deno.test("the password never reaches our output, the server or process arguments", async () => {
  await freshStub();
  const secret = TEST_PASSWORD;
  // A kernel log as a PXE boot with the password on the command line leaves it.
  const fakeBin = join(work, "fake-dmesg-bin");
  await Deno.mkdir(fakeBin, { recursive: true });
  await Deno.writeTextFile(
    join(fakeBin, "dmesg"),
    `#!/bin/sh
echo '[    0.000000] Command line: BOOT_IMAGE=/vmlinuz ip=dhcp p2v.server=conv p2v.password=${secret} quiet'
echo '[    0.010000] Kernel command line: BOOT_IMAGE=/vmlinuz p2v.auth.password="${secret} " console=ttyS0'
echo '[    0.020000] Unknown kernel command line parameters "p2v.password=${secret}", will be passed'
echo '[    1.000000] virtio_blk virtio1: [vda] 262144 512-byte logical blocks'
`,
    { mode: 0o755 },
  );
  let argvLeak = "";
  let remoteDir = "";
  const r = await runP2v(
    p2vArgs(
      cmdline(`p2v.name=secrets`).replace(
        `p2v.identity=file://${sshd.userKeyPath}`,
        `p2v.password=${secret}`,
      ),
    ),
    {
      env: { PATH: `${fakeBin}:${Deno.env.get("PATH")}` },
      onOutput: async (text) => {
        remoteDir ||= /Remote directory: (\S+)/.exec(text)?.[1] ?? "";
        argvLeak ||= await argumentListsHolding(secret);
      },
    },
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(argvLeak, "", "the password appeared in another process's arguments");
  assert.doesNotMatch(r.stdout + r.stderr, new RegExp(secret));
  assert.ok(remoteDir);
  const grep = await run("grep", ["-r", "-l", secret, remoteDir], { check: false });
  assert.equal(grep.stdout, "", `password found in ${grep.stdout}`);
  // The fake dmesg was the one uploaded, with the values taken out.
  const dmesg = await Deno.readTextFile(join(remoteDir, "dmesg"));
  assert.match(dmesg, /Command line: .* p2v\.password=\*\*\* quiet/);
  assert.match(dmesg, /Kernel command line: .* p2v\.auth\.password=\*\*\* console=ttyS0/);
  assert.match(dmesg, /\[vda\] 262144 512-byte logical blocks/);
  // Nothing there for other users of the server, whatever sshd's umask.
  assert.equal((await Deno.stat(remoteDir)).mode! & 0o777, 0o700);
  for await (const e of Deno.readDir(remoteDir)) {
    const mode = (await Deno.stat(join(remoteDir, e.name))).mode! & 0o077;
    assert.equal(mode, 0, `${e.name} is readable by others`);
  }
  const dump = await runP2v(p2vArgs(`p2v.password=${secret} p2v.dump_config_and_exit`));
  assert.match(dump.stdout, /^auth\.password +\*\*\*$/m);
  assert.doesNotMatch(dump.stdout, new RegExp(secret));
});

/** Command lines of running processes that contain `secret`, except the program's own `--cmdline=`. */
async function argumentListsHolding(secret: string): Promise<string> {
  const found: string[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let argv: string;
    try {
      argv = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).replaceAll("\0", " ");
    } catch {
      continue;
    }
    // The test hands the password to the program on its own command line, as /proc/cmdline would.
    if (argv.includes("--cmdline=")) continue;
    if (argv.includes(secret)) found.push(argv);
  }
  return found.join("\n");
}

addEventListener("unload", () => {
  sshd.stopSync();
  Deno.removeSync(work, { recursive: true });
});
