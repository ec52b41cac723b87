/**
 * Which local disks can be converted, and which removable drives to
 * describe. Purely reads ROOT/sys and ROOT/proc: opening /dev nodes could
 * spin up drives or block, and the source disks must stay untouched.
 */

import { basename, dirname, join } from "node:path";
import type { DiskInfo, RemovableInfo } from "./types.ts";
import { findMultipathLuns } from "./multipath.ts";
import {
  compareNames,
  exists,
  listDir,
  readAttr,
  readBytes,
  readText,
  resolveLink,
} from "./sysfs.ts";

/** Kernel name prefixes of whole disks worth converting. */
const FIXED_PREFIXES = ["cciss!", "hd", "nvme", "sd", "ubd", "vd"];

/** Guards against a malformed (or malicious) holder/slave cycle in a test tree. */
const MAX_STACK_DEPTH = 8;

/**
 * Where the boot image's init names the disk(s) the machine booted from: one
 * kernel name a line (`sdb`, `nvme1n1`). Written by tools/boot-image/init
 * from the `virt-p2v.medium=` key of our boot menus; absent elsewhere.
 */
export const BOOT_MEDIUM_FILE = "run/virt-p2v/boot-medium";

export interface FoundDisks {
  disks: DiskInfo[];
  removable: RemovableInfo[];
  /** Fixed disks left out of `disks` because the machine booted from them. */
  bootMedium: DiskInfo[];
  /** Fixed disks left out of `disks` because they hold the running system. */
  runningSystem: DiskInfo[];
}

export async function findDisks(root = "/"): Promise<FoundDisks> {
  const blockDir = join(root, "sys/block");
  const names = await listDir(blockDir);
  const inUse = await findRootDisks(root);
  const booted = await readBootMedium(root);
  const luns = await findMultipathLuns(
    root,
    names.filter((n) => FIXED_PREFIXES.some((p) => n.startsWith(p))),
  );

  const disks: DiskInfo[] = [];
  const removable: RemovableInfo[] = [];
  const bootMedium: DiskInfo[] = [];
  const runningSystem: DiskInfo[] = [];
  for (const name of names) {
    const dir = join(blockDir, name);
    if (FIXED_PREFIXES.some((p) => name.startsWith(p))) {
      // Hidden NVMe multipath legs (nvme0c0n1) have no /dev node to export.
      if ((await readAttr(join(dir, "hidden"))) === "1") continue;
      // A LUN seen through several paths is listed once, under its first path.
      const paths = luns.get(name) ?? [name];
      if (paths[0] !== name) continue;
      const sizeBytes = await readSize(dir);
      if (name.startsWith("sd") && (await isEmptyRemovable(dir, sizeBytes))) continue;
      const disk: DiskInfo = { name: name.replaceAll("!", "/"), sizeBytes };
      if (paths.length > 1) disk.otherPaths = paths.slice(1);
      const model = await readAttr(join(dir, "device/model"));
      if (model !== undefined) disk.model = model;
      const serial = await readSerial(dir);
      if (serial !== undefined) disk.serial = serial;
      // Converting the disk we are running from would copy a live, changing
      // system; the USB stick (or disk image) we booted from is not part of
      // the machine.
      if (paths.some((p) => inUse.has(p))) runningSystem.push(disk);
      else (paths.some((p) => booted.has(p)) ? bootMedium : disks).push(disk);
    } else if (name.startsWith("sr")) {
      const drive: RemovableInfo = { name };
      const model = await readAttr(join(dir, "device/model"));
      if (model !== undefined) drive.model = model;
      removable.push(drive);
    }
  }
  // Sorted after the cciss rename, as the original does.
  disks.sort((a, b) => compareNames(a.name, b.name));
  removable.sort((a, b) => compareNames(a.name, b.name));
  bootMedium.sort((a, b) => compareNames(a.name, b.name));
  runningSystem.sort((a, b) => compareNames(a.name, b.name));
  return { disks, removable, bootMedium, runningSystem };
}

