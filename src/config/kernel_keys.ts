/**
 * Mapping the `p2v.*` keys of a kernel command line onto ConfigOverrides
 * (each documented in docs/virt-p2v.1). Only what the user wrote ends up here; host defaults are
 * applied later by `resolveConfig`.
 */

import type { ConfigOverrides } from "./types.ts";
import { tokeniseCmdline } from "./tokenise.ts";
import {
  parseAbsolutePath,
  parseBandwidth,
  parseBool,
  parseChannels,
  parseCores,
  parseHostKeys,
  parseIdentityUrl,
  parseList,
  parseNbdBackends,
  parseNetworkMap,
  parseOptionalString,
  parseOutputAllocation,
  parsePort,
  parseReconnect,
  parseRequiredString,
  parseRtcBasis,
  parseRtcOffset,
  parseSize,
  parseStageStep,
} from "./values.ts";

/** Writes one key's value into the overrides; `key` is as written, for messages. */
type Apply = (o: ConfigOverrides, key: string, value: string | undefined) => void;

interface KeySpec {
  readonly key: string;
  readonly alias?: string;
  readonly apply: Apply;
}

/**
 * A command: the bare key or an empty value is "" — "run nothing", which is
 * not the same as absent (absent `p2v.post` may default to poweroff).
 */
const command = (value: string | undefined): string => value ?? "";

/** Keys whose values are secrets: never shown, logged or uploaded. */
export const SECRET_KEYS: readonly string[] = ["p2v.auth.password", "p2v.password"];

export const KERNEL_KEYS: readonly KeySpec[] = [
  {
    key: "p2v.remote.server",
    alias: "p2v.server",
    apply: (o, k, v) =>
      o.server = parseRequiredString(k, v, "the name or IP address of the conversion server"),
  },
  { key: "p2v.remote.port", alias: "p2v.port", apply: (o, k, v) => o.port = parsePort(k, v) },
  // Our extensions: choose the NBD server; pin the conversion server's host key.
  { key: "p2v.nbd", apply: (o, k, v) => o.nbd = parseNbdBackends(k, v) },
  { key: "p2v.hostkey", apply: (o, k, v) => o.hostKeys = parseHostKeys(k, v) },
  { key: "p2v.reconnect", apply: (o, k, v) => o.reconnectSeconds = parseReconnect(k, v) },
  { key: "p2v.channels", apply: (o, k, v) => o.channels = parseChannels(k, v) },
  { key: "p2v.bandwidth", apply: (o, k, v) => o.bandwidthMbit = parseBandwidth(k, v) },
  { key: "p2v.compress", apply: (o, k, v) => o.compress = parseBool(k, v) },
  { key: "p2v.stage", apply: (o, k, v) => o.stageStep = parseStageStep(k, v) },
  { key: "p2v.stage.dir", apply: (o, k, v) => o.stageDir = parseAbsolutePath(k, v) },
  { key: "p2v.stage.keep", apply: (o, k, v) => o.stageKeep = parseBool(k, v) },
  {
    key: "p2v.auth.username",
    alias: "p2v.username",
    apply: (o, _k, v) => o.username = parseOptionalString(v),
  },
  {
    key: "p2v.auth.password",
    alias: "p2v.password",
    apply: (o, _k, v) => o.password = parseOptionalString(v),
  },
  {
    key: "p2v.auth.identity.url",
    alias: "p2v.identity",
    apply: (o, k, v) => o.identityUrl = parseIdentityUrl(k, v),
  },
  { key: "p2v.auth.sudo", alias: "p2v.sudo", apply: (o, k, v) => o.sudo = parseBool(k, v) },
  {
    key: "p2v.guestname",
    alias: "p2v.name",
    apply: (o, k, v) => o.guestname = parseRequiredString(k, v, "the name of the guest to create"),
  },
  { key: "p2v.vcpu.phys_topo", apply: (o, k, v) => o.physTopo = parseBool(k, v) },
  { key: "p2v.vcpu.cores", apply: (o, k, v) => o.cores = parseCores(k, v) },
  { key: "p2v.memory", apply: (o, k, v) => o.memory = parseSize(k, v) },
  { key: "p2v.cpu.vendor", apply: (o, _k, v) => o.cpuVendor = parseOptionalString(v) },
  { key: "p2v.cpu.model", apply: (o, _k, v) => o.cpuModel = parseOptionalString(v) },
  { key: "p2v.cpu.acpi", apply: (o, k, v) => o.acpi = parseBool(k, v) },
  { key: "p2v.cpu.apic", apply: (o, k, v) => o.apic = parseBool(k, v) },
  { key: "p2v.cpu.pae", apply: (o, k, v) => o.pae = parseBool(k, v) },
  { key: "p2v.rtc.basis", apply: (o, k, v) => o.rtcBasis = parseRtcBasis(k, v) },
  {
    key: "p2v.rtc.offset",
    apply: (o, k, v) => {
      const offset = parseRtcOffset(k, v);
      o.rtcOffset = offset.seconds;
      o.rtcOffsetText = offset.text;
    },
  },
  { key: "p2v.disks", apply: (o, _k, v) => o.disks = parseList(v) },
  { key: "p2v.removable", apply: (o, _k, v) => o.removable = parseList(v) },
  { key: "p2v.interfaces", apply: (o, _k, v) => o.interfaces = parseList(v) },
  {
    key: "p2v.network_map",
    alias: "p2v.network",
    apply: (o, k, v) => o.networkMap = parseNetworkMap(k, v),
  },
  {
    key: "p2v.output.type",
    alias: "p2v.o",
    apply: (o, k, v) =>
      o.outputType = parseRequiredString(k, v, "a virt-v2v output mode (-o), e.g. local"),
  },
  {
    key: "p2v.output.allocation",
    alias: "p2v.oa",
    apply: (o, k, v) => o.outputAllocation = parseOutputAllocation(k, v),
  },
  {
    key: "p2v.output.connection",
    alias: "p2v.oc",
    apply: (o, _k, v) => o.outputConnection = parseOptionalString(v),
  },
  {
    key: "p2v.output.format",
    alias: "p2v.of",
    apply: (o, _k, v) => o.outputFormat = parseOptionalString(v),
  },
  {
    key: "p2v.output.storage",
    alias: "p2v.os",
    apply: (o, k, v) =>
      o.outputStorage = parseRequiredString(k, v, "a virt-v2v output storage (-os), e.g. /var/tmp"),
  },
  { key: "p2v.output.misc", alias: "p2v.oo", apply: (o, _k, v) => o.outputMisc = parseList(v) },
  { key: "p2v.pre", apply: (o, _k, v) => o.pre = command(v) },
  { key: "p2v.post", apply: (o, _k, v) => o.post = command(v) },
  { key: "p2v.fail", apply: (o, _k, v) => o.fail = command(v) },
  // The original tested only for presence; a parsed boolean lets `=0` mean no.
  { key: "p2v.skip_test_connection", apply: (o, k, v) => o.skipTestConnection = parseBool(k, v) },
  { key: "p2v.dump_config_and_exit", apply: (o, k, v) => o.dumpConfigAndExit = parseBool(k, v) },
];

