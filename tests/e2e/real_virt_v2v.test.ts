/**
 * End to end against the REAL virt-v2v: our program (kernel mode, as a PXE
 * boot would run it) converts a real Debian 12 guest through a loopback sshd
 * whose PATH leads to /usr/bin/virt-v2v, and we check what came out — the
 * libvirt XML, the disks, the guest inside them, the remote file set.
 *
 * Slow (several minutes per conversion under TCG): run with `deno task
 * test:e2e`, after tests/e2e/setup-e2e.sh. The guest image is built once per
 * machine by tests/fixtures/make-guest.sh and cached by content.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { p2vArgs, type P2vRun, runP2v } from "../helpers/p2v.ts";
import { run, sha256File } from "../helpers/process.ts";
import { startSshd, TEST_USER, type TestSshd } from "../helpers/sshd.ts";
import { makeOutputDir, makeStagingArea } from "../helpers/stub_server.ts";
import { rewriteExtents } from "../helpers/images.ts";
import { kvmUsable, LIBVIRT_URI, startLibvirt } from "./libvirt.ts";
import {
  bootToLogin,
  copyRates,
  dataBytes,
  guestFacts,
  installRealVirtV2v,
  LIBGUESTFS_ENV,
  type Phase,
  phaseTimings,
  printTimings,
  TransferMonitor,
} from "./support.ts";

const MAKE_GUEST = fileURLToPath(new URL("../fixtures/make-guest.sh", import.meta.url));
const CONVERSION_TIMEOUT_MS = 25 * 60_000;
const MiB = 1024 * 1024;
/** The chunk a warm conversion hashes and sends. */
const CHUNK = 256 * 1024;

// The source machine: the cached Debian guest (sda) and a small data disk (sdb).
const buildStart = performance.now();
const built = await run(MAKE_GUEST, [], { env: LIBGUESTFS_ENV });
const guestImage = built.stdout.trim().split("\n").at(-1)!;
console.log(
  `guest image ${guestImage}: ${((performance.now() - buildStart) / 1000).toFixed(1)} s ` +
    `(${built.stderr.includes("cached:") ? "cached" : "built"})`,
);

const work = await Deno.makeTempDir({ prefix: "p2v-e2e." });
const marker = `p2v e2e data disk ${crypto.randomUUID()}\n`;
const dataTree = join(work, "data-tree");
await Deno.mkdir(dataTree);
await Deno.writeTextFile(join(dataTree, "marker.txt"), marker);
const dataImage = join(work, "data.img");
await run("mke2fs", ["-q", "-F", "-t", "ext4", "-L", "p2vdata", "-d", dataTree, dataImage, "64M"]);

const sums = { guest: await sha256File(guestImage), data: await sha256File(dataImage) };
const sourceFacts = await guestFacts([guestImage, dataImage], "raw");
assert.equal(sourceFacts.distro, "debian", JSON.stringify(sourceFacts));
assert.equal(sourceFacts.hostname, "p2v-e2e-guest");
assert.equal(sourceFacts.dataMarker, marker);

function cmdline(sshd: TestSshd, extra: string, user = TEST_USER): string {
  return [
    "p2v.server=127.0.0.1",
    `p2v.port=${sshd.port}`,
    `p2v.username=${user}`,
    `p2v.identity=file://${sshd.userKeyPath}`,
    // The first of two equal keys wins: a scenario's own network map replaces this one.
    ...(/\bp2v\.network=/.test(extra) ? [] : ["p2v.network=default"]),
    "p2v.memory=1G",
    "p2v.vcpu.cores=2",
    "p2v.post=true",
    extra,
  ].join(" ");
}

function remoteDirOf(stdout: string): string {
  const m = /^Remote directory: (\S+)$/m.exec(stdout);
  assert.ok(m, `no remote directory in output:\n${stdout}`);
  return m[1];
}

interface Conversion {
  result: P2vRun;
  monitor: TransferMonitor;
}

