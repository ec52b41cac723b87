/**
 * What binds a staged copy to its machine: the firmware's machine UUID
 * (the same under the running system and under our boot medium, unlike
 * /etc/machine-id) and each disk's size and serial. A cutover onto the
 * staging of another machine would convert a mix of two machines' data.
 */
import type { HostFacts } from "../collect/types.ts";
import { CHUNK_BYTES, chunkCount } from "./chunk_hashes.ts";

export interface StagedDisk {
  /** As the config names it (`sda`, or an image's path). */
  name: string;
  size: number;
  /** The disk's serial number, "" when it has none (an image). */
  serial: string;
}

export interface StageBinding {
  /** The firmware's machine UUID, "" when it cannot be read. */
  machine: string;
  disks: StagedDisk[];
  chunkBytes: number;
}

const PRODUCT_UUID = "/sys/class/dmi/id/product_uuid";

/** The firmware's machine UUID, lower case, or "" (no DMI, or not root). */
export async function machineUuid(path = PRODUCT_UUID): Promise<string> {
  try {
    const text = (await Deno.readTextFile(path)).trim().toLowerCase();
    return /^[0-9a-f-]{32,36}$/.test(text) ? text : "";
  } catch {
    return "";
  }
}

/** This machine's binding for the disks named, with the sizes measured. */
export function localBinding(
  machine: string,
  facts: HostFacts,
  disks: { name: string; size: number }[],
): StageBinding {
  return {
    machine,
    disks: disks.map((d) => ({
      name: d.name,
      size: d.size,
      serial: facts.disks.find((f) => f.name === d.name)?.serial ?? "",
    })),
    chunkBytes: CHUNK_BYTES,
  };
}

/**
 * Why `ours` may not use the staging bound by `staged`, in one line; undefined
 * when they are the same machine and disks.
 */
export function bindingMismatch(staged: StageBinding, ours: StageBinding): string | undefined {
  if (staged.chunkBytes !== ours.chunkBytes) {
    return `it was staged with ${staged.chunkBytes}-byte chunks, not ${ours.chunkBytes}`;
  }
  if (staged.machine !== ours.machine) {
    return `it belongs to the machine ${staged.machine || "of unknown UUID"}, ` +
      `not to this one (${ours.machine || "unknown UUID"})`;
  }
  const describe = (d: StagedDisk) =>
    `${d.name} (${d.size} bytes${d.serial ? `, serial ${d.serial}` : ""})`;
  const theirs = staged.disks.map(describe).join(", ");
  const mine = ours.disks.map(describe).join(", ");
  if (theirs !== mine) return `it holds the disks ${theirs}, not ${mine}`;
  return undefined;
}

/** Parses a binding read from the server; undefined when it is not one. */
export function parseBinding(value: unknown): StageBinding | undefined {
  const v = value as Partial<StageBinding> | null;
  if (typeof v !== "object" || v === null) return undefined;
  if (typeof v.machine !== "string" || typeof v.chunkBytes !== "number") return undefined;
  if (!Array.isArray(v.disks) || v.disks.length === 0 || v.disks.length > 64) return undefined;
  for (const d of v.disks) {
    if (typeof d?.name !== "string" || typeof d.serial !== "string") return undefined;
    if (!Number.isSafeInteger(d.size) || d.size < 0) return undefined;
  }
  return { machine: v.machine, disks: v.disks, chunkBytes: v.chunkBytes };
}

/** Hash-list bytes of every disk of a binding. */
export function totalChunks(binding: StageBinding): number {
  return binding.disks.reduce((n, d) => n + chunkCount(d.size), 0);
}
