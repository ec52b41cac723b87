/**
 * `./build.sh disk -o OUTPUT`: what it refuses to overwrite, what it asks
 * before overwriting a device, and what it writes to files. Block devices
 * are loop devices over scratch files (these tests are skipped where loop
 * devices cannot be attached); the disk of the running system is only ever
 * given with --dry-run, which writes nothing whatever the checks say.
 *
 * The boot files are stand-ins (Debian's kernel, a random "initramfs"):
 * nothing here boots; tests/boot/boot_media.test.ts does.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MiB } from "../helpers/images.ts";
import { run, type RunResult, sha256File } from "../helpers/process.ts";
import { frame, TmuxSession } from "../helpers/tmux.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const mtools = { MTOOLS_SKIP_CHECK: "1" };

const work = await Deno.makeTempDir({ prefix: "p2v-disk-target." });
addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));

/** p2v-vmlinuz and p2v-initrd.img in a fresh dir; the initramfs with `mode`. */
async function bootFiles(name: string, mode: number): Promise<string> {
  const dir = join(work, name);
  await Deno.mkdir(dir);
  const kernels = [...Deno.readDirSync("/boot")].map((e) => e.name)
    .filter((n) => n.startsWith("vmlinuz-")).sort();
  assert.ok(kernels.length > 0, "no kernel in /boot (tests/boot/setup-boot.sh installs one)");
  await Deno.copyFile(join("/boot", kernels[kernels.length - 1]), join(dir, "p2v-vmlinuz"));
  await run("sh", ["-c", `head -c ${MiB} /dev/urandom > '${join(dir, "p2v-initrd.img")}'`]);
  await Deno.chmod(join(dir, "p2v-initrd.img"), mode);
  return dir;
}
const secretFiles = await bootFiles("secret", 0o600);
const publicFiles = await bootFiles("public", 0o644);

/** `./build.sh disk` without its bundle step (tools/make-boot-disk.sh), as a user's shell runs it. */
function buildDisk(args: string[]): Promise<RunResult> {
  // A known umask, so that "readable by others" means what the test expects.
  return run("sh", ["-c", 'umask 022; exec tools/make-boot-disk.sh "$@"', "sh", ...args], {
    cwd: ROOT,
    check: false,
  });
}

/**
 * The block device under `/` and its whole disk (/dev/vda1 and /dev/vda);
 * undefined when `/` is not on a block device (a container's overlay).
 */
async function rootDevices(): Promise<{ disk: string; partition?: string } | undefined> {
  const r = await run("findmnt", ["-no", "MAJ:MIN", "/"], { check: false });
  const majmin = r.stdout.trim();
  if (r.code !== 0 || !/^\d+:\d+$/.test(majmin) || majmin.startsWith("0:")) return undefined;
  try {
    const dir = await Deno.realPath(`/sys/dev/block/${majmin}`);
    const name = (path: string) => `/dev/${path.slice(path.lastIndexOf("/") + 1)}`;
    if (await Deno.stat(join(dir, "partition")).then(() => true, () => false)) {
      return { disk: name(dir.slice(0, dir.lastIndexOf("/"))), partition: name(dir) };
    }
    return { disk: name(dir) };
  } catch {
    return undefined;
  }
}
const system = await rootDevices();

/** A loop device over a new scratch file of `bytes`; undefined when loop devices do not work here. */
async function attachLoop(name: string, bytes: number, partscan = false) {
  const file = join(work, name);
  await run("truncate", ["-s", String(bytes), file]);
  const r = await run("losetup", ["-f", "--show", ...(partscan ? ["-P"] : []), file], {
    check: false,
  });
  if (r.code !== 0) return undefined;
  const dev = r.stdout.trim();
  return {
    dev,
    file,
    detach: () => run("losetup", ["-d", dev], { check: false }),
  };
}
/** Whether loop devices work here, and whether they show partitions (`losetup -P`). */
async function probeLoops(): Promise<{ loop: boolean; partitions: boolean }> {
  const file = join(work, "probe.img");
  await run("truncate", ["-s", String(8 * MiB), file]);
  await run("sgdisk", ["-o", "-n", "1:2048:0", file]);
  const r = await run("losetup", ["-f", "--show", "-P", file], { check: false });
  if (r.code !== 0) return { loop: false, partitions: false };
  const dev = r.stdout.trim();
  let partitions = false;
  for (let i = 0; i < 20 && !partitions; i++) {
    partitions = await Deno.stat(`${dev}p1`).then((st) => st.isBlockDevice === true, () => false);
    if (!partitions) await new Promise((res) => setTimeout(res, 100));
  }
  await run("losetup", ["-d", dev], { check: false });
  return { loop: true, partitions };
}
const loops = await probeLoops();
const noLoop = !loops.loop;

