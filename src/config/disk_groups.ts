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
  /** Disks of the group that are not selected, in the group's order. */
  missing: string[];
}

/** The groups of which some disks, but not all, are in `selected` (`sda` or `/dev/sda`). */
export function partialGroups(
  groups: readonly DiskGroup[] | undefined,
  selected: readonly string[],
): PartialGroup[] {
  const chosen = new Set(selected.map((d) => d.startsWith("/dev/") ? d.slice(5) : d));
  const partial: PartialGroup[] = [];
  for (const group of groups ?? []) {
    const missing = group.disks.filter((d) => !chosen.has(d));
    if (missing.length > 0 && missing.length < group.disks.length) {
      partial.push({ group, missing });
    }
  }
  return partial;
}

/** One sentence naming the group, its disks and the missing ones, and what to do. */
export function partialGroupMessage(p: PartialGroup): string {
  const verb = p.missing.length === 1 ? "is" : "are";
  return `${groupTitle(p.group)} spans ${listNames(p.group.disks)}, but ` +
    `${listNames(p.missing)} ${verb} not selected: convert all of them or none, ` +
    `or virt-v2v may find no root filesystem`;
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
