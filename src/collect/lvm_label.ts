/**
 * Which LVM volume group a device belongs to, read from its own PV label
 * and metadata area. The boot image runs neither udev nor the lvm tools, so
 * no volume group is active there: the disks themselves are the only place
 * that says which of them belong together.
 *
 * Layout (lib/format_text/layout.h of LVM2): a label sector starting
 * "LABELONE" in one of the first four sectors, its PV header (the PV's id,
 * then lists of data and metadata areas), and at the start of the first
 * metadata area a header whose first location points at the current
 * metadata text, `VGNAME { id = "…" … physical_volumes { pv0 { id = "…" …`.
 */
import type { DiskReader } from "./efi_partition.ts";

/** What a PV says of itself and its volume group. */
export interface LvmMember {
  /** The PV's id, without dashes. */
  pvId: string;
  /** The volume group's name. */
  vgName: string;
  /** The volume group's id, without dashes: names may repeat across machines, ids do not. */
  vgId: string;
  /** Every PV of the group, this one included. */
  pvs: LvmPv[];
}

/** A PV as the group's metadata lists it. */
export interface LvmPv {
  /** Without dashes. */
  id: string;
  /** The device it was last seen as (`/dev/sdc2`), a hint: names change between boots. */
  device?: string;
}

const SECTOR = 512;
const LABEL_SCAN_SECTORS = 4;
const MDA_MAGIC = " LVM2 x[5A%r0N*>";
/** The metadata text of even a large VG is well below this; a bound on what we read. */
const MAX_METADATA_TEXT = 4 * 2 ** 20;
const MAX_AREAS = 16;

/** The PV's volume group, or undefined when the device is no PV or a PV in no group. */
export async function readLvmMember(read: DiskReader): Promise<LvmMember | undefined> {
  const head = await read(0, SECTOR * LABEL_SCAN_SECTORS);
  for (let sector = 0; sector < LABEL_SCAN_SECTORS; sector++) {
    const at = sector * SECTOR;
    if (head.length < at + SECTOR) break;
    if (ascii(head, at, 8) !== "LABELONE" || ascii(head, at + 24, 8) !== "LVM2 001") continue;
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const pvHeader = at + view.getUint32(at + 20, true);
    return await readPv(read, head, pvHeader);
  }
  return undefined;
}

async function readPv(
  read: DiskReader,
  head: Uint8Array,
  pvHeader: number,
): Promise<LvmMember | undefined> {
  if (pvHeader + 32 + 8 > head.length) return undefined;
  const pvId = ascii(head, pvHeader, 32);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  // After the id and the device size: the data areas, then the metadata
  // areas, each list ended by an all-zero (offset, size) pair.
  let at = pvHeader + 32 + 8;
  const lists: bigint[][] = [[], []];
  for (const list of lists) {
    for (let i = 0; i <= MAX_AREAS; i++) {
      if (at + 16 > head.length) return undefined;
      const offset = view.getBigUint64(at, true);
      const size = view.getBigUint64(at + 8, true);
      at += 16;
      if (offset === 0n && size === 0n) break;
      list.push(offset);
    }
  }
  for (const mdaOffset of lists[1]) {
    const text = await readMetadataText(read, Number(mdaOffset));
    const member = text === undefined ? undefined : parseVgMetadata(text, pvId);
    if (member !== undefined) return member;
  }
  return undefined;
}

/** The current metadata text of the area at `mda`, which is a ring after its header sector. */
async function readMetadataText(read: DiskReader, mda: number): Promise<string | undefined> {
  if (!Number.isSafeInteger(mda)) return undefined;
  const header = await read(mda, SECTOR);
  if (header.length < 64 || ascii(header, 4, 16) !== MDA_MAGIC) return undefined;
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const areaSize = Number(view.getBigUint64(32, true));
  const offset = Number(view.getBigUint64(40, true));
  const size = Number(view.getBigUint64(48, true));
  if (offset === 0 || size === 0 || size > MAX_METADATA_TEXT || offset >= areaSize) {
    return undefined;
  }
  // Text that runs past the end of the area goes on right after the header.
  const first = Math.min(size, areaSize - offset);
  const parts = [await read(mda + offset, first)];
  if (first < size) parts.push(await read(mda + SECTOR, size - first));
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    bytes.set(p, pos);
    pos += p.length;
  }
  return new TextDecoder().decode(bytes).replace(/\0+$/, "");
}

/**
 * The group of PV `pvId` from a metadata text. Only what matters here is
 * parsed: the group's name and id, and the id and last device name of each
 * PV under `physical_volumes`.
 */
export function parseVgMetadata(text: string, pvId: string): LvmMember | undefined {
  const top = /^\s*([A-Za-z0-9+_.-]+)\s*\{\s*id\s*=\s*"([^"]+)"/.exec(text);
  if (top === null) return undefined;
  const start = /physical_volumes\s*\{/.exec(text);
  if (start === null) return undefined;
  const pvs: LvmPv[] = [];
  // Each PV is a `pvN { id = "…" device = "…" … }` block; stop at the list's end.
  const block = text.slice(start.index + start[0].length);
  let depth = 1;
  let current: LvmPv | undefined;
  for (const token of block.matchAll(/\{|\}|\b(id|device)\s*=\s*"([^"]*)"/g)) {
    if (token[0] === "{") {
      depth++;
      if (depth === 2) current = { id: "" };
    } else if (token[0] === "}") {
      if (depth === 2 && current !== undefined && current.id !== "") pvs.push(current);
      if (--depth === 0) break;
    } else if (depth === 2 && current !== undefined) {
      if (token[1] === "id" && current.id === "") current.id = undash(token[2]);
      else if (token[1] === "device" && current.device === undefined) current.device = token[2];
    }
  }
  if (!pvs.some((pv) => pv.id === undash(pvId))) return undefined;
  return { pvId: undash(pvId), vgName: top[1], vgId: undash(top[2]), pvs };
}

function undash(id: string): string {
  return id.replaceAll("-", "");
}

function ascii(bytes: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + length));
}
