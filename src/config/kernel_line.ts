/**
 * The `p2v.*` kernel command line that repeats a conversion unattended:
 * convert one machine in the dialog, then boot the others with this line.
 * It is written for `overridesFromCmdline` (src/config/kernel_keys.ts) to
 * read back into the same configuration.
 *
 * Which values are written: only those that differ from what this machine
 * gets with no `p2v.*` key at all (`resolveConfig` of no overrides). A value
 * left as detected — the disks, the interfaces, the memory, the guest name
 * taken from the hostname — is left out so that every other machine detects
 * its own; a value the user changed is a choice and is kept (a sysadmin can
 * still delete, say, `p2v.name=` before booting a fleet with it).
 *
 * Never written: the password (a secret, and /proc/cmdline is readable by
 * every user), an identity URL that holds a password, and
 * `p2v.dump_config_and_exit` (a way to run, not a setting of the conversion).
 */

import { networkTarget } from "../remote/network_target.ts";
import type { Config } from "./types.ts";
import { maskUrlPasswords } from "./mask_url.ts";
import { formatNetworkMapEntry, parseRtcOffset } from "./values.ts";

export interface KernelLineInput {
  /** The settings the conversion ran with. */
  config: Config;
  /** What this machine gets with no `p2v.*` key: values equal to it are left out. */
  detected: Config;
  /**
   * The conversion server's host key fingerprint as the user saw and accepted
   * it; pinned with `p2v.hostkey` when the settings pin none, so that the
   * unattended machines, with nobody to look, accept only that server.
   */
  seenHostKey?: string;
}

export interface KernelLine {
  /** `key` or `key=value` words, quoted as the kernel command line parser reads them. */
  words: string[];
  /** What the line leaves out and why, one sentence each. */
  notes: string[];
}

/** The words joined by single blanks: the text to put on the kernel command line. */
export function kernelLineText(line: KernelLine): string {
  return line.words.join(" ");
}

/**
 * A kernel command line has no escape character: a double quote cannot be
 * inside a value, and a control character (a newline, a tab, C1) would not
 * survive a PXE configuration file or a copy from the screen.
 */
