/**
 * The configuration model: one typed field for every `p2v.*` key of the
 * kernel command line, plus the few options only the command line sets.
 *
 * Host-detected defaults are filled in by `resolveConfig` (see
 * `src/config/resolve.ts`) so that every consumer sees concrete values.
 */

import type { NbdBackend } from "./nbd.ts";

/** How the guest's real-time clock relates to UTC. */
export type RtcBasis = "unknown" | "utc" | "localtime";

/** `p2v.output.allocation`. */
export type OutputAllocation = "sparse" | "preallocated";

/** An entry of `p2v.network_map`: `IFACE:target`, or a bare `target` for every interface. */
export interface NetworkMapEntry {
  /** The interface this entry applies to; `undefined` matches every interface. */
  iface?: string;
  target: string;
}

export interface CpuConfig {
  /** libvirt vendor name (`Intel`, `AMD`), or undefined when unknown. */
  vendor?: string;
  /** CPU model; never detected, only set from the command line. */
  model?: string;
  acpi: boolean;
  apic: boolean;
  pae: boolean;
}

export interface VcpuConfig {
  /** Copy the host's sockets/cores/threads instead of 1 socket × N cores. */
  physTopo: boolean;
  /** Number of vCPUs when `physTopo` is false. */
  cores: number;
}

export interface RtcConfig {
  basis: RtcBasis;
  /** Offset from UTC in seconds (what the original calls "hours" but uses as seconds). */
  offset: number;
  /** The offset exactly as written on the command line, echoed by the dump. */
  offsetText?: string;
}

export interface AuthConfig {
  /** `undefined` when not given: `root` is used to log in. */
  username?: string;
  /** Never logged, never uploaded, never put on a process argument list. */
  password?: string;
  /** `file://`, `https://` or `http://` URL of a private key. */
  identityUrl?: string;
  /** Run `sudo -n virt-v2v` on the server. */
  sudo: boolean;
}

export interface RemoteConfig {
  server?: string;
  port: number;
  /**
   * `SHA256:…` host key fingerprints to accept (`p2v.hostkey`, our extension).
   * Empty: any key is accepted and its fingerprint shown, as the original does.
   */
  hostKeys: string[];
}

export interface OutputConfig {
  /** virt-v2v `-o`. */
  type: string;
  allocation?: OutputAllocation;
  /** virt-v2v `-oc`. */
  connection?: string;
  /** virt-v2v `-of`. */
  format?: string;
  /** virt-v2v `-os`. */
  storage: string;
  /** Each item becomes one `-oo ITEM`. */
  misc: string[];
}

/**
 * A warm conversion's step (`p2v.stage`, our extension): "precopy" copies
 * the disks of the running machine into a staging area on the server,
 * "cutover" (from our boot medium) sends what changed since and converts
 * the staged copy there, "list" shows the staged copies a server holds.
 */
export type StageStep = "none" | "precopy" | "cutover" | "list";

export interface StageConfig {
  step: StageStep;
  /** The staging area on the server (`p2v.stage.dir`): an absolute directory. */
  dir?: string;
  /** Keep the staged copy after a successful cutover (`p2v.stage.keep`). */
  keep: boolean;
}

/** The complete configuration of a run. */
export interface Config {
  remote: RemoteConfig;
  auth: AuthConfig;
  guestname: string;
  vcpu: VcpuConfig;
  /** Guest memory in bytes. */
  memory: number;
  cpu: CpuConfig;
  rtc: RtcConfig;
  /** Disk names (`sda`) or absolute paths of images/devices. */
  disks: string[];
  /** Removable drive names (`sr0`). */
  removable: string[];
  /** Network interface names. */
  interfaces: string[];
  networkMap: NetworkMapEntry[];
  output: OutputConfig;
  /** Command run before connecting; `undefined` = none, `""` = run nothing. */
  pre?: string;
  /** Command run after success. */
  post?: string;
  /** Command run after failure. */
  fail?: string;
  skipTestConnection: boolean;
  dumpConfigAndExit: boolean;
  /** NBD servers to try, in order (`p2v.nbd`, our extension). */
  nbd: NbdBackend[];
  /**
   * How long to keep reconnecting after the link drops during a conversion,
   * in seconds (`p2v.reconnect`, our extension); 0 fails at once, as the
   * original does.
   */
  reconnectSeconds: number;
  /**
   * SSH channels each disk is read through (`p2v.channels`, our extension);
   * 0 lets the conversion choose from the round-trip time it measures.
   */
  channels: number;
  /**
   * The most the conversion sends over the link, in Mbit/s, all disks
   * together (`p2v.bandwidth`, our extension); 0 for no cap. The dialog
   * can change it while the disks are copied.
   */
  bandwidthMbit: number;
  /**
   * Pack what crosses a long link with zstd (`p2v.compress`, our extension):
   * wherever each disk is read through several channels.
   */
  compress: boolean;
  stage: StageConfig;
}

/**
 * What the command line and kernel command line set explicitly. Fields left
 * `undefined` are filled from the host (`HostFacts`) or the built-in defaults.
 */
export interface ConfigOverrides {
  server?: string;
  port?: number;
  hostKeys?: string[];
  username?: string;
  password?: string;
  identityUrl?: string;
  sudo?: boolean;
  guestname?: string;
  physTopo?: boolean;
  cores?: number;
  memory?: number;
  cpuVendor?: string;
  cpuModel?: string;
  acpi?: boolean;
  apic?: boolean;
  pae?: boolean;
  rtcBasis?: RtcBasis;
  rtcOffset?: number;
  rtcOffsetText?: string;
  disks?: string[];
  removable?: string[];
  interfaces?: string[];
  networkMap?: NetworkMapEntry[];
  outputType?: string;
  outputAllocation?: OutputAllocation;
  outputConnection?: string;
  outputFormat?: string;
  outputStorage?: string;
  outputMisc?: string[];
  pre?: string;
  post?: string;
  fail?: string;
  skipTestConnection?: boolean;
  dumpConfigAndExit?: boolean;
  nbd?: NbdBackend[];
  reconnectSeconds?: number;
  channels?: number;
  bandwidthMbit?: number;
  compress?: boolean;
  stageStep?: StageStep;
  stageDir?: string;
  stageKeep?: boolean;
}

/** Options of the program's own command line (see OPTIONS in docs/virt-p2v.1). */
export interface CliOptions {
  help: boolean;
  version: boolean;
  /** Kernel command line text given with `--cmdline`; `undefined` = read `/proc/cmdline`. */
  cmdline?: string;
  colours: boolean;
  iso: boolean;
  /** Absolute path of an image used as the only disk. */
  testDisk?: string;
  verbose: boolean;
  longOptions: boolean;
  shortOptions: boolean;
}
