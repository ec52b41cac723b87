/**
 * The PXE boot image, booted the way a machine boots it from the network:
 * QEMU (TCG) loads p2v-vmlinuz and p2v-initrd.img with the p2v.* keys on the
 * kernel command line, the image brings up its disks and network, virt-p2v
 * converts the machine unattended through a loopback sshd on this host
 * (reached from the guest at 10.0.2.2 through QEMU's user-mode network) into
 * the stub virt-v2v, and the machine powers itself off (p2v.post=poweroff).
 *
 * Slow (an image build and a full boot under TCG): `deno task test:boot`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeDenseImage, MiB } from "../helpers/images.ts";
import { run, sha256File } from "../helpers/process.ts";
import { startSshd, TEST_USER, type TestSshd } from "../helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "../helpers/stub_server.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** From QEMU's start to its exit; TCG on two shared cores is slow. */
const BOOT_TIMEOUT_MS = Number(Deno.env.get("VIRT_P2V_BOOT_TIMEOUT_MS") ?? 15 * 60_000);
/** RAM of the booted machine, in MiB. */
const MEMORY_MIB = Deno.env.get("VIRT_P2V_BOOT_MEMORY") ?? "1024";
/** Where --inject-ssh-identity puts the key in the image. */
const IMAGE_IDENTITY = "/var/tmp/id_rsa";

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

interface BootResult {
  code: number;
  /** The serial console, ANSI sequences and carriage returns removed. */
  console: string;
  connectedAfterMs?: number;
  totalMs: number;
  timedOut: boolean;
}

async function buildImage(outDir: string, identity: string): Promise<void> {
  // With DENORT_BIN the image carries the single compiled binary; without it,
  // deno itself and the bundle (what works offline).
  const compiled = Boolean(Deno.env.get("DENORT_BIN"));
  await run("./build.sh", compiled ? [] : ["bundle"], { cwd: ROOT });
  const started = performance.now();
  const made = await run(join(ROOT, "tools/make-boot-image.sh"), [
    "--output",
    outDir,
    "--inject-ssh-identity",
    identity,
    "--program",
    compiled ? "compiled" : "deno",
    "--compress",
    Deno.env.get("VIRT_P2V_BOOT_COMPRESS") ?? "xz",
  ], { cwd: ROOT });
  console.log(made.stdout.trim());
  console.log(`image built in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

/** Boots QEMU, copies the serial console to `logPath`, and waits for QEMU to exit. */
async function boot(args: string[], logPath: string): Promise<BootResult> {
  const log = await Deno.open(logPath, { write: true, create: true, truncate: true });
  const started = performance.now();
  const child = new Deno.Command("qemu-system-x86_64", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, BOOT_TIMEOUT_MS);

  let text = "";
  let connectedAfterMs: number | undefined;
  let failedEarly = false;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      await log.write(chunk);
      text += decoder.decode(chunk, { stream: true });
      if (connectedAfterMs === undefined && text.includes("Connecting to ")) {
        connectedAfterMs = performance.now() - started;
      }
      // virt-p2v gave up, or the image is broken: no use waiting for the timeout.
      if (
        !failedEarly &&
        /virt-p2v exited with status|Kernel panic|Attempted to kill init/.test(text)
      ) {
        failedEarly = true;
        setTimeout(() => child.kill("SIGKILL"), 2_000);
      }
    }
  };
  await Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = await child.status;
  clearTimeout(timer);
  log.close();
  return {
    code: status.code,
    console: text.replace(ANSI, "").replaceAll("\r", ""),
    connectedAfterMs,
    totalMs: performance.now() - started,
    timedOut,
  };
}

const seconds = (ms?: number) => ms === undefined ? "never" : `${(ms / 1000).toFixed(1)} s`;

interface Machine {
  sshd: TestSshd;
  out: string;
  imageDir: string;
  vda: string;
  sda: string;
  sums: { vda: string; sda: string };
}

/** One unattended boot: converts both disks, checks the result, and returns the timings. */
async function convertByBooting(m: Machine, name: string, extraKeys: string[], consoleLog: string) {
  const append = [
    "console=ttyS0",
    "ip=dhcp",
    "p2v.server=10.0.2.2", // QEMU user networking: the host's 127.0.0.1
    `p2v.port=${m.sshd.port}`,
    `p2v.username=${TEST_USER}`,
    `p2v.identity=file://${IMAGE_IDENTITY}`,
    `p2v.name=${name}`,
    "p2v.o=local",
    `p2v.os=${m.out}`,
    "p2v.post=poweroff",
    ...extraKeys,
  ].join(" ");
  const result = await boot([
    ...["-machine", "accel=tcg", "-m", MEMORY_MIB, "-nographic", "-no-reboot", "-no-user-config"],
    ...["-kernel", join(m.imageDir, "p2v-vmlinuz"), "-initrd", join(m.imageDir, "p2v-initrd.img")],
    ...["-append", append],
    // A virtio disk the guest cannot write, and a SATA disk on AHCI.
    ...["-drive", `file=${m.vda},format=raw,if=none,id=d0,readonly=on`],
    ...["-device", "virtio-blk-pci,drive=d0"],
    ...["-drive", `file=${m.sda},format=raw,if=none,id=d1,snapshot=on`],
    ...["-device", "ahci,id=ahci", "-device", "ide-hd,drive=d1,bus=ahci.0"],
    // User-mode networking only: the guest reaches nothing but this host's loopback.
    ...["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,romfile="],
  ], consoleLog);

  console.log(
    `TCG boot: connected after ${seconds(result.connectedAfterMs)}, ` +
      `powered off after ${seconds(result.totalMs)}; console: ${consoleLog}`,
  );
  // The image's own timeline (seconds since the kernel started) for the CI log.
  console.log(
    result.console.split("\n")
      .filter((l) => /^virt-p2v-init: |^Connecting to |^Conversion finished|Freeing initrd/.test(l))
      .join("\n"),
  );
  const tail = result.console.split("\n").slice(-40).join("\n");
  assert.ok(!result.timedOut, `QEMU still running after ${BOOT_TIMEOUT_MS} ms:\n${tail}`);
  assert.equal(result.code, 0, `QEMU exited ${result.code}:\n${tail}`);
  assert.match(result.console, /Conversion finished successfully/, tail);
  assert.match(result.console, /^virt-p2v-init: \[[\d.]+\] poweroff$/m, "no poweroff:\n" + tail);

  // Every byte of both disks reached the conversion server, and nothing wrote them.
  assert.equal(await sha256File(join(m.out, `${name}-vda`)), m.sums.vda);
  assert.equal(await sha256File(join(m.out, `${name}-sda`)), m.sums.sda);
  assert.equal(await sha256File(m.vda), m.sums.vda);
  assert.equal(await sha256File(m.sda), m.sums.sda);

  const dir = /^Remote directory: (\/tmp\/virt-p2v-\d{8}-[a-z0-9]{8})$/m.exec(result.console);
  assert.ok(dir, `no remote directory on the console:\n${tail}`);
  const remote = dir[1];
  try {
    assert.equal((await Deno.readTextFile(join(remote, "status"))).trim(), "0");
    const xml = await Deno.readTextFile(join(remote, "physical.xml"));
    assert.match(xml, new RegExp(`<name>${name}</name>`));
    assert.match(xml, /<target dev="sda"\/>/);
    assert.match(xml, /<target dev="vda"\/>/);
    // QEMU's default NIC, named by the kernel (no udev in the image).
    assert.match(xml, /<target dev="eth0"\/>/);
    assert.match(xml, /<mac address="52:54:00:12:34:56"\/>/);
    // The initramfs root is not a disk, so only the two real ones are there.
    assert.equal(xml.match(/device="disk"/g)?.length, 2, xml);
  } finally {
    await Deno.remove(remote, { recursive: true }).catch(() => {});
  }
  await Deno.remove(join(m.out, `${name}-vda`));
  await Deno.remove(join(m.out, `${name}-sda`));
}

