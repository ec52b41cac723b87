/**
 * Every boot medium booted the way machines boot it, under QEMU (TCG), all
 * from ONE build of the initramfs (`./build.sh image --iso` with the test
 * sshd's key injected), then `./build.sh disk --boot-files` for the disk
 * image and its vmdk:
 *
 * - the disk image as a USB stick under BIOS (virtio, NVMe and SATA disks),
 *   under UEFI (the dialog driven over the serial console from its first
 *   screen), and under UEFI with Secure Boot on and Microsoft's keys (the
 *   menu's default entry, no key pressed);
 * - the ISO as a CD under BIOS;
 * - the vmdk as the machine's fixed boot disk under UEFI (a VMware VM);
 * - PXE: the same kernel and initramfs loaded by QEMU, with p2v.nbd=qemu-nbd.
 *
 * Each converts its source disks through the loopback sshd (10.0.2.2 from
 * the guest) into the stub virt-v2v byte-identical, the boot medium is not
 * among the converted disks, the sources are attached WRITABLE and are
 * unchanged afterwards (so nothing of ours writes them, not only QEMU's
 * read-only flag), and the machine powers itself off.
 *
 * Slow: `deno task test:boot`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeDenseImage, MiB } from "../helpers/images.ts";
import { run, sha256File } from "../helpers/process.ts";
import { startSshd, TEST_USER, type TestSshd } from "../helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "../helpers/stub_server.ts";
import { frame, TmuxSession } from "../helpers/tmux.ts";
import {
  boot,
  BOOT_TIMEOUT_MS,
  type BootResult,
  commonArgs,
  type Firmware,
  firmwareArgs,
  plain,
  seconds,
  serialLogArgs,
  type SourceDisk,
  sourceDiskArgs,
  timeline,
  usbStickArgs,
} from "./qemu.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Where --inject-ssh-identity puts the key in the image. */
const IMAGE_IDENTITY = "/var/tmp/id_rsa";
const REMOTE_DIR = /(\/tmp\/virt-p2v-\d{8}-[a-z0-9]{8})/;

interface Suite {
  work: string;
  sshd: TestSshd;
  out: string;
  /** p2v-vmlinuz, p2v-initrd.img, p2v.iso, p2v.img, p2v.vmdk */
  media: string;
  /** sha256 of every source disk, by path. */
  sums: Map<string, string>;
  timings: string[];
}

/** The keys every medium gets with --append: unattended to the test sshd, then power off. */
function appendKeys(s: { sshd: TestSshd; out: string }): string {
  return [
    "p2v.server=10.0.2.2", // QEMU user networking: the host's 127.0.0.1
    `p2v.port=${s.sshd.port}`,
    `p2v.username=${TEST_USER}`,
    `p2v.identity=file://${IMAGE_IDENTITY}`,
    "p2v.o=local",
    `p2v.os=${s.out}`,
    "p2v.post=poweroff",
  ].join(" ");
}

async function buildMedia(s: { sshd: TestSshd; out: string; media: string }): Promise<void> {
  // As users build it: `./build.sh image` makes the single file (zstd) and
  // passes the options on to the image maker.
  const keys = appendKeys(s);
  let started = performance.now();
  const made = await run("./build.sh", [
    "image",
    ...["--output", s.media, "--inject-ssh-identity", s.sshd.userKeyPath, "--iso"],
    ...["--append", keys],
    ...["--compress", Deno.env.get("VIRT_P2V_BOOT_COMPRESS") ?? "xz"],
  ], { cwd: ROOT });
  console.log(made.stdout.trim());
  console.log(`initramfs and ISO built in ${seconds(performance.now() - started)}`);
  started = performance.now();
  for (const name of ["p2v.img", "p2v.vmdk"]) {
    // stdin is not a terminal: a file needs no confirmation.
    const disk = await run("./build.sh", [
      ...["disk", "--boot-files", s.media, "-o", join(s.media, name), "--append", keys],
    ], { cwd: ROOT });
    console.log(disk.stdout.trim());
  }
  console.log(`disk image and vmdk built in ${seconds(performance.now() - started)}`);
}