// deno-lint-ignore no-control-regex
const UNWRITABLE = /["\x00-\x1f\x7f-\x9f]/;

/** `value` as one word of the line, or undefined when no word reads back as it. */
export function quoteValue(value: string): string | undefined {
  if (UNWRITABLE.test(value)) return undefined;
  // Between double quotes blanks do not end the word; the quotes are removed when read.
  return value.includes(" ") ? `"${value}"` : value;
}

/**
 * A comma list. An item holding a comma would be read as two, and a list of
 * one empty item is written exactly as the empty list.
 */
function listValue(items: readonly string[]): string | undefined {
  if (items.some((i) => i.includes(","))) return undefined;
  if (items.length === 1 && items[0] === "") return undefined;
  return items.join(",");
}

const SIZE_UNITS = ["k", "M", "G", "T", "P", "E"];

/**
 * A memory size as `parseSize` reads it: the largest binary unit that holds
 * it exactly (`1536M`), else a decimal one (`4GB`, as someone may have typed
 * it). A bare number is refused by the parser, so a size no unit divides
 * cannot be written.
 */
export function sizeValue(bytes: number): string | undefined {
  for (const [base, suffix] of [[1024, ""], [1000, "B"]] as const) {
    for (let power = SIZE_UNITS.length; power >= 1; power--) {
      const unit = base ** power;
      if (bytes >= unit && bytes % unit === 0) {
        return `${bytes / unit}${SIZE_UNITS[power - 1]}${suffix}`;
      }
    }
  }
  return undefined;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Collects the words of the line in the order of the manual's list of keys. */
class LineBuilder {
  readonly words: string[] = [];
  readonly notes: string[] = [];

  /** `key=value`; a value that cannot be written becomes a note instead. */
  value(key: string, value: string | undefined): void {
    const quoted = value === undefined ? undefined : quoteValue(value);
    if (quoted === undefined) {
      this.notes.push(
        `${key} is left out: its value cannot be written on a kernel command line; set it by hand.`,
      );
    } else this.words.push(`${key}=${quoted}`);
  }

  /** The bare key is true, as the manual writes flags; `=0` is false. */
  flag(key: string, on: boolean): void {
    this.words.push(on ? key : `${key}=0`);
  }
}

/**
 * Optional strings (`p2v.username`, `p2v.oc`, …): an empty value reads as
 * "not set", which is how an unset value is written.
 */
function optionalValue(value: string | undefined): string {
  return value ?? "";
}

/** Keys that refuse an empty value (`p2v.server`, `p2v.name`, `p2v.o`, `p2v.os`). */
function requiredValue(value: string): string | undefined {
  return value === "" ? undefined : value;
}

export function kernelLine(input: KernelLineInput): KernelLine {
  const { config: c, detected: d } = input;
  const b = new LineBuilder();

  if (c.remote.server !== undefined) b.value("p2v.server", requiredValue(c.remote.server));
  else {
    // Without a server the line would open the dialog instead of converting.
    b.notes.push("No conversion server is set: this line opens the dialog.");
  }
  if (c.remote.port !== d.remote.port) b.value("p2v.port", String(c.remote.port));
  const hostKeys = c.remote.hostKeys.length === 0 && input.seenHostKey !== undefined
    ? [input.seenHostKey]
    : c.remote.hostKeys;
  if (!sameList(hostKeys, d.remote.hostKeys)) b.value("p2v.hostkey", listValue(hostKeys));

  if (c.auth.username !== d.auth.username) {
    b.value("p2v.username", optionalValue(c.auth.username));
  }
  if (c.auth.password !== undefined) {
    b.notes.push(
      "The password is not included: add p2v.password=… by hand, or better, use p2v.identity.",
    );
  }
  const identity = c.auth.identityUrl;
  if (identity !== d.auth.identityUrl) {
    if (identity !== undefined && maskUrlPasswords(identity) !== identity) {
      b.notes.push("p2v.identity is left out: its URL holds a password; add it by hand.");
    } else b.value("p2v.identity", optionalValue(identity));
  }
  if (c.auth.sudo !== d.auth.sudo) b.flag("p2v.sudo", c.auth.sudo);

  if (c.guestname !== d.guestname) b.value("p2v.name", requiredValue(c.guestname));
  if (c.vcpu.physTopo !== d.vcpu.physTopo) b.flag("p2v.vcpu.phys_topo", c.vcpu.physTopo);
  if (c.vcpu.cores !== d.vcpu.cores) b.value("p2v.vcpu.cores", String(c.vcpu.cores));
  if (c.memory !== d.memory) b.value("p2v.memory", sizeValue(c.memory));
  if (c.cpu.vendor !== d.cpu.vendor) {
    if (c.cpu.vendor === undefined) {
      // An empty p2v.cpu.vendor means "not given", which falls back to the detected vendor.
      b.notes.push("p2v.cpu.vendor cannot be unset on the kernel command line.");
    } else b.value("p2v.cpu.vendor", requiredValue(c.cpu.vendor));
  }
  if (c.cpu.model !== d.cpu.model) b.value("p2v.cpu.model", optionalValue(c.cpu.model));
  if (c.cpu.acpi !== d.cpu.acpi) b.flag("p2v.cpu.acpi", c.cpu.acpi);
  if (c.cpu.apic !== d.cpu.apic) b.flag("p2v.cpu.apic", c.cpu.apic);
  if (c.cpu.pae !== d.cpu.pae) b.flag("p2v.cpu.pae", c.cpu.pae);
  if (c.rtc.basis !== d.rtc.basis) b.value("p2v.rtc.basis", c.rtc.basis);
  if (c.rtc.offset !== d.rtc.offset) {
    // As the user wrote it (`1h`) when that is still what it says; seconds otherwise.
    const text = c.rtc.offsetText;
    const asWritten = text !== undefined && parseRtcOffset("p2v.rtc.offset", text).seconds ===
        c.rtc.offset;
    b.value("p2v.rtc.offset", asWritten ? text : String(c.rtc.offset));
  }

  if (!sameList(c.disks, d.disks)) b.value("p2v.disks", listValue(c.disks));
  if (!sameList(c.removable, d.removable)) b.value("p2v.removable", listValue(c.removable));
  if (!sameList(c.interfaces, d.interfaces)) b.value("p2v.interfaces", listValue(c.interfaces));
  // Compared by what it does: the settings screen writes an entry for every
  // interface even when each still goes to the default network.
  const sameNetworks = c.interfaces.every((i) =>
    networkTarget(c.networkMap, i) === networkTarget(d.networkMap, i)
  );
  if (!sameNetworks) {
    // The first colon of an entry ends the interface name when read.
    const writable = c.networkMap.every((e) =>
      e.target !== "" && (e.iface === undefined ? !e.target.includes(":") : !e.iface.includes(":"))
    );
    b.value(
      "p2v.network",
      writable ? listValue(c.networkMap.map(formatNetworkMapEntry)) : undefined,
    );
  }

  const o = c.output;
  const od = d.output;
  if (o.type !== od.type) b.value("p2v.o", requiredValue(o.type));
  // `none` is the parser's spelling of "not set".
  if (o.allocation !== od.allocation) b.value("p2v.oa", o.allocation ?? "none");
  if (o.connection !== od.connection) b.value("p2v.oc", optionalValue(o.connection));
  if (o.format !== od.format) b.value("p2v.of", optionalValue(o.format));
  if (o.storage !== od.storage) b.value("p2v.os", requiredValue(o.storage));
  if (!sameList(o.misc, od.misc)) b.value("p2v.oo", listValue(o.misc));

  // An empty command runs nothing, as an unset one does (the default p2v.post may not be unset).
  if (c.pre !== d.pre) b.value("p2v.pre", c.pre ?? "");
  if (c.post !== d.post) b.value("p2v.post", c.post ?? "");
  if (c.fail !== d.fail) b.value("p2v.fail", c.fail ?? "");
  if (c.skipTestConnection !== d.skipTestConnection) {
    b.flag("p2v.skip_test_connection", c.skipTestConnection);
  }
  if (!sameList(c.nbd, d.nbd)) {
    b.value("p2v.nbd", c.nbd.length === 0 ? undefined : listValue(c.nbd));
  }
  if (c.reconnectSeconds !== d.reconnectSeconds) {
    b.value("p2v.reconnect", String(c.reconnectSeconds));
  }
  if (c.channels !== d.channels) b.value("p2v.channels", String(c.channels));
  if (c.bandwidthMbit !== d.bandwidthMbit) b.value("p2v.bandwidth", String(c.bandwidthMbit));
  if (c.compress !== d.compress) b.value("p2v.compress", c.compress ? "1" : "0");
  if (c.stage.step !== d.stage.step) b.value("p2v.stage", c.stage.step);
  if (c.stage.dir !== d.stage.dir) b.value("p2v.stage.dir", c.stage.dir);
  if (c.stage.keep !== d.stage.keep) b.flag("p2v.stage.keep", c.stage.keep);
  return { words: b.words, notes: b.notes };
}