Deno.test({
  name: "the PXE image boots, converts its disks unattended and powers off",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const testStarted = performance.now();
    const work = await Deno.makeTempDir({ prefix: "p2v-boot." });
    const sshd = await startSshd();
    try {
      await installStubVirtV2v(sshd);
      const out = await makeOutputDir(sshd);
      const imageDir = join(work, "image");
      await buildImage(imageDir, sshd.userKeyPath);

      // The machine's disks: random data, so a byte-identical copy proves every block came over.
      const vda = await makeDenseImage(work, "vda.img", 128 * MiB);
      const sda = await makeDenseImage(work, "sda.img", 16 * MiB);
      const sums = { vda: await sha256File(vda), sda: await sha256File(sda) };
      const machine: Machine = { sshd, out, imageDir, vda, sda, sums };

      const passed = [
        await t.step("with the built-in NBD server (the default)", async () => {
          await convertByBooting(machine, "p2vboot", [], join(work, "console-builtin.log"));
        }),
        await t.step("with the image's qemu-nbd (p2v.nbd=qemu-nbd)", async () => {
          await convertByBooting(
            machine,
            "p2vqemunbd",
            ["p2v.nbd=qemu-nbd"],
            join(work, "console-qemu-nbd.log"),
          );
        }),
      ];
      console.log(`whole test: ${seconds(performance.now() - testStarted)}`);
      // A failure keeps the consoles (and the image) for a look.
      if (passed.every((ok) => ok)) await Deno.remove(work, { recursive: true });
    } finally {
      await sshd.stop();
    }
  },
});