/** Kernel names from BOOT_MEDIUM_FILE (`cciss/c0d0` written either way); empty without it. */
export async function readBootMedium(root = "/"): Promise<Set<string>> {
  const text = await readText(join(root, BOOT_MEDIUM_FILE));
  const names = (text ?? "").split("\n").map((l) => l.trim().replace(/^\/dev\//, ""))
    .filter((l) => l !== "");
  return new Set(names.map((n) => n.replaceAll("/", "!")));
}

/** `size` counts 512-byte sectors whatever the logical block size is. */
async function readSize(dir: string): Promise<number> {
  const text = await readAttr(join(dir, "size"));
  if (text === undefined || !/^\d+$/.test(text)) return 0;
  return Number(text) * 512;
}

/**
 * An empty card reader or floppy-like USB drive: removable SCSI disk with a
 * zero size. The original detects it by ENOMEDIUM from open(); the zero
 * size is what the kernel shows for the same state without opening it.
 * CD/DVD drives are `sr*` and never reach here.
 */
async function isEmptyRemovable(dir: string, sizeBytes: number): Promise<boolean> {
  return sizeBytes === 0 && (await readAttr(join(dir, "removable"))) === "1";
}

/**
 * The most specific identifier the kernel offers: the device's own serial
 * (NVMe controller, some SCSI), the virtio-blk serial, the SCSI unit serial
 * number VPD page, and finally the world-wide id.
 */
async function readSerial(dir: string): Promise<string | undefined> {
  return (await readAttr(join(dir, "device/serial"))) ??
    (await readAttr(join(dir, "serial"))) ??
    parseVpdSerial(await readBytes(join(dir, "device/vpd_pg80"))) ??
    (await readAttr(join(dir, "device/wwid"))) ??
    (await readAttr(join(dir, "wwid")));
}

/** SCSI VPD page 0x80: 4-byte header (length in bytes 2–3), then ASCII serial. */
export function parseVpdSerial(page: Uint8Array | undefined): string | undefined {
  if (page === undefined || page.length < 4 || page[1] !== 0x80) return undefined;
  const length = (page[2] << 8) | page[3];
  const body = page.subarray(4, 4 + length);
  const text = new TextDecoder("latin1").decode(body).replace(/\0+/g, "").trim();
  return text === "" ? undefined : text;
}

/**
 * Kernel names of the whole disks that hold the running root filesystem.
 * Beyond the original (which only handled a plain partition), this follows
 * device-mapper/MD `slaves`, so a live system on LVM or RAID also hides its
 * own disks. Empty when root is not on a block device (tmpfs, overlay, NFS).
 */
export async function findRootDisks(root = "/"): Promise<Set<string>> {
  const found = new Set<string>();
  const start = await rootBlockDir(root);
  if (start !== undefined) await collectDisksUnder(root, start, found, 0);
  return found;
}

/** The sysfs directory of the block device mounted at `/`. */
async function rootBlockDir(root: string): Promise<string | undefined> {
  const mount = parseRootMount(await readText(join(root, "proc/self/mountinfo")));
  let devNum = mount?.devNum;
  if (devNum === undefined && root === "/") devNum = await statRootDevice();
  if (devNum !== undefined) {
    const dir = await resolveLink(root, join(root, "sys/dev/block", devNum));
    if (dir !== undefined) return dir;
  }
  // btrfs reports an anonymous 0:N device number; its mount source still
  // names the real partition.
  if (mount?.source?.startsWith("/dev/")) {
    let node = join(root, mount.source);
    try {
      node = await Deno.realPath(node); // /dev/mapper/x → /dev/dm-0
    } catch {
      // Keep the name as written.
    }
    return await resolveLink(root, join(root, "sys/class/block", basename(node)));
  }
  return undefined;
}

export interface RootMount {
  /** `MAJOR:MINOR` of the filesystem mounted at `/`. */
  devNum: string;
  /** Mount source (`/dev/sda2`), when given. */
  source?: string;
}

/**
 * The `/` line of a mountinfo file. The last one wins: a later mount on `/`
 * hides the earlier ones, and it is the one the process sees.
 */
export function parseRootMount(text: string | undefined): RootMount | undefined {
  if (text === undefined) return undefined;
  let result: RootMount | undefined;
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    if (fields.length < 5 || fields[4] !== "/") continue;
    if (!/^\d+:\d+$/.test(fields[2])) continue;
    const sep = fields.indexOf("-", 5);
    const source = sep > 0 ? fields[sep + 2] : undefined;
    result = { devNum: fields[2] };
    if (source !== undefined && source !== "") result.source = source;
  }
  return result;
}

/** Without /proc, fall back to the device number of `/` itself (real root only). */
async function statRootDevice(): Promise<string | undefined> {
  try {
    const dev = (await Deno.stat("/")).dev;
    if (!dev) return undefined;
    // glibc's dev_t encoding: major in bits 8–19 and 32–43, minor in 0–7 and 20–31.
    const d = BigInt(dev);
    const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
    const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
    return `${major}:${minor}`;
  } catch {
    return undefined;
  }
}

async function collectDisksUnder(
  root: string,
  dir: string,
  found: Set<string>,
  depth: number,
): Promise<void> {
  if (depth > MAX_STACK_DEPTH) return;
  // A partition's sysfs directory sits inside its disk's directory.
  if (await exists(join(dir, "partition"))) {
    found.add(basename(dirname(dir)));
    return;
  }
  const slaves = await listDir(join(dir, "slaves"));
  if (slaves.length === 0) {
    found.add(basename(dir));
    return;
  }
  for (const slave of slaves) {
    const slaveDir = await resolveLink(root, join(root, "sys/class/block", slave));
    if (slaveDir !== undefined) await collectDisksUnder(root, slaveDir, found, depth + 1);
  }
}
