/**
 * Another user of the conversion server must neither serve virt-v2v a disk
 * of their own nor read ours. The server here has a stock Debian hosts file
 * (`::1 localhost` beside `127.0.0.1 localhost`, so `localhost` tries ::1
 * first), and a neighbour account that watches for our listening ports and
 * binds [::1]:PORT the moment it is free, serving an image of its own there.
 * Server and neighbour live on a test host of their own (a network
 * namespace), so that the neighbour meets no other test's ports.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeDenseImage, MiB } from "./helpers/images.ts";
import { makeTestHost, type TestHost } from "./helpers/netns.ts";
import { p2vArgs, type P2vRun, runP2v } from "./helpers/p2v.ts";
import { run, sha256File } from "./helpers/process.ts";
import { leftoverProcesses, startSshd, TEST_USER, type TestSshd } from "./helpers/sshd.ts";
import { serverKeys } from "./helpers/server_keys.ts";
import { installStubVirtV2v, makeOutputDir } from "./helpers/stub_server.ts";
import { tempDir } from "./helpers/cleanup.ts";

const NEIGHBOUR = "p2vneighbour";
const DEBIAN_HOSTS = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n";

const work = await tempDir({ prefix: "p2v-neighbour." });
await Deno.chmod(work, 0o755);
/** Where the neighbour's squatters leave a file for each port they took. */
const squats = join(work, "squats");
await Deno.mkdir(squats);
await Deno.chmod(squats, 0o777);
const source = await makeDenseImage(work, "source.img", 32 * MiB);
const theirs = await makeDenseImage(work, "theirs.img", 32 * MiB);
await Deno.chmod(theirs, 0o644);
const sourceSum = await sha256File(source);

if ((await run("id", ["-u", NEIGHBOUR], { check: false })).code !== 0) {
  await run("useradd", ["-M", "-s", "/bin/bash", NEIGHBOUR], { check: false });
}

/**
 * The neighbour: every listening socket on [::1] of the account we convert
 * as (/proc/net/tcp6 shows the owner's uid) gets a squatter that retries
 * binding its port until it can, then serves `theirs.img` read-only. Each
 * success leaves a `squat-PORT` file.
 */
const squatter = (victimUid: string) => `
seen=" "
while :; do
    while read -r _ local _ state _ _ _ uid _; do
        [ "$state" = 0A ] && [ "$uid" = "${victimUid}" ] || continue
        [ "\${local%:*}" = 00000000000000000000000001000000 ] || continue
        port=$((16#\${local#*:}))
        case "$seen" in *" $port "*) continue ;; esac
        seen="$seen$port "
        (
            until nbdkit -r -i ::1 -p "$port" -P "${squats}/squat-$port" file "${theirs}" 2>/dev/null; do
                sleep 0.005
            done
        ) &
    done < /proc/net/tcp6
    sleep 0.01
done
`;

async function withNeighbour<T>(
  host: TestHost,
  victim: string,
  body: () => Promise<T>,
): Promise<T> {
  const ids = (await run("id", ["-u", NEIGHBOUR])).stdout.trim();
  const victimUid = (await run("id", ["-u", victim])).stdout.trim();
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      host.netns,
      "setpriv",
      `--reuid=${ids}`,
      `--regid=${ids}`,
      "--clear-groups",
      "bash",
      "-c",
      squatter(victimUid),
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    return await body();
  } finally {
    await run("pkill", ["-KILL", "-u", NEIGHBOUR], { check: false });
    await child.status;
  }
}

async function squatted(): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir(squats)) found.push(e.name);
  return found;
}

function cmdline(sshd: TestSshd, out: string, user: string, extra = ""): string {
  return [
    ...serverKeys(sshd, { outDir: out, user }),
    `p2v.disks=${source}`,
    "p2v.name=victim",
    extra,
  ].join(" ");
}

interface Attack {
  sshd: TestSshd;
  /** The output directory (-os) on the server. */
  out: string;
  result: P2vRun;
}

/**
 * A conversion of `source` as `user` on a test host with a Debian hosts file
 * while the neighbour squats; `refuseNamespaces` makes the server refuse
 * network namespaces, as a locked-down one may.
 */
