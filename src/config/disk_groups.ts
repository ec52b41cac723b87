/**
 * The one rule about disk groups, for both views: the disks of one LVM
 * volume group or md array go all together or not at all. With only some of
 * them, virt-v2v's inspection finds no root filesystem ("no root device
 * found"), after the disks have been copied. A warning, not a refusal: the
 * user may know that the missing part holds nothing the guest needs.
 */
import type { DiskGroup } from "../collect/types.ts";

export interface PartialGroup {
  group: DiskGroup;
  /** Disks of the group that are not selected, in the group's order (maybe none, see `absent`). */
  missing: string[];
}

/**
 * The groups of which some disks are in `selected` (`sda` or `/dev/sda`)
 * but not all, or that have a PV on no disk of this machine.
 */
export function partialGroups(
  groups: readonly DiskGroup[] | undefined,
  selected: readonly string[],
): PartialGroup[] {
  const chosen = new Set(selected.map((d) => d.startsWith("/dev/") ? d.slice(5) : d));
  const partial: PartialGroup[] = [];
  for (const group of groups ?? []) {
    const missing = group.disks.filter((d) => !chosen.has(d));
    if (missing.length === group.disks.length) continue;
    if (missing.length > 0 || group.absent !== undefined) partial.push({ group, missing });
  }
  return partial;
}

/** One sentence naming the group, its disks and what is missing, and what to do. */
export function partialGroupMessage(p: PartialGroup): string {
  const absent = p.group.absent ?? [];
  const parts = [...p.group.disks];
  if (absent.length > 0) {
    parts.push(
      `${absent.length === 1 ? "a PV" : `${absent.length} PVs`} on no disk that can be ` +
        `converted here (last seen as ${listNames(absent)})`,
    );
  }
  let text = `${groupTitle(p.group)} spans ${listNames(parts)}`;
  if (p.missing.length > 0) {
    const verb = p.missing.length === 1 ? "is" : "are";
    text += `, but ${listNames(p.missing)} ${verb} not selected: convert all of them or none, or`;
  } else text += ":";
  return `${text} virt-v2v may find no root filesystem`;
}

/** `LVM volume group "vg0"`, `md RAID array "host:0"`. */
export function groupTitle(group: DiskGroup): string {
  return group.kind === "lvm"
    ? `LVM volume group "${group.name}"`
    : `md RAID array "${group.name}"`;
}

function listNames(names: readonly string[]): string {
  if (names.length < 2) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}
