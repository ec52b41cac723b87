/**
 * Which SCSI disks are paths to one LUN (multipath: two HBAs, two fabric
 * switches to one array). Each path is a disk of its own to the kernel, but
 * converting two of them would copy one LUN twice, so the list shows a LUN
 * once.
 *
 * Two sources: an active dm-multipath map (uuid `mpath-…`) names its paths
 * as its slaves; without one (the boot image runs no multipathd), paths
 * share the LUN's world-wide id. Only NAA and EUI-64 ids count: they are
 * unique by design, whereas vendor-built `t10.` ids are the same for every
 * disk of some models (QEMU's SCSI disks without a serial, for one).
 */
import { join } from "node:path";
import { compareNames, listDir, readAttr } from "./sysfs.ts";

const UNIQUE_WWID = /^(naa|eui)\./;

/**
 * For each of `names` (kernel names of fixed disks) that is one path of a
 * LUN with several, every path of that LUN, sorted; the others are absent.
 */
export async function findMultipathLuns(
  root: string,
  names: readonly string[],
): Promise<Map<string, string[]>> {
  const blockDir = join(root, "sys/block");
  const sets: Set<string>[] = [];
  const byWwid = new Map<string, Set<string>>();
  for (const name of names) {
    if (!name.startsWith("sd")) continue;
    const dir = join(blockDir, name);
    const wwid = (await readAttr(join(dir, "device/wwid"))) ?? (await readAttr(join(dir, "wwid")));
    if (wwid === undefined || !UNIQUE_WWID.test(wwid)) continue;
    // A bridge that makes up its id could give two disks the same one; two
    // paths to one LUN also agree on its size and model. Hiding a real disk
    // would be worse than listing a LUN twice.
    const size = await readAttr(join(dir, "size"));
    const model = await readAttr(join(dir, "device/model"));
    const key = JSON.stringify([wwid, size, model]);
    const set = byWwid.get(key) ?? new Set<string>();
    set.add(name);
    byWwid.set(key, set);
  }
  sets.push(...byWwid.values());
  const known = new Set(names);
  for (const dm of await listDir(blockDir)) {
    if (!dm.startsWith("dm-")) continue;
    const uuid = await readAttr(join(blockDir, dm, "dm/uuid"));
    if (!uuid?.startsWith("mpath-")) continue;
    const paths = (await listDir(join(blockDir, dm, "slaves"))).filter((n) => known.has(n));
    sets.push(new Set(paths));
  }
  return lunsOf(sets);
}

/** Merges sets that share a path, then maps every path of a LUN with 2+ paths to all of them. */
function lunsOf(sets: Set<string>[]): Map<string, string[]> {
  const merged: Set<string>[] = [];
  for (const set of sets) {
    const overlapping = merged.filter((m) => [...set].some((n) => m.has(n)));
    const union = new Set([...set, ...overlapping.flatMap((m) => [...m])]);
    for (const m of overlapping) merged.splice(merged.indexOf(m), 1);
    merged.push(union);
  }
  const luns = new Map<string, string[]>();
  for (const set of merged) {
    if (set.size < 2) continue;
    const paths = [...set].sort(compareNames);
    for (const p of paths) luns.set(p, paths);
  }
  return luns;
}
