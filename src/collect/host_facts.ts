/**
 * One call that gathers everything the conversion needs to know about the physical
 * machine. The collectors are independent and read-only, so they run
 * concurrently; each already turns missing information into "unknown".
 */

import type { HostFacts } from "./types.ts";
import { runCommand, type Runner } from "./run_command.ts";
import { findDisks } from "./disks.ts";
import { findDiskGroups } from "./disk_groups.ts";
import { findInterfaces } from "./interfaces.ts";
import { collectCpu } from "./cpu.ts";
import { collectMemory } from "./memory.ts";
import { collectRtc, localTzOffset, systemNow } from "./rtc.ts";
import { collectHostname, denoHostname } from "./hostname.ts";
import { collectFirmware } from "./firmware.ts";

export interface CollectOptions {
  /** Where /sys and /proc live; a fake tree in tests. Default `/`. */
  root?: string;
  /** Runs `lscpu`. Note the default runs the real tool even with a fake root. */
  run?: Runner;
  /** System time, seconds since the epoch. */
  now?: () => number;
  /** Local zone offset east of UTC, seconds. */
  tzOffset?: () => number;
  /** Raw hostname; undefined means "read ROOT/proc/sys/kernel/hostname". */
  hostname?: () => string | undefined;
}

export async function collectHostFacts(opts: CollectOptions = {}): Promise<HostFacts> {
  const root = opts.root ?? "/";
  const [found, interfaces, cpu, memory, rtc, hostname, firmware] = await Promise.all([
    findDisks(root),
    findInterfaces(root),
    collectCpu(root, opts.run ?? runCommand),
    collectMemory(root),
    collectRtc(root, opts.now ?? systemNow, opts.tzOffset ?? localTzOffset),
    collectHostname(root, opts.hostname ?? denoHostname),
    collectFirmware(root),
  ]);
  const facts: HostFacts = {
    disks: found.disks,
    removable: found.removable,
    interfaces,
    cpu,
    memory,
    rtc,
    arch: hostArch(),
    firmware,
  };
  if (found.bootMedium.length > 0) facts.bootMedium = found.bootMedium;
  if (found.runningSystem.length > 0) facts.runningSystem = found.runningSystem;
  const diskGroups = await findDiskGroups(
    root,
    [...found.disks, ...found.bootMedium].map((d) => d.name),
  );
  if (diskGroups.length > 0) facts.diskGroups = diskGroups;
  if (hostname !== undefined) facts.hostname = hostname;
  return facts;
}

/** libvirt/virt-v2v architecture names; Deno already uses them for Linux targets. */
export function hostArch(): string {
  const arch: string = Deno.build.arch;
  if (arch === "x64" || arch === "amd64") return "x86_64";
  if (arch === "arm64") return "aarch64";
  return arch;
}