async function convert(
  sshd: TestSshd,
  label: string,
  extra: string,
  watch?: (text: string) => void,
  opts: { user?: string; flags?: string[] } = {},
): Promise<Conversion> {
  const monitor = new TransferMonitor();
  const started = performance.now();
  const result = await runP2v(p2vArgs(cmdline(sshd, extra, opts.user), opts.flags), {
    timeoutMs: CONVERSION_TIMEOUT_MS,
    onOutput: (text, child) => {
      monitor.onOutput(text, child);
      watch?.(text);
    },
  }).finally(() => monitor.stop());
  const seconds = (performance.now() - started) / 1000;
  const saveDir = Deno.env.get("P2V_E2E_SAVE_DIR");
  if (saveDir) {
    await Deno.mkdir(saveDir, { recursive: true });
    const base = join(saveDir, label.split(" ")[0] + label.split(" ")[1]);
    await Deno.writeTextFile(`${base}.stdout`, result.stdout);
    await Deno.writeTextFile(`${base}.stderr`, result.stderr);
  }
  assert.equal(
    result.code,
    0,
    `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
  );
  console.log(
    `\n${label}: virt-p2v exit 0 after ${seconds.toFixed(1)} s, peak RSS ${
      (result.peakRssKb / 1024).toFixed(0)
    } MiB`,
  );
  return { result, monitor };
}

/** Every file the conversion puts in the remote directory, with the right contents. */
async function assertRemoteFiles(dir: string, name: string): Promise<string> {
  assert.match(dir, /^\/tmp\/virt-p2v-\d{8}-[a-z0-9]{8}$/);
  const read = (file: string) => Deno.readTextFile(join(dir, file));
  assert.equal(await read("name"), `${name}\n`);
  assert.equal((await read("status")).trim(), "0");
  assert.match(await read("time"), /\d{4}/);
  assert.match(await read("v2v-version"), /^virt-v2v 2\.\d+\.\d+/);
  assert.match(await read("p2v-version"), /^virt-p2v \S+\n$/);
  assert.match(await read("environment"), /^PATH=/m);
  const xml = await read("physical.xml");
  assert.match(xml, new RegExp(`<name>${name}</name>`));
  assert.equal((await Deno.stat(join(dir, "virt-v2v-wrapper.sh"))).mode! & 0o777, 0o700);
  const log = await read("virt-v2v-conversion-log.txt");
  assert.match(log, /Finishing off/);
  // Diagnostics: each one this machine can produce must have been uploaded.
  for (
    const [file, cmd, args] of [
      ["dmesg", "dmesg", []],
      ["lscpu", "lscpu", []],
      ["lspci", "lspci", ["-vvv"]],
      ["lsscsi", "lsscsi", ["-v"]],
      ["lsusb", "lsusb", ["-v"]],
    ] as const
  ) {
    const local = await run(cmd, [...args], { check: false }).catch(() => undefined);
    if (local?.code === 0 && local.stdout.trim() !== "") {
      assert.ok((await read(file)).length > 0, `diagnostic ${file} missing or empty`);
    }
  }
  return log;
}

/** virt-v2v's stdout reached us live AND the log on the server. */
function assertPhasesLogged(phases: Phase[], log: string): void {
  assert.ok(phases.some((p) => p.name.startsWith("Copying disk")), "no copy phase seen");
  // deno-lint-ignore no-control-regex
  const plain = log.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
  for (const p of phases) assert.ok(plain.includes(p.name), `phase not in the log: ${p.name}`);
}

async function assertSourcesUnchanged(): Promise<void> {
  assert.equal(await sha256File(guestImage), sums.guest, "the guest source image changed");
  assert.equal(await sha256File(dataImage), sums.data, "the data source image changed");
}

async function qemuImgInfo(path: string): Promise<{ format: string; actualSize: number }> {
  const info = JSON.parse((await run("qemu-img", ["info", "--output=json", path])).stdout);
  return { format: info.format, actualSize: info["actual-size"] };
}

Deno.test({
  name:
    "-o local as root, built-in NBD server: two disks become a Debian guest libvirt and libguestfs accept",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // As root: virt-v2v and the relays run in a network namespace of their own.
    const sshd = await startSshd({ rootLogin: true });
    let remoteDir: string | undefined;
    try {
      await installRealVirtV2v(sshd);
      const out = await makeOutputDir(sshd);
      const name = "p2v-e2e-local";
      const { result, monitor } = await convert(
        sshd,
        "scenario 1 (-o local, 2 disks, built-in NBD server)",
        `p2v.name=${name} p2v.disks=${guestImage},${dataImage} p2v.o=local p2v.os=${out}`,
        undefined,
        { user: "root", flags: ["-v"] },
      );
      remoteDir = remoteDirOf(result.stdout);
      assert.match(result.stdout, /Conversion finished successfully/);
      assert.match(result.stdout + result.stderr, /network namespace of their own/);
      for (const server of ["qemu-nbd", "nbdkit"]) {
        assert.ok(!monitor.childCommands.has(server), `${server} ran: not the built-in server`);
      }
      const log = await assertRemoteFiles(remoteDir, name);

      // The libvirt XML: our name, memory and vCPUs, virtio devices.
      const xml = await Deno.readTextFile(join(out, `${name}.xml`));
      assert.match(xml, new RegExp(`<name>${name}</name>`));
      assert.match(xml, /<memory unit=['"]KiB['"]>1048576<\/memory>/);
      assert.match(xml, /<vcpu>2<\/vcpu>/);
      const disks = [
        ...xml.matchAll(/<disk type=['"]file['"] device=['"]disk['"]>[\s\S]*?<\/disk>/g),
      ]
        .map((m) => m[0]);
      assert.equal(disks.length, 2, xml);
      for (const [i, disk] of disks.entries()) {
        assert.match(disk, /bus=['"]virtio['"]/);
        assert.match(disk, new RegExp(`${name}-sd${"ab"[i]}['"]`));
      }
      const nic = /<interface type=['"]network['"]>[\s\S]*?<\/interface>/.exec(xml);
      assert.ok(nic, `no network interface in:\n${xml}`);
      assert.match(nic[0], /<source network=['"]default['"]/);
      assert.match(nic[0], /<model type=['"]virtio['"]/);

      // The disks: raw, and the same guest inside.
      const sda = join(out, `${name}-sda`);
      const sdb = join(out, `${name}-sdb`);
      for (const disk of [sda, sdb]) assert.equal((await qemuImgInfo(disk)).format, "raw");
      const facts = await guestFacts([sda, sdb], "raw");
      assert.deepEqual(facts, sourceFacts);
      await assertSourcesUnchanged();

      const phases = phaseTimings(result.stdout);
      assertPhasesLogged(phases, log);
      printTimings("scenario 1", phases);
      copyRates(phases, monitor, [await dataBytes(sda), await dataBytes(sdb)]);
    } finally {
      await sshd.stop();
      if (remoteDir) await Deno.remove(remoteDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "-o qemu -of qcow2 -oo compressed, qemu-nbd export: the options reach virt-v2v, the guest boots",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const sshd = await startSshd();
    let remoteDir: string | undefined;
    try {
      await installRealVirtV2v(sshd);
      const out = await makeOutputDir(sshd);
      const name = "p2v-e2e-qemu";
      const { result, monitor } = await convert(
        sshd,
        "scenario 2 (-o qemu -of qcow2 -oo compressed, p2v.nbd=qemu-nbd)",
        `p2v.name=${name} p2v.disks=${guestImage} p2v.o=qemu p2v.os=${out} ` +
          "p2v.of=qcow2 p2v.oa=sparse p2v.oo=compressed p2v.nbd=qemu-nbd",
      );
      remoteDir = remoteDirOf(result.stdout);
      assert.ok(monitor.childCommands.has("qemu-nbd"), "p2v.nbd=qemu-nbd did not start qemu-nbd");
      const log = await assertRemoteFiles(remoteDir, name);

      // -o qemu writes a boot script instead of libvirt XML.
      const script = await Deno.readTextFile(join(out, `${name}.sh`));
      assert.match(script, /qemu-system-x86_64/);
      assert.match(script, /-m 1024\b/);
      assert.match(script, new RegExp(`${name}-sda`));
      await assert.rejects(Deno.stat(join(out, `${name}.xml`)));

      const sda = join(out, `${name}-sda`);
      const info = await qemuImgInfo(sda);
      assert.equal(info.format, "qcow2");
      // -oo compressed: the clusters are compressed, so the file is far smaller
      // than the data it holds.
      const data = await dataBytes(sda);
      console.log(
        `qcow2 output: ${(info.actualSize / MiB).toFixed(0)} MiB on disk for ${
          (data / MiB).toFixed(0)
        } MiB of guest data`,
      );
      assert.ok(info.actualSize < data * 0.8, "the qcow2 output is not compressed");
      const facts = await guestFacts([sda], "qcow2");
      assert.deepEqual(facts, { ...sourceFacts, dataMarker: undefined });

      // The converted guest boots on virtio (TCG; a throwaway snapshot).
      const bootSeconds = await bootToLogin(sda, "qcow2", sourceFacts.hostname);
      console.log(`converted guest booted to its login prompt in ${bootSeconds.toFixed(1)} s`);
      await assertSourcesUnchanged();

      const phases = phaseTimings(result.stdout);
      assertPhasesLogged(phases, log);
      printTimings("scenario 2", phases);
      copyRates(phases, monitor, [data]);
    } finally {
      await sshd.stop();
      if (remoteDir) await Deno.remove(remoteDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "-o local with the link cut mid-copy: the conversion resumes, the guest matches and boots",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const sshd = await startSshd();
    let remoteDir: string | undefined;
    try {
      await installRealVirtV2v(sshd);
      const out = await makeOutputDir(sshd);
      const name = "p2v-e2e-cut";
      let cutAt = 0;
      const { result } = await convert(
        sshd,
        "scenario 3 (-o local, our sshd processes killed 0.5 s into the copy)",
        `p2v.name=${name} p2v.disks=${guestImage} p2v.o=local p2v.os=${out}`,
        (text) => {
          if (cutAt || !/\] Copying disk 1\/1/.test(text)) return;
          cutAt = performance.now();
          setTimeout(async () => {
            for (const pid of await sshd.sessionPids()) {
              try {
                Deno.kill(pid, "SIGKILL");
              } catch { /* gone */ }
            }
          }, 500);
        },
      );
      remoteDir = remoteDirOf(result.stdout);
      assert.ok(cutAt > 0, "the copy never started");
      assert.match(result.stdout, /^Connection to the conversion server lost/m);
      const resumed = /^Reconnected after (\d+:\d\d) \(attempt (\d+)\)/m.exec(result.stdout);
      assert.ok(resumed, result.stdout);
      // The cut came during the copy: virt-v2v went on copying after the resume.
      const after = result.stdout.slice(result.stdout.indexOf(resumed[0]));
      assert.match(after, /Creating output metadata|Finishing off/);
      console.log(`reconnected after ${resumed[1]} (attempt ${resumed[2]})`);
      await assertRemoteFiles(remoteDir, name);

      const sda = join(out, `${name}-sda`);
      const facts = await guestFacts([sda], "raw");
      assert.deepEqual(facts, { ...sourceFacts, dataMarker: undefined });
      const bootSeconds = await bootToLogin(sda, "raw", sourceFacts.hostname);
      console.log(`the guest converted across the cut booted in ${bootSeconds.toFixed(1)} s`);
      await assertSourcesUnchanged();
      printTimings("scenario 3", phaseTimings(result.stdout));
    } finally {
      await sshd.stop();
      if (remoteDir) await Deno.remove(remoteDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "-o libvirt into a pool of the system libvirtd: the domain is defined, its disk is the pool's volume, its NIC on the mapped network, it boots",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // virt-v2v runs as root on the server, as it must to use the system
    // daemon's pools: -oc qemu:///system says so, whatever the default URI of
    // the server's root is.
    const sshd = await startSshd({ rootLogin: true });
    const libvirt = await startLibvirt();
    const name = "p2v-e2e-libvirt";
    let remoteDir: string | undefined;
    try {
      await installRealVirtV2v(sshd);
      const { result } = await convert(
        sshd,
        "scenario 4 (-o libvirt -os POOL -oc qemu:///system)",
        `p2v.name=${name} p2v.disks=${guestImage} p2v.o=libvirt p2v.oc=${LIBVIRT_URI} ` +
          `p2v.os=${libvirt.pool} p2v.network=${libvirt.network}`,
        undefined,
        { user: "root" },
      );
      remoteDir = remoteDirOf(result.stdout);
      await assertRemoteFiles(remoteDir, name);

      if (!await libvirt.defined(name)) {
        // libvirt defines a KVM domain only where KVM is usable; where it is
        // not, virt-v2v says so, leaves its XML in a file, and still succeeds.
        assert.equal(await kvmUsable(), false, "no domain, although this machine has KVM");
        assert.match(result.stdout, /could not define libvirt domain: .*virt type 'kvm'/);
        const left = /The libvirt XML is still available in ‘([^’]+)’/.exec(result.stdout);
        assert.ok(left, result.stdout);
        // …and our success says so, with where the XML is.
        assert.match(
          result.stdout + result.stderr,
          new RegExp(`libvirt did not define the guest .*virsh define ${left[1]}`),
        );
        console.log(`no KVM here: defining virt-v2v's ${left[1]} as a TCG domain`);
        await libvirt.defineAsTcg(left[1]);
        await Deno.remove(left[1]).catch(() => {});
      }
      const info = await libvirt.virsh("dominfo", name);
      console.log(`virsh dominfo ${name}:\n${info}`);
      assert.match(info, new RegExp(`^Name:\\s+${name}$`, "m"));
      const volumes = await libvirt.virsh("vol-list", libvirt.pool);
      console.log(`virsh vol-list ${libvirt.pool}:\n${volumes}`);
      const sda = join(libvirt.poolDir, `${name}-sda`);
      assert.match(volumes, new RegExp(`^\\s*${name}-sda\\s+${sda}$`, "m"));
      const xml = await libvirt.virsh("dumpxml", name);
      const nic = /<interface type=['"]network['"]>[\s\S]*?<\/interface>/.exec(xml);
      assert.ok(nic, `no network interface in:\n${xml}`);
      assert.match(nic[0], new RegExp(`<source network=['"]${libvirt.network}['"]`));
      // The guest's disk is named as the pool's volume, not as a file.
      assert.match(
        xml,
        new RegExp(`<source pool=['"]${libvirt.pool}['"] volume=['"]${name}-sda['"]`),
      );

      const facts = await guestFacts([sda], "raw");
      assert.deepEqual(facts, { ...sourceFacts, dataMarker: undefined });
      const bootSeconds = await bootToLogin(sda, "raw", sourceFacts.hostname);
      console.log(`the guest converted into the pool booted in ${bootSeconds.toFixed(1)} s`);
      await assertSourcesUnchanged();
      printTimings("scenario 4", phaseTimings(result.stdout));
    } finally {
      await sshd.stop();
      await libvirt.stop(name);
      if (remoteDir) await Deno.remove(remoteDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "-o local through a pre-copy and a cutover: only the changed chunks cross, virt-v2v converts the staged copy, the guest boots",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const sshd = await startSshd();
    const name = "p2v-e2e-warm";
    let remoteDir: string | undefined;
    try {
      await installRealVirtV2v(sshd);
      const out = await makeOutputDir(sshd);
      const area = await makeStagingArea(sshd);
      // The machine as the pre-copy saw it: its disk with 2 % in 1 MiB extents
      // not yet as they end up. The cutover must bring exactly those back, or
      // the converted guest would not be the source guest.
      const live = join(work, "live.img");
      await run("cp", ["--sparse=always", guestImage, live]);
      const size = (await Deno.stat(live)).size;
      const touched = await rewriteExtents(live, size, Math.round(size / MiB * 0.02), {
        chunkBytes: CHUNK,
      });
      const stage = `p2v.name=${name} p2v.disks=${live} p2v.stage.dir=${area}`;
      const pre = await convert(sshd, "scenario 5a (pre-copy)", `${stage} p2v.stage=precopy`);
      assert.match(pre.result.stdout, /Pre-copy done: .* NOT consistent/);
      await run("cp", ["--sparse=always", guestImage, live]);

      const { result } = await convert(
        sshd,
        "scenario 5b (cutover, -o local)",
        `${stage} p2v.stage=cutover p2v.o=local p2v.os=${out}`,
      );
      const differ = /(\d+) of (\d+) chunks differ/.exec(result.stdout);
      assert.ok(differ, result.stdout);
      assert.equal(Number(differ[1]), touched.size, "the chunks sent are those that changed");
      assert.equal(Number(differ[2]), size / CHUNK);
      assert.match(result.stdout, /verified: all \d+ chunks of the staged copy match/);
      assert.match(result.stdout, /can now be switched off/);
      remoteDir = remoteDirOf(result.stdout);
      const log = await assertRemoteFiles(remoteDir, name);
      // virt-v2v read the staged file on the server, not a port of ours.
      const xml = await Deno.readTextFile(join(remoteDir, "physical.xml"));
      assert.match(xml, new RegExp(`<source file="${area}/${name}/disk-0\\.img"/>`), xml);

      const sda = join(out, `${name}-sda`);
      const facts = await guestFacts([sda], "raw");
      assert.deepEqual(facts, { ...sourceFacts, dataMarker: undefined });
      const bootSeconds = await bootToLogin(sda, "raw", sourceFacts.hostname);
      console.log(`the guest converted from the staged copy booted in ${bootSeconds.toFixed(1)} s`);
      await assert.rejects(Deno.stat(join(area, name)), Deno.errors.NotFound);
      await assertSourcesUnchanged();
      const phases = phaseTimings(result.stdout);
      assertPhasesLogged(phases, log);
      printTimings("scenario 5b", phases);
    } finally {
      await sshd.stop();
      if (remoteDir) await Deno.remove(remoteDir, { recursive: true }).catch(() => {});
    }
  },
});

addEventListener("unload", () => {
  Deno.removeSync(work, { recursive: true });
});