async function attacked(
  opts: { user: string; refuseNamespaces?: boolean },
  check: (attack: Attack) => Promise<void>,
): Promise<void> {
  for (const name of await squatted()) await Deno.remove(join(squats, name));
  const host = await makeTestHost();
  const sshd = await startSshd({
    hosts: DEBIAN_HOSTS,
    netns: host.netns,
    listenAddress: host.address,
    rootLogin: opts.user === "root",
  });
  try {
    // Slow enough for the neighbour to take the port while virt-v2v reads.
    await installStubVirtV2v(sshd, { rate: "64M" });
    if (opts.refuseNamespaces) {
      await Deno.writeTextFile(join(sshd.binDir, "unshare"), "#!/bin/sh\nexit 1\n", {
        mode: 0o755,
      });
    }
    const out = await makeOutputDir(sshd);
    const result = await withNeighbour(
      host,
      opts.user,
      () => runP2v(p2vArgs(cmdline(sshd, out, opts.user), ["-v"])),
    );
    await check({ sshd, out, result });
  } finally {
    await sshd.stop();
    await host.remove();
  }
}

Deno.test({
  name:
    "as root, a neighbour on [::1]:PORT cannot serve virt-v2v its disk: the job has a loopback of its own",
  sanitizeResources: false,
  async fn() {
    await attacked({ user: "root" }, async ({ sshd, out, result }) => {
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.ok((await squatted()).length > 0, "the neighbour never got the port: no attack made");
      assert.equal(
        await sha256File(join(out, "victim-sda")),
        sourceSum,
        "virt-v2v read their disk",
      );
      assert.match(result.stdout + result.stderr, /network namespace of their own/);
      assert.equal(await leftoverProcesses(sshd), "");
    });
  },
});

/** On a shared loopback: the neighbour is refused ::1, or the job ends before virt-v2v runs. */
async function assertRefusedOrStopped({ sshd, out, result }: Attack): Promise<void> {
  const all = result.stdout + result.stderr;
  assert.match(all, /the disks' ports are on the conversion server's shared loopback: /);
  console.log(`exit ${result.code}; squatted: ${(await squatted()).join(" ") || "nothing"}`);
  if (result.code === 0) {
    // We bound ::1 before the neighbour could: it got nothing.
    assert.equal(await sha256File(join(out, "victim-sda")), sourceSum);
    assert.deepEqual(await squatted(), []);
  } else {
    assert.match(result.stderr, /NBD relay could not start/);
    assert.match(all, /relay on ::1 port \d+ did not start: .*in use/);
    await assert.rejects(Deno.stat(join(out, "victim-sda")), "virt-v2v must not have run");
  }
  assert.equal(await leftoverProcesses(sshd), "");
}

for (
  const [user, refuseNamespaces, why] of [
    [TEST_USER, false, "the account on the conversion server is not root"],
    ["root", true, "the conversion server refused a network namespace"],
  ] as const
) {
  Deno.test({
    name:
      `${why}: a relay on every address of localhost; the neighbour is refused or fails the job`,
    sanitizeResources: false,
    async fn() {
      await attacked({ user, refuseNamespaces }, async (attack) => {
        assert.match(attack.result.stdout + attack.result.stderr, new RegExp(why));
        await assertRefusedOrStopped(attack);
      });
    },
  });
}

Deno.test({
  name: "a success that never read a disk is reported as suspicious, not as success",
  sanitizeResources: false,
  async fn() {
    const sshd = await startSshd();
    const marker = join(work, "fail-ran");
    try {
      await installStubVirtV2v(sshd, { readNothing: true });
      const out = await makeOutputDir(sshd);
      const result = await runP2v(
        p2vArgs(cmdline(sshd, out, TEST_USER, `p2v.fail="touch ${marker}"`)),
      );
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(
        result.stderr,
        /^virt-p2v: error.*virt-v2v reported success, but it never read disk \S+ through our export \(\d+ B sent, handshakes only\)/m,
      );
      assert.doesNotMatch(result.stdout, /Conversion finished successfully/);
      await Deno.stat(marker);
    } finally {
      await sshd.stop();
    }
  },
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(work, { recursive: true });
  } catch { /* gone */ }
});