Deno.test({
  name: "disk: the disk of the running system is refused, even with --yes",
  ignore: system === undefined,
  fn: async () => {
    const r = await buildDisk([
      ...["--boot-files", publicFiles, "-o", system!.disk, "--yes", "--dry-run"],
    ]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /holds the running system|is in use/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  },
});

Deno.test({
  name: "disk: a mounted device is refused and left as it was",
  ignore: noLoop,
  fn: async () => {
    const loop = (await attachLoop("mounted.img", 64 * MiB))!;
    const mnt = await Deno.makeTempDir({ dir: work });
    try {
      await run("mkfs.ext4", ["-q", loop.dev]);
      await run("mount", [loop.dev, mnt]);
      // Mounting writes the file system; the tool would write sector 0 and the GPT behind it.
      const head = () => run("sh", ["-c", `head -c 1024 '${loop.file}' | sha256sum`]);
      const before = (await head()).stdout;
      const r = await buildDisk(["--boot-files", publicFiles, "-o", loop.dev, "--yes"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`${loop.dev} is in use: ${loop.dev} is mounted on ${mnt}`));
      await run("umount", [mnt]);
      assert.equal((await head()).stdout, before);
    } finally {
      await run("umount", [mnt], { check: false });
      await loop.detach();
    }
  },
});

Deno.test({
  name: "disk: a partition is refused with the whole device's name",
  ignore: !loops.partitions && system?.partition === undefined,
  fn: async () => {
    let part = system?.partition;
    let disk = system?.disk;
    let detach = () => Promise.resolve();
    if (loops.partitions) {
      const file = join(work, "parted.img");
      await run("truncate", ["-s", String(64 * MiB), file]);
      await run("sgdisk", ["-o", "-n", "1:2048:0", file]);
      const r = await run("losetup", ["-f", "--show", "-P", file]);
      disk = r.stdout.trim();
      part = `${disk}p1`;
      detach = async () => void await run("losetup", ["-d", disk!], { check: false });
    }
    try {
      // --dry-run: the running system's partition is never at risk, whatever the checks say.
      const r = await buildDisk(["--boot-files", publicFiles, "-o", part!, "--yes", "--dry-run"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`${part} is a partition of ${disk}; give the whole`));
    } finally {
      await detach();
    }
  },
});

Deno.test({
  name: "disk: a device is never overwritten without --yes when there is no terminal to ask",
  ignore: noLoop,
  fn: async () => {
    const loop = (await attachLoop("noyes.img", 128 * MiB))!;
    try {
      await run("dd", [`of=${loop.dev}`, "if=/dev/urandom", "bs=1M", "count=4", "status=none"]);
      const before = await sha256File(loop.file);
      const r = await buildDisk(["--boot-files", publicFiles, "-o", loop.dev]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /refusing to overwrite .* without --yes \(no terminal to ask on\)/);
      // What would be overwritten is shown first.
      assert.match(r.stdout, new RegExp(`${loop.dev}: 128\\.0MiB`));
      const dry = await buildDisk(["--boot-files", publicFiles, "-o", loop.dev, "--dry-run"]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /nothing was written/);
      const vmdk = await buildDisk([
        "--boot-files",
        publicFiles,
        "-o",
        loop.dev,
        "--format",
        "vmdk",
      ]);
      assert.match(vmdk.stderr, /--format vmdk is for image files; a device is written raw/);
      assert.equal(await sha256File(loop.file), before);
    } finally {
      await loop.detach();
    }
  },
});

Deno.test({
  name: "disk: a wrong typed answer stops; the device's name writes a bootable layout on it",
  ignore: noLoop,
  fn: async () => {
    const loop = (await attachLoop("typed.img", 256 * MiB))!;
    const name = loop.dev.replace("/dev/", "");
    // The pane closes when the command ends: it stays a few seconds to be read.
    const ask = () =>
      TmuxSession.start({
        argv: [
          ...["sh", "-c", './build.sh "$@"; status=$?; sleep 5; exit $status', "sh"],
          ...["disk", "--boot-files", publicFiles, "-o", loop.dev],
          ...["--append", "p2v.server=conv.example.com p2v.port=2222"],
        ],
        cwd: ROOT,
      });
    try {
      const before = await sha256File(loop.file);
      let tmux = await ask();
      try {
        await tmux.waitFor(`Type ${name} to go on, anything else stops:`, 60_000);
        await tmux.type("yes");
        await tmux.keys("Enter");
        await tmux.waitFor(`stopped; ${loop.dev} was not touched`);
        assert.equal(await tmux.exitStatus(), 1);
      } finally {
        await tmux.kill();
      }
      assert.equal(await sha256File(loop.file), before);

      tmux = await ask();
      try {
        const screen = await tmux.waitFor(`Type ${name} to go on`, 60_000);
        assert.match(screen, new RegExp(`${loop.dev}: 256\\.0MiB, unknown model`), frame(screen));
        await tmux.type(name);
        await tmux.keys("Enter");
        assert.equal(await tmux.exitStatus(60_000), 0, frame(tmux.lastScreen));
      } finally {
        await tmux.kill();
      }
    } finally {
      await loop.detach();
    }
    // GPT with the backup header moved to the device's end, the hybrid MBR, the menu.
    const gpt = await run("sgdisk", ["-v", "-p", loop.file]);
    assert.match(gpt.stdout, /No problems found/);
    assert.match(gpt.stdout, /last usable sector is 524254/);
    assert.match(gpt.stdout, /^\s+1\s+2048\s+4095\s.*EF02\s+BIOS boot$/m);
    assert.match(gpt.stdout, /^\s+2\s+4096\s.*0700\s+virt-p2v$/m);
    const mbr = await run("sfdisk", ["--dump", "--label-nested", "dos", loop.file], {
      check: false,
    });
    assert.match(mbr.stdout, /start=\s*4096,.*type=c, bootable/, mbr.stdout);
    assert.match(mbr.stdout, /type=ee/, mbr.stdout);
    const menu = await run("mtype", ["-i", `${loop.file}@@2M`, "::/boot/grub/grub.cfg"], {
      env: mtools,
    });
    assert.match(menu.stdout, /console=tty0 p2v\.server=conv\.example\.com p2v\.port=2222$/m);
  },
});

Deno.test("disk: image files take their format from the name or --format, and need no answer", async () => {
  const qcow2 = join(work, "p2v.qcow2");
  let r = await buildDisk(["--boot-files", publicFiles, "-o", qcow2]);
  assert.equal(r.code, 0, r.stderr);
  assert.match((await run("qemu-img", ["info", qcow2])).stdout, /file format: qcow2/);
  const vmdk = join(work, "stick.img");
  r = await buildDisk(["--boot-files", publicFiles, "-o", vmdk, "--format", "vmdk"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match((await run("qemu-img", ["info", vmdk])).stdout, /file format: vmdk/);
  r = await buildDisk(["--boot-files", publicFiles, "-o", join(work, "x.img"), "--format", "vdi"]);
  assert.equal(
    r.stderr,
    "make-boot-disk.sh: error: --format must be raw, qcow2 or vmdk, not 'vdi'\n",
  );
});

Deno.test("disk: an image is not readable by others when its initramfs is not (it holds the key)", async () => {
  const secret = join(work, "secret.img");
  const pub = join(work, "public.img");
  assert.equal((await buildDisk(["--boot-files", secretFiles, "-o", secret])).code, 0);
  assert.equal((await buildDisk(["--boot-files", publicFiles, "-o", pub])).code, 0);
  assert.equal((await Deno.stat(secret)).mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(pub)).mode! & 0o777, 0o644);
});

Deno.test("disk: keys GRUB would change, and missing or misplaced options, are one clear line", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["-o", join(work, "a.img"), "--append", "p2v.password=a\\b"],
      /p2v\.password contains a backslash/,
    ],
    [
      ["-o", join(work, "b.img"), "--append", "p2v.pre='x'"],
      /p2v\.pre contains a backslash or a single/,
    ],
    [["--boot-files", publicFiles], /give the image file or device to write/],
    [["-o", work, "--boot-files", publicFiles], /is a directory; give a file name/],
    [
      ["-o", join(work, "c.img"), "--boot-files", publicFiles, "--inject-ssh-identity", "/x"],
      /--inject-ssh-identity goes with building the initramfs/,
    ],
    [
      ["-o", join(work, "d.img"), "--boot-files", join(work, "nope")],
      /nope\/p2v-vmlinuz is missing/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await buildDisk(args);
    assert.notEqual(r.code, 0, args.join(" "));
    assert.match(r.stderr, message, args.join(" "));
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