/** Internal fields of the original that were never meant to be set by hand. */
const NOT_ON_CMDLINE: readonly string[] = [
  "p2v.auth.identity.file",
  "p2v.auth.identity.file_needs_update",
];

export interface CmdlineOverrides {
  overrides: ConfigOverrides;
  warnings: string[];
}

/**
 * Reads the `p2v.*` keys of a kernel command line. Everything else
 * (`root=`, `console=`, and `ip=`, which is for the boot image's init) is
 * ignored. The first occurrence of a key wins; a canonical key beats its
 * alias wherever each appears.
 *
 * An unknown `p2v.` key is a warning, not an error: the original ignored
 * them silently, and a boot image shared by a fleet may carry keys for a
 * newer or older version. Warnings never quote values (passwords).
 *
 * Throws ConfigError for the first invalid value.
 */
export function overridesFromCmdline(text: string): CmdlineOverrides {
  const { tokens, warnings } = tokeniseCmdline(text);

  const first = new Map<string, string | undefined>();
  const repeated = new Set<string>();
  for (const token of tokens) {
    if (!token.key.startsWith("p2v.")) continue;
    if (first.has(token.key)) repeated.add(token.key);
    else first.set(token.key, token.value);
  }

  const known = new Set<string>();
  for (const spec of KERNEL_KEYS) {
    known.add(spec.key);
    if (spec.alias !== undefined) known.add(spec.alias);
  }
  for (const key of first.keys()) {
    if (NOT_ON_CMDLINE.includes(key)) {
      warnings.push(`${key} cannot be set on the kernel command line; ignored`);
    } else if (!known.has(key)) {
      warnings.push(`unknown key ${key} on the kernel command line; ignored`);
    }
  }
  for (const key of repeated) {
    if (known.has(key)) {
      warnings.push(`${key} is given more than once; the first one is used`);
    }
  }

  const overrides: ConfigOverrides = {};
  for (const spec of KERNEL_KEYS) {
    let used: string | undefined;
    if (first.has(spec.key)) used = spec.key;
    else if (spec.alias !== undefined && first.has(spec.alias)) used = spec.alias;
    if (used === undefined) continue;
    if (used === spec.key && spec.alias !== undefined && first.has(spec.alias)) {
      warnings.push(`${spec.alias} is ignored because ${spec.key} is given`);
    }
    spec.apply(overrides, used, first.get(used));
  }

  return { overrides, warnings };
}