/** What the CI log shows of a boot, and the checks every boot shares. */
function report(s: Suite, label: string, result: BootResult, logPath: string): string {
  s.timings.push(
    `${label.padEnd(34)} connected ${seconds(result.connectedAfterMs).padStart(7)}, ` +
      `powered off ${seconds(result.totalMs).padStart(7)}`,
  );
  console.log(
    `${label}: connected after ${seconds(result.connectedAfterMs)}, ` +
      `powered off after ${seconds(result.totalMs)}; console: ${logPath}`,
  );
  console.log(timeline(result.console));
  const tail = result.console.split("\n").slice(-40).join("\n");
  assert.ok(!result.timedOut, `QEMU still running after ${BOOT_TIMEOUT_MS} ms:\n${tail}`);
  assert.equal(result.code, 0, `QEMU exited ${result.code}:\n${tail}`);
  assert.match(result.console, /^virt-p2v-init: \[[\d.]+\] poweroff$/m, "no poweroff:\n" + tail);
  return tail;
}

/**
 * The conversion that `text` (a console) tells of: status 0, one converted
 * disk per source and nothing else (so not the boot medium), every byte
 * identical, and every source unchanged. Returns the converted disk names.
 */
async function checkConversion(
  s: Suite,
  text: string,
  sources: SourceDisk[],
  inspect?: (remote: string) => Promise<void>,
): Promise<string[]> {
  const dir = REMOTE_DIR.exec(text);
  assert.ok(dir, `no remote directory on the console:\n${text.slice(-3000)}`);
  const remote = dir[1];
  try {
    assert.equal((await Deno.readTextFile(join(remote, "status"))).trim(), "0");
    const name = (await Deno.readTextFile(join(remote, "name"))).trim();
    const xml = await Deno.readTextFile(join(remote, "physical.xml"));
    const targets = [...xml.matchAll(/<disk type="network" device="disk">[\s\S]*?<\/disk>/g)]
      .map((m) => /<target dev="([^"]+)"\/>/.exec(m[0])?.[1] ?? "?");
    assert.equal(targets.length, sources.length, `converted ${targets.join(", ")}:\n${xml}`);
    const got: string[] = [];
    for (const dev of targets) {
      const file = join(s.out, `${name}-${dev}`);
      got.push(await sha256File(file));
      await Deno.remove(file);
    }
    const want = sources.map((d) => s.sums.get(d.path)!);
    assert.deepEqual(got.toSorted(), want.toSorted(), "the converted disks are not the sources");
    for (const d of sources) {
      assert.equal(await sha256File(d.path), s.sums.get(d.path), `${d.path} was written`);
    }
    await inspect?.(remote);
    return targets;
  } finally {
    await Deno.remove(remote, { recursive: true }).catch(() => {});
  }
}

