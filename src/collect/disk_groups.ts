/**
 * Which disks belong together: the PVs of one LVM volume group, the members
 * of one md RAID array. Converting only some of them leaves the guest
 * without its root filesystem (virt-v2v's inspection fails with "no root
 * device found"), so the views warn when only part of a group is selected.
 *
 * Read from the disks' own LVM labels and md superblocks, whole disk and
 * each partition: on the boot image nothing is assembled or activated, so
 * sysfs shows no stacking. Only the first sectors and, for md 0.90/1.0, the
 * last ones are read, read-only.
 */
import { join } from "node:path";
import type { DiskGroup } from "./types.ts";
import { type DiskReader, withDiskReader } from "./efi_partition.ts";
import { type LvmPv, readLvmMember } from "./lvm_label.ts";
import { readMdMember } from "./md_superblock.ts";
import { compareNames, exists, listDir, readAttr } from "./sysfs.ts";
import { within } from "../system/within.ts";

/** A device that may carry a PV label or md superblock, and the disk it is on. */
interface Candidate {
  disk: string;
  /** Kernel name (`sda2`, `cciss!c0d0p1`). */
  kernelName: string;
  sizeBytes: number;
}

/**
 * How long one device may take to show its label and superblock. A disk that
 * does not answer (failing, or a drive that blocks open) must not hold up
 * the start: it tells nothing, like one that cannot be opened.
 */
export const DEVICE_READ_MS = 5000;

/** Opens a device read-only by its path; the real one in production. */
export type DeviceOpener = <T>(path: string, use: (read: DiskReader) => Promise<T>) => Promise<T>;

/**
 * The groups that span two or more of `disks` (names as in DiskInfo), or
 * that have a PV on none of them. A group within one disk is whole whenever
 * that disk is converted, so it is not listed. ROOT/sys says which partitions each disk has; the devices are
 * read at ROOT/dev.
 */
export async function findDiskGroups(
  root: string,
  disks: readonly string[],
  open: DeviceOpener = withDiskReader,
  readMs = DEVICE_READ_MS,
): Promise<DiskGroup[]> {
  // Disks are read side by side: one that hangs costs its bound once, not once per disk.
  const found = await Promise.all(disks.map(async (disk) => {
    const memberships: Membership[] = [];
    for (const c of await candidatesOn(root, disk)) {
      const path = join(root, "dev", c.kernelName.replaceAll("!", "/"));
      const m = await within(readMs, readMembership(path, c, open));
      if (m !== undefined) memberships.push(m);
    }
    return { disk, memberships };
  }));
  const byKey = new Map<string, DiskGroup>();
  const seenPvs = new Map<string, Set<string>>();
  const listedPvs = new Map<string, LvmPv[]>();
  for (const { disk, memberships } of found) {
    for (const m of memberships) {
      const group = byKey.get(m.key) ?? { kind: m.kind, name: m.name, disks: [] };
      if (!group.disks.includes(disk)) group.disks.push(disk);
      byKey.set(m.key, group);
      if (m.lvm !== undefined) {
        seenPvs.set(m.key, (seenPvs.get(m.key) ?? new Set()).add(m.lvm.pvId));
        if (!listedPvs.has(m.key)) listedPvs.set(m.key, m.lvm.pvs);
      }
    }
  }
  // A PV the group's metadata lists but no disk here carries: a disk not
  // attached, failed, or not offered (the running system's).
  for (const [key, pvs] of listedPvs) {
    const seen = seenPvs.get(key)!;
    const absent = pvs.filter((pv) => !seen.has(pv.id)).map((pv) => pv.device ?? pv.id);
    if (absent.length > 0) byKey.get(key)!.absent = absent;
  }
  const groups = [...byKey.values()].filter((g) => g.disks.length > 1 || g.absent !== undefined);
  for (const g of groups) g.disks.sort(compareNames);
  return groups.sort((a, b) =>
    compareNames(a.disks[0], b.disks[0]) || compareNames(a.name, b.name)
  );
}

/** The whole disk and each of its partitions. */
async function candidatesOn(root: string, disk: string): Promise<Candidate[]> {
  const kernelName = disk.replaceAll("/", "!");
  const dir = join(root, "sys/block", kernelName);
  const found: Candidate[] = [{ disk, kernelName, sizeBytes: await sizeOf(dir) }];
  for (const entry of (await listDir(dir)).sort(compareNames)) {
    // A partition's sysfs directory sits inside its disk's, with a `partition` file.
    if (await exists(join(dir, entry, "partition"))) {
      found.push({ disk, kernelName: entry, sizeBytes: await sizeOf(join(dir, entry)) });
    }
  }
  return found;
}

async function sizeOf(dir: string): Promise<number> {
  const text = await readAttr(join(dir, "size"));
  return text !== undefined && /^\d+$/.test(text) ? Number(text) * 512 : 0;
}

interface Membership {
  key: string;
  kind: DiskGroup["kind"];
  name: string;
  /** For a PV: its own id and the group's list of PVs. */
  lvm?: { pvId: string; pvs: LvmPv[] };
}

async function readMembership(
  path: string,
  c: Candidate,
  open: DeviceOpener,
): Promise<Membership | undefined> {
  try {
    return await open(path, async (read) => {
      const lvm = await readLvmMember(read);
      if (lvm !== undefined) {
        return {
          key: `lvm:${lvm.vgId}`,
          kind: "lvm",
          name: lvm.vgName,
          lvm: { pvId: lvm.pvId, pvs: lvm.pvs },
        };
      }
      const md = await readMdMember(read, c.sizeBytes);
      if (md !== undefined) {
        return { key: `md:${md.arrayUuid}`, kind: "md", name: md.arrayName ?? md.arrayUuid };
      }
      return undefined;
    });
  } catch {
    // A device we cannot open (no node, no permission, no medium) tells nothing.
    return undefined;
  }
}
