/**
 * CPU facts for physical.xml: vendor (in libvirt's spelling), the few
 * feature flags virt-v2v cares about, topology and the online CPU count.
 * The model is deliberately not detected: only libvirt could name it
 * reliably, and a wrong model is worse than none.
 */

import { join } from "node:path";
import type { CpuFacts, CpuTopology } from "./types.ts";
import { runCommand, type Runner } from "./run_command.ts";
import { exists, readAttr, readText } from "./sysfs.ts";

/** The fields of `lscpu` output that we use; absent when lscpu did not say. */
export interface LscpuInfo {
  vendorId?: string;
  flags?: string[];
  sockets?: number;
  coresPerSocket?: number;
  threadsPerCore?: number;
  /** `CPU(s):` — present CPUs, which may include offline ones. */
  cpus?: number;
  /** `On-line CPU(s) list:` — e.g. `0-3,6`. */
  onlineList?: string;
}

/**
 * Parse `lscpu` (C locale). Keys are trimmed because util-linux ≥ 2.38
 * indents them under section headings; the first occurrence wins, which
 * on hybrid or big.LITTLE machines is the first core type.
 */
export function parseLscpu(text: string): LscpuInfo {
  const fields = parseColonFields(text);
  const info: LscpuInfo = {};
  const vendor = fields.get("Vendor ID");
  if (vendor) info.vendorId = vendor;
  const flags = fields.get("Flags");
  if (flags !== undefined) info.flags = splitFlags(flags);
  const sockets = positiveInt(fields.get("Socket(s)"));
  if (sockets !== undefined) info.sockets = sockets;
  const cores = positiveInt(fields.get("Core(s) per socket"));
  if (cores !== undefined) info.coresPerSocket = cores;
  const threads = positiveInt(fields.get("Thread(s) per core"));
  if (threads !== undefined) info.threadsPerCore = threads;
  const cpus = positiveInt(fields.get("CPU(s)"));
  if (cpus !== undefined) info.cpus = cpus;
  const online = fields.get("On-line CPU(s) list");
  if (online) info.onlineList = online;
  return info;
}

/** The x86 fields of /proc/cpuinfo we can fall back on (first processor's). */
export interface CpuinfoInfo {
  vendorId?: string;
  flags?: string[];
}

export function parseCpuinfo(text: string): CpuinfoInfo {
  const fields = parseColonFields(text);
  const info: CpuinfoInfo = {};
  const vendor = fields.get("vendor_id");
  if (vendor) info.vendorId = vendor;
  const flags = fields.get("flags");
  if (flags !== undefined) info.flags = splitFlags(flags);
  return info;
}

/** libvirt's vendor names (cpu_map); other vendors are left unset. */
export function libvirtVendor(vendorId: string | undefined): string | undefined {
  if (vendorId === "GenuineIntel") return "Intel";
  if (vendorId === "AuthenticAMD") return "AMD";
  return undefined;
}

/** Number of CPUs in a kernel CPU list such as `0-3,8,10-11`; undefined if malformed. */
export function countCpuList(list: string | undefined): number | undefined {
  if (list === undefined) return undefined;
  const text = list.trim();
  if (text === "") return undefined;
  let count = 0;
  for (const part of text.split(",")) {
    const m = part.trim().match(/^(\d+)(?:-(\d+))?$/);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return undefined;
    count += hi - lo + 1;
  }
  return count;
}

export async function collectCpu(root = "/", run: Runner = runCommand): Promise<CpuFacts> {
  const lscpu = await runLscpu(run);
  const cpuinfo = parseCpuinfo((await readText(join(root, "proc/cpuinfo"))) ?? "");

  const flags = new Set(lscpu.flags ?? cpuinfo.flags ?? []);
  const facts: CpuFacts = {
    acpi: await exists(join(root, "sys/firmware/acpi")),
    apic: flags.has("apic"),
    pae: flags.has("pae"),
    topology: topologyOf(lscpu),
    onlineCpus: await onlineCpus(root, lscpu),
  };
  const vendor = libvirtVendor(lscpu.vendorId ?? cpuinfo.vendorId);
  if (vendor !== undefined) facts.vendor = vendor;
  return facts;
}

async function runLscpu(run: Runner): Promise<LscpuInfo> {
  try {
    // Field names are translated in other locales.
    const res = await run("lscpu", [], { env: { LC_ALL: "C" } });
    return res.ok ? parseLscpu(res.stdout) : {};
  } catch {
    return {};
  }
}

/** All three numbers or none, as the original: a partial topology would be invented. */
function topologyOf(info: LscpuInfo): CpuTopology {
  const { sockets, coresPerSocket, threadsPerCore } = info;
  if (sockets !== undefined && coresPerSocket !== undefined && threadsPerCore !== undefined) {
    return { sockets, cores: coresPerSocket, threads: threadsPerCore };
  }
  return { sockets: 1, cores: 1, threads: 1 };
}

/**
 * Online CPUs, preferring the sysfs list (what sysconf(_SC_NPROCESSORS_ONLN),
 * used by the original, reads); lscpu's `CPU(s)` can include offline CPUs.
 */
async function onlineCpus(root: string, lscpu: LscpuInfo): Promise<number> {
  const n = countCpuList(await readAttr(join(root, "sys/devices/system/cpu/online"))) ??
    countCpuList(lscpu.onlineList) ??
    lscpu.cpus ??
    globalThis.navigator?.hardwareConcurrency ??
    1;
  return Math.max(1, n);
}

function parseColonFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    if (key === "" || fields.has(key)) continue;
    fields.set(key, line.slice(colon + 1).trim());
  }
  return fields;
}

function splitFlags(value: string): string[] {
  return value.split(/\s+/).filter((f) => f !== "");
}

function positiveInt(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n > 0 ? n : undefined;
}
