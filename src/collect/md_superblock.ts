/**
 * Which md RAID array a device is a member of, read from its own md
 * superblock. The boot image assembles no arrays, so the members' superblocks
 * are the only place that says which disks belong together.
 *
 * Layouts (the kernel's include/uapi/linux/raid/md_p.h): version 1.x at the
 * start of the device (1.1), 4 KiB in (1.2) or 8 KiB before its end, on a
 * 4 KiB boundary (1.0); version 0.90 in the last 64 KiB-aligned 64 KiB. Both
 * start with the magic 0xa92b4efc, little-endian on the machines we run on.
 */
import type { DiskReader } from "./efi_partition.ts";
import { hexOf } from "../text/hex.ts";

export interface MdMember {
  /** The array's UUID, 32 hex digits: what every member shares. */
  arrayUuid: string;
  /** The array's name from a 1.x superblock (`host:0`), when it has one. */
  arrayName?: string;
}

const MD_MAGIC = 0xa92b4efc;
const V090_RESERVED = 64 * 1024;

/** The device's array, or undefined when it carries no md superblock. */
export async function readMdMember(
  read: DiskReader,
  sizeBytes: number,
): Promise<MdMember | undefined> {
  const v1Offsets = [0, 4096];
  if (sizeBytes >= 12 * 1024) v1Offsets.push(Math.floor((sizeBytes - 8192) / 4096) * 4096);
  for (const offset of v1Offsets) {
    const member = parseMdSuperblock1(await read(offset, 256));
    if (member !== undefined) return member;
  }
  if (sizeBytes >= 2 * V090_RESERVED) {
    const offset = Math.floor(sizeBytes / V090_RESERVED) * V090_RESERVED - V090_RESERVED;
    return parseMdSuperblock090(await read(offset, 128));
  }
  return undefined;
}

/** struct mdp_superblock_1: magic, major_version 1, …, set_uuid at 16, set_name at 32. */
export function parseMdSuperblock1(bytes: Uint8Array): MdMember | undefined {
  if (bytes.length < 64) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MD_MAGIC || view.getUint32(4, true) !== 1) return undefined;
  const member: MdMember = { arrayUuid: hexOf(bytes.subarray(16, 32)) };
  const name = new TextDecoder().decode(bytes.subarray(32, 64)).replace(/\0.*$/s, "");
  if (name !== "") member.arrayName = name;
  return member;
}

/** mdp_super_t: magic, major_version 0, set_uuid0 at 20, set_uuid1–3 at 52. */
export function parseMdSuperblock090(bytes: Uint8Array): MdMember | undefined {
  if (bytes.length < 64) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MD_MAGIC || view.getUint32(4, true) !== 0) return undefined;
  return { arrayUuid: hexOf(bytes.subarray(20, 24)) + hexOf(bytes.subarray(52, 64)) };
}
