/**
 * Turning what the user wrote (ConfigOverrides) plus what the machine has
 * (HostFacts) into one concrete Config, so that no later stage needs to
 * know about defaults.
 */

import type { HostFacts } from "../collect/types.ts";
import { DEFAULT_NBD_PREFERENCE } from "./nbd.ts";
import { randomString } from "../system/random.ts";
import type { Config, ConfigOverrides } from "./types.ts";
import { defaultOutputStorage } from "./output_rules.ts";

/** `p2v.reconnect` when not given: ten minutes, long enough for a switch to reboot. */
export const DEFAULT_RECONNECT_SECONDS = 600;

export interface ResolveContext {
  /** `--test-disk`: replaces the host's disks and removable drives as defaults. */
  testDisk?: string;
  /** The settings came from `/proc/cmdline` (a real boot), not `--cmdline`. */
  fromProcCmdline: boolean;
  isRoot: boolean;
  /** Injected for tests; defaults to 8 random lowercase letters/digits. */
  randomName?: () => string;
  /** Where warnings about the settings go (the caller prints them); none when not given. */
  warn?: (message: string) => void;
}

/**
 * The disks of `p2v.disks` that are the medium this machine booted from.
 * They are never a default, but a sysadmin may really mean one: it is kept.
 */
export function bootMediumNamed(disks: readonly string[], host: HostFacts): string[] {
  const medium = new Set((host.bootMedium ?? []).map((d) => d.name));
  return disks.filter((d) => medium.has(d.startsWith("/dev/") ? d.slice(5) : d));
}

/**
 * `poweroff` after success is only the default on a real unattended boot
 * as root: running the program by hand with `--cmdline` must never switch
 * the operator's machine off.
 */
function defaultPost(ctx: ResolveContext): string | undefined {
  return ctx.isRoot && ctx.fromProcCmdline ? "poweroff" : undefined;
}

export function resolveConfig(o: ConfigOverrides, host: HostFacts, ctx: ResolveContext): Config {
  const hostDisks = ctx.testDisk !== undefined ? [ctx.testDisk] : host.disks.map((d) => d.name);
  const hostRemovable = ctx.testDisk !== undefined ? [] : host.removable.map((r) => r.name);
  const hostName = host.hostname !== undefined && host.hostname !== "" ? host.hostname : undefined;
  // host.disks already leaves out the boot medium, so only an explicit list can name it.
  for (const name of bootMediumNamed(o.disks ?? [], host)) {
    ctx.warn?.(
      `p2v.disks names ${name}, the medium this machine booted from; converting it as asked`,
    );
  }

  const outputType = o.outputType ?? "local";
  return {
    remote: { server: o.server, port: o.port ?? 22, hostKeys: o.hostKeys ?? [] },
    auth: {
      username: o.username,
      password: o.password,
      identityUrl: o.identityUrl,
      sudo: o.sudo ?? false,
    },
    guestname: o.guestname ?? hostName ?? (ctx.randomName ?? (() => randomString(8)))(),
    vcpu: {
      physTopo: o.physTopo ?? false,
      // A machine always has at least one CPU, whatever detection said.
      cores: o.cores ?? Math.max(1, host.cpu.onlineCpus),
    },
    memory: o.memory ?? host.memory,
    cpu: {
      vendor: o.cpuVendor ?? host.cpu.vendor,
      model: o.cpuModel,
      acpi: o.acpi ?? host.cpu.acpi,
      apic: o.apic ?? host.cpu.apic,
      pae: o.pae ?? host.cpu.pae,
    },
    rtc: {
      basis: o.rtcBasis ?? host.rtc.basis,
      offset: o.rtcOffset ?? host.rtc.offset,
      offsetText: o.rtcOffsetText,
    },
    // Copies, so that editing the config (e.g. in the dialog) never touches the inputs.
    disks: [...(o.disks ?? hostDisks)],
    removable: [...(o.removable ?? hostRemovable)],
    interfaces: [...(o.interfaces ?? host.interfaces.map((i) => i.name))],
    networkMap: (o.networkMap ?? []).map((e) => ({ ...e })),
    output: {
      type: outputType,
      allocation: o.outputAllocation,
      connection: o.outputConnection,
      format: o.outputFormat,
      storage: o.outputStorage ?? defaultOutputStorage(outputType),
      misc: [...(o.outputMisc ?? [])],
    },
    pre: o.pre,
    post: o.post ?? defaultPost(ctx),
    fail: o.fail,
    skipTestConnection: o.skipTestConnection ?? false,
    dumpConfigAndExit: o.dumpConfigAndExit ?? false,
    nbd: o.nbd ?? [...DEFAULT_NBD_PREFERENCE],
    reconnectSeconds: o.reconnectSeconds ?? DEFAULT_RECONNECT_SECONDS,
    channels: o.channels ?? 0,
    bandwidthMbit: o.bandwidthMbit ?? 0,
    compress: o.compress ?? true,
    stage: { step: o.stageStep ?? "none", dir: o.stageDir, keep: o.stageKeep ?? false },
  };
}
