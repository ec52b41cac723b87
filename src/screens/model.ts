/**
 * What the dialog's screens share, and what they are given to act with.
 * Screens never open connections themselves: every action that reaches the
 * network, the disks or the machine is a function in DialogDeps.
 */
import type { RateLimit } from "../net/rate_limit.ts";
import type { HostFacts } from "../collect/types.ts";
import type { Config } from "../config/types.ts";
import type { ConversionOutcome } from "../engine/outcome.ts";
import type { EventSink } from "../engine/events.ts";
import type { ServerCapabilities } from "../remote/virt_v2v_probe.ts";

export interface DialogModel {
  /** The working configuration, edited by the screens (pre-filled from the command line). */
  config: Config;
  /**
   * What this machine gets with no `p2v.*` key at all: the kernel line shown
   * when the conversion is finished leaves out what still equals it.
   */
  detected: Config;
  facts: HostFacts;
  /** From the last successful test of the current connection settings. */
  capabilities?: ServerCapabilities;
  /** Host key fingerprint seen at the last connection. */
  hostKey?: string;
}

export interface ConvertRequest {
  config: Config;
  /** Known from the test connection; undefined when the test was skipped. */
  capabilities?: ServerCapabilities;
  /** Fingerprint seen by the test: the conversion's connection must present the same key. */
  hostKey?: string;
  /** The bandwidth cap, which the Running screen changes with + and -. */
  bandwidth?: RateLimit;
}

/** Command output of a network action, for the Network screen. */
export interface NetworkActionResult {
  ok: boolean;
  /** What was run and what it printed, one entry a line. */
  log: string[];
}

export interface NetworkInterfaceStatus {
  name: string;
  /** `UP`, `DOWN`, `UNKNOWN`, … as `ip` reports it. */
  state?: string;
  mac?: string;
  addresses: string[];
}

export interface NetworkStatus {
  interfaces: NetworkInterfaceStatus[];
  /** `default via 192.0.2.1 dev eth0` lines (IPv4 and IPv6). */
  defaultRoutes: string[];
  dns: string[];
  /** The DHCP client found on this system, if any. */
  dhcpClient?: string;
  /** Whether `ip` exists (needed to show and to set anything). */
  hasIp: boolean;
  /** Problems reading the state, in plain words. */
  problems: string[];
}

export interface NetworkTools {
  status(): Promise<NetworkStatus>;
  dhcp(iface: string): Promise<NetworkActionResult>;
  setStatic(
    req: { iface: string; address: string; gateway?: string; dns?: string },
  ): Promise<NetworkActionResult>;
}

export interface DialogDeps {
  version: string;
  /** `--iso`: running in the boot image, Power off and Reboot are offered. */
  iso: boolean;
  /** `--test-disk`: the disk list is fixed, no Refresh. */
  fixedDisks: boolean;
  /** Connect, authenticate, check virt-v2v, then close. Throws an Error whose message is the reason. */
  testConnection(config: Config, emit: EventSink): Promise<ServerCapabilities>;
  /** One whole conversion; never throws (failures are outcomes). */
  convert(req: ConvertRequest, emit: EventSink, signal: AbortSignal): Promise<ConversionOutcome>;
  /** Look for disks, removable drives and interfaces again. */
  refreshFacts(): Promise<HostFacts>;
  network: NetworkTools;
  /** Run an interactive shell on the terminal until it exits. */
  runShell(): Promise<void>;
  /** Return only if the machine did not go down (tests, or the command failed: then throw). */
  powerOff(): Promise<void>;
  reboot(): Promise<void>;
}

/** Memory as the dialog shows it: `4G`, `1536M`, or the exact size with a unit. */
export function formatMemory(bytes: number): string {
  const units: [string, number][] = [["T", 2 ** 40], ["G", 2 ** 30], ["M", 2 ** 20], [
    "K",
    2 ** 10,
  ]];
  for (const [unit, size] of units) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${Math.ceil(bytes / 2 ** 20)}M`;
}