/** The disk the image's init found it booted from (`boot medium: sdb (UUID=…`). */
function bootMediumOf(text: string): string {
  const m = /^virt-p2v-init: \[[\d.]+\] boot medium: (\S+) \(/m.exec(text);
  assert.ok(m, "the image's init did not find its boot medium:\n" + timeline(text));
  return m[1];
}

async function unattendedBoot(
  s: Suite,
  label: string,
  firmware: Firmware,
  mediumArgs: string[],
  sources: SourceDisk[],
  menuKey?: string,
  inspect?: (remote: string) => Promise<void>,
) {
  const logPath = join(s.work, `console-${label.replace(/\W+/g, "-")}.log`);
  const result = await boot(
    [
      ...(await firmwareArgs(firmware, s.work)),
      ...commonArgs(),
      ...mediumArgs,
      ...sourceDiskArgs(sources, firmware),
    ],
    logPath,
    { menuKey },
  );
  const tail = report(s, label, result, logPath);
  assert.match(result.console, /Conversion finished successfully/, tail);
  const converted = await checkConversion(s, result.console, sources, inspect);
  return { result, converted };
}

const FIRMWARE_LINE: Record<Firmware, RegExp> = {
  bios: /firmware: BIOS$/m,
  uefi: /firmware: UEFI, kernel lockdown: none$/m,
  secureboot: /firmware: UEFI, Secure Boot on \(kernel lockdown: integrity\)$/m,
};

/**
 * Boots run in this many lanes at once (each lane one boot after another):
 * a TCG guest keeps one core busy, and the machine has two.
 */
const LANES = Math.max(1, Number(Deno.env.get("VIRT_P2V_BOOT_LANES") ?? 2));

/** The machine's disks for one lane: random data, so a byte-identical copy proves every block came over. */
interface Disks {
  virtio: SourceDisk;
  nvme: SourceDisk;
  sata: SourceDisk;
}

async function makeDisks(s: Suite, lane: number): Promise<Disks> {
  const make = async (bus: SourceDisk["bus"], size: number): Promise<SourceDisk> => {
    const path = await makeDenseImage(s.work, `lane${lane}-${bus}.img`, size);
    s.sums.set(path, await sha256File(path));
    // Writable: the test, not QEMU, proves that nothing writes them.
    return { path, bus, writable: true };
  };
  return {
    virtio: await make("virtio", 64 * MiB),
    nvme: await make("nvme", 16 * MiB),
    sata: await make("sata", 16 * MiB),
  };
}

/** Writes a GPT holding an EFI system partition onto a source disk (and notes its new checksum). */
async function withEfiSystemPartition(s: Suite, disk: SourceDisk): Promise<void> {
  const sfdisk = new Deno.Command("sfdisk", {
    args: ["--quiet", disk.path],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = sfdisk.stdin.getWriter();
  await writer.write(new TextEncoder().encode("label: gpt\n,16M,U\n,,L\n"));
  await writer.close();
  const out = await sfdisk.output();
  assert.ok(out.success, `sfdisk: ${new TextDecoder().decode(out.stderr)}`);
  s.sums.set(disk.path, await sha256File(disk.path));
}

interface BootCase {
  name: string;
  fn: (s: Suite, disks: Disks) => Promise<void>;
}

const BOOTS: BootCase[] = [
  {
    name: "USB stick, BIOS: virtio, NVMe and SATA disks, all found and converted",
    fn: async (s, d) => {
      const { result, converted } = await unattendedBoot(
        s,
        "USB stick, BIOS",
        "bios",
        usbStickArgs(join(s.media, "p2v.img")),
        [d.virtio, d.nvme, d.sata],
        "u",
      );
      assert.match(result.console, FIRMWARE_LINE.bios);
      const stick = bootMediumOf(result.console);
      assert.match(stick, /^sd[a-z]$/);
      assert.ok(!converted.includes(stick), `the stick ${stick} was converted`);
      assert.ok(converted.includes("vda") && converted.includes("nvme0n1"), converted.join());
      assert.equal(converted.filter((n) => /^sd[a-z]$/.test(n)).length, 1, converted.join());
    },
  },
  {
    name: "USB stick, UEFI: the dialog on the serial console, first screen to power off",
    fn: (s, d) => dialogOverSerial(s, join(s.media, "p2v.img"), d.virtio),
  },
  {
    name:
      "USB stick, UEFI with Secure Boot: the menu's default entry; lockdown refuses nothing we do",
    fn: async (s, d) => {
      // An installed UEFI system's disk: a GPT with an EFI system partition.
      await withEfiSystemPartition(s, d.virtio);
      const { result, converted } = await unattendedBoot(
        s,
        "USB stick, UEFI + Secure Boot",
        "secureboot",
        usbStickArgs(join(s.media, "p2v.img")),
        [d.virtio],
        undefined,
        async (remote) => {
          // The diagnostics were gathered under lockdown too.
          assert.match(await Deno.readTextFile(join(remote, "lspci")), /Capabilities: /);
          assert.match(await Deno.readTextFile(join(remote, "dmesg")), /Kernel is locked down/);
          // virt-v2v is told the firmware and the Secure Boot state this machine booted with.
          const xml = await Deno.readTextFile(join(remote, "physical.xml"));
          assert.match(xml, /<os firmware="efi">/, xml);
          assert.match(xml, /<feature enabled="yes" name="secure-boot"\/>/, xml);
        },
      );
      assert.match(result.console, FIRMWARE_LINE.secureboot);
      assert.match(result.console, /EFI stub: UEFI Secure Boot is enabled/);
      // What lockdown refused during the whole run: only the kernel's own
      // hibernation check at boot, nothing of the image or the program.
      const refused = /^virt-p2v-init: \[[\d.]+\] lockdown refused: (.*)$/m.exec(result.console);
      assert.equal(refused?.[1], "hibernation (swapper/0)", refused?.[0]);
      assert.deepEqual(converted, ["vda"]);
      assert.match(bootMediumOf(result.console), /^sd[a-z]$/);
    },
  },
  {
    name: "ISO as a CD, BIOS",
    fn: async (s, d) => {
      const iso = join(s.media, "p2v.iso");
      const { result, converted } = await unattendedBoot(
        s,
        "ISO as a CD, BIOS",
        "bios",
        [
          ...["-drive", `if=none,id=cd,media=cdrom,readonly=on,file=${iso}`],
          ...["-device", "ide-cd,drive=cd,bus=ide.1,bootindex=1"],
        ],
        [d.virtio],
        "u",
      );
      assert.match(result.console, FIRMWARE_LINE.bios);
      assert.equal(bootMediumOf(result.console), "sr0");
      assert.deepEqual(converted, ["vda"]);
    },
  },
  {
    name: "vmdk as the machine's fixed boot disk (a VMware VM), UEFI",
    fn: async (s, d) => {
      const vmdk = join(s.media, "p2v.vmdk");
      const { result, converted } = await unattendedBoot(
        s,
        "vmdk fixed disk, UEFI",
        "uefi",
        [
          ...["-drive", `if=none,id=bootdisk,format=vmdk,file=${vmdk},snapshot=on`],
          ...["-device", "ide-hd,drive=bootdisk,bus=ide.1,bootindex=1"],
        ],
        [d.virtio],
        "u",
      );
      assert.match(result.console, FIRMWARE_LINE.uefi);
      assert.match(bootMediumOf(result.console), /^sd[a-z]$/);
      assert.deepEqual(converted, ["vda"]);
    },
  },
  {
    name: "PXE: the same kernel and initramfs, with p2v.nbd=qemu-nbd",
    fn: async (s, d) => {
      const append = ["console=ttyS0", "ip=dhcp", appendKeys(s), "p2v.nbd=qemu-nbd"].join(" ");
      const { result, converted } = await unattendedBoot(s, "PXE, BIOS, qemu-nbd", "bios", [
        ...["-kernel", join(s.media, "p2v-vmlinuz"), "-initrd", join(s.media, "p2v-initrd.img")],
        ...["-append", append],
      ], [d.virtio, d.sata]);
      assert.doesNotMatch(result.console, /boot medium:/);
      assert.deepEqual(converted.toSorted(), ["sda", "vda"]);
    },
  },
];

Deno.test({
  name: "boot media: USB stick (BIOS, UEFI, Secure Boot), CD, vmdk disk and PXE all convert",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const testStarted = performance.now();
    const work = await Deno.makeTempDir({ prefix: "p2v-boot." });
    const sshd = await startSshd();
    try {
      await installStubVirtV2v(sshd);
      const out = await makeOutputDir(sshd);
      const media = join(work, "media");
      await Deno.mkdir(media);
      await buildMedia({ sshd, out, media });
      const s: Suite = { work, sshd, out, media, sums: new Map(), timings: [] };

      const passed = [
        await t.step("images that carry the key are 0600, and so is the key inside", async () => {
          for (const f of ["p2v-initrd.img", "p2v.iso", "p2v.img", "p2v.vmdk"]) {
            assert.equal((await Deno.stat(join(media, f))).mode! & 0o777, 0o600, f);
          }
          assert.equal((await Deno.stat(join(media, "p2v-vmlinuz"))).mode! & 0o777, 0o644);
          const list = await run("sh", [
            "-c",
            `xz -dc '${join(media, "p2v-initrd.img")}' | cpio -itv --quiet var/tmp/id_rsa`,
          ]);
          assert.match(list.stdout, /^-rw------- .* var\/tmp\/id_rsa$/m, list.stdout);
          // The disk and the ISO carry that very initramfs.
          const initrd = await sha256File(join(media, "p2v-initrd.img"));
          const fromDisk = join(work, "initrd-from-disk");
          await run("mcopy", [
            "-i",
            `${join(media, "p2v.img")}@@2M`,
            "::/boot/initrd.img",
            fromDisk,
          ], {
            env: { MTOOLS_SKIP_CHECK: "1" },
          });
          assert.equal(await sha256File(fromDisk), initrd);
          const fromIso = join(work, "initrd-from-iso");
          await run("xorriso", [
            ...["-indev", join(media, "p2v.iso"), "-osirrox", "on"],
            ...["-extract", "/boot/initrd.img", fromIso],
          ]);
          assert.equal(await sha256File(fromIso), initrd);
        }),
      ];

      // Lanes of boots, side by side; each lane has its own disks (QEMU locks
      // a writable image against a second user).
      const lanes = Array.from(
        { length: LANES },
        (_, i) => BOOTS.filter((_, j) => j % LANES === i),
      );
      const results = await Promise.all(lanes.map(async (cases, lane) => {
        const disks = await makeDisks(s, lane);
        const ok: boolean[] = [];
        for (const c of cases) {
          ok.push(
            await t.step({
              name: c.name,
              fn: () => c.fn(s, disks),
              sanitizeOps: false,
              sanitizeResources: false,
              sanitizeExit: false,
            }),
          );
        }
        return ok;
      }));
      passed.push(...results.flat());

      console.log(`\nboot timings (TCG, ${LANES} at a time):\n${s.timings.join("\n")}`);
      const sizes = [];
      for (const f of ["p2v-vmlinuz", "p2v-initrd.img", "p2v.iso", "p2v.img", "p2v.vmdk"]) {
        sizes.push(`${f} ${((await Deno.stat(join(media, f))).size / MiB).toFixed(1)} MiB`);
      }
      console.log(`sizes: ${sizes.join(", ")}`);
      console.log(`whole test: ${seconds(performance.now() - testStarted)}`);
      // A failure keeps the consoles (and the media) for a look.
      if (passed.every((ok) => ok)) await Deno.remove(work, { recursive: true });
    } finally {
      await sshd.stop();
    }
  },
});

/**
 * The disk image as a USB stick under UEFI, the serial console in a tmux
 * pane: choose the serial-console dialog in the boot menu, type the server,
 * test the connection, check the disk list (the stick is not there), start,
 * check the summary (this server, the one disk) and confirm it, wait for
 * success, and power off from the last screen.
 */
async function dialogOverSerial(s: Suite, image: string, source: SourceDisk): Promise<void> {
  const logPath = join(s.work, "console-dialog-uefi.log");
  const started = performance.now();
  const tmux = await TmuxSession.start({
    argv: [
      "qemu-system-x86_64",
      ...(await firmwareArgs("uefi", s.work)),
      ...serialLogArgs(logPath),
      ...usbStickArgs(image),
      ...sourceDiskArgs([source], "uefi"),
    ],
  });
  const timer = setTimeout(() => tmux.kill(), BOOT_TIMEOUT_MS);
  let connectedAfterMs: number | undefined;
  let screen = "";
  try {
    await tmux.waitFor("virt-p2v: the dialog on the serial console", 120_000);
    await tmux.type("s");
    screen = await tmux.waitFor(/^>Conversion server\s+\[/m, 180_000);
    // The menu's keys pre-fill the dialog, all but p2v.server.
    assert.match(screen, new RegExp(`SSH port\\s+\\[${s.sshd.port}\\s*\\]`), frame(screen));
    assert.match(screen, /User name\s+\[p2vtest\s*\]/);
    assert.ok(screen.includes(`file://${IMAGE_IDENTITY}`), frame(screen));
    await tmux.type("10.0.2.2");
    await tmux.focus(/\[>Test connection<\]/);
    await tmux.keys("Enter");
    await tmux.waitFor("Connected to the conversion server: virt-v2v 2.2.0.", 90_000);
    connectedAfterMs = performance.now() - started;
    await tmux.keys("Enter");
    screen = await tmux.waitFor("Conversion settings");
    // The only fixed disk offered is the virtio one: the stick (sda) is not there.
    assert.match(screen, /\[x\] vda\s+64\.0 MiB/, frame(screen));
    assert.doesNotMatch(screen, /\] sd[a-z]\s/, frame(screen));
    await tmux.focus(/\[>Start conversion<\]/);
    await tmux.keys("Enter");
    // The summary before anything is exported: this server, the one virtio disk; Start is focused.
    screen = await tmux.waitFor("Conversion summary");
    assert.match(
      screen,
      new RegExp(`Server\\s+${TEST_USER}@10\\.0\\.2\\.2:${s.sshd.port}\\b`),
      frame(screen),
    );
    assert.match(screen, /Fixed disks \(1 disk\)/, frame(screen));
    assert.match(screen, /^ {3}vda\s+64\.0 MiB/m, frame(screen));
    assert.match(screen, /\[>Start conversion<\]/, frame(screen));
    await tmux.keys("Enter");
    screen = await tmux.waitFor("The conversion was successful.", 180_000);
    await tmux.focus(/\[>Power off<\]/);
    await tmux.keys("Enter");
    assert.equal(await tmux.exitStatus(60_000), 0, "QEMU did not end after Power off");
  } catch (err) {
    const log = await Deno.readTextFile(logPath).catch(() => "");
    throw new Error(
      `${err}\nlast screen:\n${frame(tmux.lastScreen)}\nconsole log: ${logPath}\n` +
        timeline(log.replaceAll("\r", "")),
    );
  } finally {
    clearTimeout(timer);
    await tmux.kill();
  }
  const consoleText = plain(await Deno.readTextFile(logPath));
  s.timings.push(
    `${"USB stick, UEFI, serial dialog".padEnd(34)} connected ${
      seconds(connectedAfterMs).padStart(7)
    }, powered off ${seconds(performance.now() - started).padStart(7)}`,
  );
  assert.match(consoleText, FIRMWARE_LINE.uefi);
  const converted = await checkConversion(s, consoleText, [source]);
  assert.deepEqual(converted, ["vda"]);
}
