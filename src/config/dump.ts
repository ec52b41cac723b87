/**
 * The text printed by `p2v.dump_config_and_exit`. Test scripts of
 * the original grep this output, so names, order and padding are fixed.
 */

import { VERSION } from "../version.ts";
import type { Config } from "./types.ts";
import { maskUrlPasswords } from "./mask_url.ts";
import { formatNetworkMapEntry } from "./values.ts";

const NONE = "(none)";

/** `%-20s %s`, as the original printed every line. */
function line(name: string, value: string): string {
  return `${name.padEnd(20)} ${value}`;
}

function optional(value: string | undefined): string {
  return value ?? NONE;
}

/**
 * An empty list prints `(none)` rather than nothing: the original printed
 * `(none)` for lists it never set (no disks found, no `-oo`) and a blank
 * for lists set empty, and our Config cannot tell those apart.
 */
function list(items: readonly string[]): string {
  return items.length === 0 ? NONE : items.join(" ");
}

function bool(value: boolean): string {
  return value ? "true" : "false";
}

/**
 * `local version` is the bare version number, as the original printed
 * (its package version, without the program name). The password, and a
 * password inside the identity URL, are masked so a dump can be pasted into
 * a ticket. The dump is taken before any
 * connection, so the remote version is always unknown, as in the original.
 */
export function dumpConfig(config: Config): string {
  const lines = [
    line("local version", VERSION),
    line("remote version", "unknown"),
    line("remote.server", optional(config.remote.server)),
    line("remote.port", String(config.remote.port)),
    line("auth.username", optional(config.auth.username)),
    line("auth.password", config.auth.password === undefined ? NONE : "***"),
    line(
      "auth.identity.url",
      optional(config.auth.identityUrl && maskUrlPasswords(config.auth.identityUrl)),
    ),
    line("auth.sudo", bool(config.auth.sudo)),
    line("guestname", config.guestname),
    line("vcpu.phys_topo", bool(config.vcpu.physTopo)),
    line("vcpu.cores", String(config.vcpu.cores)),
    line("memory", String(config.memory)),
    line("cpu.vendor", optional(config.cpu.vendor)),
    line("cpu.model", optional(config.cpu.model)),
    line("cpu.acpi", bool(config.cpu.acpi)),
    line("cpu.apic", bool(config.cpu.apic)),
    line("cpu.pae", bool(config.cpu.pae)),
    line("rtc.basis", config.rtc.basis),
    line("rtc.offset", String(config.rtc.offset)),
    line("disks", list(config.disks)),
    line("removable", list(config.removable)),
    line("interfaces", list(config.interfaces)),
    line("network_map", list(config.networkMap.map(formatNetworkMapEntry))),
    line("output.type", config.output.type),
    // The original's enum has an explicit `none` member, printed as such.
    line("output.allocation", config.output.allocation ?? "none"),
    line("output.connection", optional(config.output.connection)),
    line("output.format", optional(config.output.format)),
    // Empty for `-o null`, which takes no -os.
    line("output.storage", config.output.storage === "" ? NONE : config.output.storage),
    line("output.misc", list(config.output.misc)),
    // Our extensions, after every line the original prints.
    line("remote.hostkey", list(config.remote.hostKeys)),
    line("nbd", list(config.nbd)),
    line("reconnect", String(config.reconnectSeconds)),
    line("channels", config.channels === 0 ? "auto" : String(config.channels)),
    line("bandwidth", config.bandwidthMbit === 0 ? "unlimited" : `${config.bandwidthMbit} Mbit/s`),
    line("compress", config.compress ? "yes" : "no"),
    line("stage", config.stage.step),
    line("stage.dir", optional(config.stage.dir)),
    line("stage.keep", config.stage.keep ? "yes" : "no"),
  ];
  return lines.join("\n") + "\n";
}
