/**
 * Builds fake sysfs/procfs trees in a temp dir for the collector tests.
 * The layout mirrors real Linux: /sys/block, /sys/class/block and
 * /sys/dev/block entries are relative symlinks into /sys/devices, and a
 * partition is a subdirectory of its disk's directory.
 */

import { dirname, join } from "node:path";
import { tempDir } from "./helpers/cleanup.ts";

/** A file's text or bytes, or a symlink. */
export type Node = string | Uint8Array | { link: string };
export type Tree = Record<string, Node>;

export async function writeTree(root: string, tree: Tree): Promise<void> {
  for (const [rel, node] of Object.entries(tree)) {
    const path = join(root, rel);
    await Deno.mkdir(dirname(path), { recursive: true });
    if (typeof node === "string") await Deno.writeTextFile(path, node);
    else if (node instanceof Uint8Array) await Deno.writeFile(path, node);
    else await Deno.symlink(node.link, path);
  }
}

/** Run `fn` with a fresh temp root, removed afterwards whatever happens. */
export async function withRoot<T>(tree: Tree, fn: (root: string) => Promise<T>): Promise<T> {
  const root = await tempDir({ prefix: "p2v-sysroot-" });
  try {
    await writeTree(root, tree);
    return await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

export interface BlockSpec {
  /** `MAJOR:MINOR`. */
  dev: string;
  /** Sectors of 512 bytes. */
  size?: number;
  removable?: boolean;
  /** Attribute files relative to the device directory (`device/model`, `serial`, …). */
  attrs?: Record<string, string | Uint8Array>;
  partitions?: Record<string, { dev: string; size?: number }>;
  /** Names of lower devices, for device-mapper/MD. */
  slaves?: string[];
}

/**
 * sysfs entries for one block device under a parent path such as
 * `devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0`.
 */
export function blockDevice(name: string, parent: string, spec: BlockSpec): Tree {
  const devRel = `sys/${parent}/block/${name}`;
  const tree: Tree = {
    [`sys/block/${name}`]: { link: `../${parent}/block/${name}` },
    [`sys/class/block/${name}`]: { link: `../../${parent}/block/${name}` },
    [`sys/dev/block/${spec.dev}`]: { link: `../../${parent}/block/${name}` },
    [`${devRel}/dev`]: `${spec.dev}\n`,
    [`${devRel}/size`]: `${spec.size ?? 0}\n`,
    [`${devRel}/removable`]: spec.removable ? "1\n" : "0\n",
  };
  for (const [attr, value] of Object.entries(spec.attrs ?? {})) {
    tree[`${devRel}/${attr}`] = value;
  }
  for (const [part, p] of Object.entries(spec.partitions ?? {})) {
    const partRel = `${parent}/block/${name}/${part}`;
    tree[`sys/${partRel}/partition`] = `${part.replace(/^\D+(?:\d+p)?/, "")}\n`;
    tree[`sys/${partRel}/dev`] = `${p.dev}\n`;
    tree[`sys/${partRel}/size`] = `${p.size ?? 0}\n`;
    tree[`sys/class/block/${part}`] = { link: `../../${partRel}` };
    tree[`sys/dev/block/${p.dev}`] = { link: `../../${partRel}` };
  }
  for (const slave of spec.slaves ?? []) {
    tree[`${devRel}/slaves/${slave}`] = "";
  }
  return tree;
}

/** A /proc/self/mountinfo with `/` on `dev` (plus the usual pseudo filesystems). */
export function mountinfo(dev: string, fstype = "ext4", source = "/dev/root"): string {
  return [
    `22 1 ${dev} / / rw,relatime shared:1 - ${fstype} ${source} rw`,
    "23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
    "24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw",
    "25 22 0:23 / /run rw,nosuid,nodev shared:13 - tmpfs tmpfs rw,size=1607296k,mode=755",
    "",
  ].join("\n");
}

/** SCSI VPD page 0x80 (unit serial number) as the kernel exposes it. */
export function vpdPage80(serial: string): Uint8Array {
  const body = new TextEncoder().encode(serial);
  return new Uint8Array([0x00, 0x80, body.length >> 8, body.length & 0xff, ...body]);
}

const ATA = "devices/pci0000:00/0000:00:1f.2";
const NVME = "devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0";

/**
 * The reference machine used by the disk and host-facts tests:
 * sda (SATA SSD), sdb (root disk, `/` on sdb2), sdc (empty card reader),
 * sdd (USB stick), vda (virtio), nvme0n1 (+ a hidden multipath leg),
 * cciss!c0d0, loop0, sr0, sr1; interfaces eth0, enp1s0, lo, docker0,
 * wlan0, em1, ib0, veth1a2b3c; meminfo, cpuinfo, ACPI, an RTC.
 */
export function referenceTree(): Tree {
  return {
    ...blockDevice("sda", `${ATA}/ata1/host0/target0:0:0/0:0:0:0`, {
      dev: "8:0",
      size: 976773168,
      attrs: {
        "device/model": "Samsung SSD 860 \n",
        "device/vpd_pg80": vpdPage80("S3Z9NB0K123456A"),
        "device/wwid": "naa.5002538e40a1b2c3\n",
      },
      partitions: { sda1: { dev: "8:1", size: 976771072 } },
    }),
    ...blockDevice("sdb", `${ATA}/ata2/host1/target1:0:0/1:0:0:0`, {
      dev: "8:16",
      size: 62914560,
      attrs: { "device/model": "ST32000542AS    \n", "device/wwid": "t10.ATA ST32000542AS\n" },
      partitions: { sdb1: { dev: "8:17", size: 2048 }, sdb2: { dev: "8:18", size: 62910464 } },
    }),
    ...blockDevice(
      "sdc",
      "devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.0/host6/target6:0:0/6:0:0:0",
      {
        dev: "8:32",
        size: 0,
        removable: true,
        attrs: { "device/model": "SD/MMC          \n" },
      },
    ),
    ...blockDevice(
      "sdd",
      "devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4:1.0/host7/target7:0:0/7:0:0:0",
      {
        dev: "8:48",
        size: 31116288,
        removable: true,
        attrs: { "device/model": "Cruzer Blade    \n" },
      },
    ),
    ...blockDevice("vda", "devices/pci0000:00/0000:00:05.0/virtio2", {
      dev: "252:0",
      size: 41943040,
      attrs: { serial: "VIRTIO-SER-1\n" },
    }),
    ...blockDevice("nvme0n1", NVME, {
      dev: "259:0",
      size: 1953525168,
      attrs: {
        "device/model": "Samsung SSD 970 EVO Plus 1TB            \n",
        "device/serial": "S4EWNX0R123456      \n",
        wwid: "eui.0025385b91b0c1d2\n",
      },
    }),
    ...blockDevice("nvme0c0n1", NVME, {
      dev: "259:9",
      size: 1953525168,
      attrs: { hidden: "1\n" },
    }),
    ...blockDevice("cciss!c0d0", "devices/pci0000:00/0000:00:03.0/cciss0", {
      dev: "104:0",
      size: 143305920,
    }),
    ...blockDevice("loop0", "devices/virtual", { dev: "7:0", size: 1024 }),
    ...blockDevice("sr0", `${ATA}/ata3/host2/target2:0:0/2:0:0:0`, {
      dev: "11:0",
      size: 0,
      removable: true,
      attrs: { "device/model": "DVD-RAM UJ8E2   \n" },
    }),
    ...blockDevice("sr1", "devices/pci0000:00/0000:00:14.0/usb1/1-5/host8/target8:0:0/8:0:0:0", {
      dev: "11:1",
      removable: true,
    }),
    "proc/self/mountinfo": mountinfo("8:18", "ext4", "/dev/sdb2"),

    "sys/class/net/eth0": { link: "../../devices/pci0000:00/0000:00:19.0/net/eth0" },
    "sys/devices/pci0000:00/0000:00:19.0/net/eth0/address": "52:54:00:AB:CD:EF\n",
    "sys/class/net/enp1s0": { link: "../../devices/pci0000:00/0000:01:00.0/net/enp1s0" },
    "sys/devices/pci0000:00/0000:01:00.0/net/enp1s0/address": "00:00:00:00:00:00\n",
    "sys/class/net/wlan0": { link: "../../devices/pci0000:00/0000:02:00.0/net/wlan0" },
    "sys/devices/pci0000:00/0000:02:00.0/net/wlan0/address": "a4:34:d9:01:02:03\n",
    "sys/class/net/em1/type": "1\n",
    "sys/class/net/lo/address": "00:00:00:00:00:00\n",
    "sys/class/net/docker0/address": "02:42:ac:11:00:01\n",
    "sys/class/net/ib0/address": "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:b1:c2\n",
    "sys/class/net/veth1a2b3c/address": "6e:1d:8a:00:00:01\n",

    "proc/meminfo": "MemTotal:       16318232 kB\nMemFree:         8124432 kB\n",
    "proc/cpuinfo": [
      "processor\t: 0",
      "vendor_id\t: AuthenticAMD",
      "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep",
      "",
    ].join("\n"),
    "proc/sys/kernel/hostname": "p2v-host.example.org\n",
    "sys/firmware/acpi/interrupts/gpe00": "0\n",
    "sys/devices/system/cpu/online": "0-7\n",
    "sys/class/rtc/rtc0": { link: "../../devices/pnp0/00:04/rtc/rtc0" },
    "sys/devices/pnp0/00:04/rtc/rtc0/since_epoch": "1700000000\n",
  };
}

/** lscpu (util-linux 2.38, C locale) of an 8-thread Intel desktop. */
export const LSCPU_INTEL = `Architecture:            x86_64
  CPU op-mode(s):        32-bit, 64-bit
  Address sizes:         39 bits physical, 48 bits virtual
  Byte Order:            Little Endian
CPU(s):                  8
  On-line CPU(s) list:   0-7
Vendor ID:               GenuineIntel
  Model name:            Intel(R) Core(TM) i7-7700 CPU @ 3.60GHz
    CPU family:          6
    Model:               158
    Thread(s) per core:  2
    Core(s) per socket:  4
    Socket(s):           1
    Stepping:            9
    BogoMIPS:            7200.00
    Flags:               fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov
Virtualization features: 
  Virtualization:        VT-x
Caches (sum of all):     
  L1d:                   128 KiB (4 instances)
NUMA:                    
  NUMA node(s):          1
  NUMA node0 CPU(s):     0-7
`;
