/**
 * `physical.xml`: the description of the physical machine handed to
 * `virt-v2v -i libvirtxml` on the conversion server. It looks like
 * libvirt domain XML but only carries facts for virt-v2v.
 */

import { create } from "xmlbuilder2";
import type { CpuTopology } from "../collect/types.ts";
import type { Config } from "../config/types.ts";
import { PROGRAM, VERSION } from "../version.ts";
import type { GuestFirmware } from "./guest_firmware.ts";
import { networkTarget } from "./network_target.ts";

export interface PhysicalXmlDisk {
  /** The config disk entry: a kernel name (`sda`) or an absolute path. */
  name: string;
  /** Port the server allocated for this disk's reverse forward. */
  remotePort?: number;
  /** Or: the disk is this image file on the server (a staged copy). */
  file?: string;
}

export interface PhysicalXmlInput {
  config: Config;
  /** Architecture of the physical machine (`x86_64`, `aarch64`, …). */
  arch: string;
  /** The host's topology; used only when `config.vcpu.physTopo` is set. */
  hostTopology: CpuTopology;
  /** One entry per exported disk, in the order of the configuration. */
  disks: PhysicalXmlDisk[];
  /** MAC address per interface name, where known. */
  macs: Record<string, string | undefined>;
  /** Left out: virt-v2v inspects the disks to choose. */
  firmware?: GuestFirmware;
}

/** Raised when a value cannot be represented faithfully in physical.xml. */
export class PhysicalXmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PhysicalXmlError";
  }
}

const NOTE = [
  " NOTE!",
  "",
  "  virt-p2v writes this file only to tell virt-v2v on the conversion",
  "  server what the physical machine looks like.  It is a minimal",
  "  description of that machine, not a real libvirt guest definition.",
  "  virt-v2v produces the real output (libvirt XML or other metadata)",
  "  itself, and that has little in common with this file.",
  "",
  "  Do not try to load this XML into libvirt. ",
].join("\n");

/**
 * The kernel-style drive suffix of a zero-based index: 0 → `a`, 25 → `z`,
 * 26 → `aa`, 701 → `zz`, 702 → `aaa`.
 */
export function driveLetters(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new RangeError(`driveLetters: invalid index ${index}`);
  }
  let out = "";
  let n = index;
  for (;;) {
    out = String.fromCharCode(97 + (n % 26)) + out;
    if (n < 26) return out;
    n = Math.floor(n / 26) - 1;
  }
}

/** The `<target dev>` of the disk at `index` whose config entry is `name`. */
export function diskTargetDev(name: string, index: number): string {
  return name.startsWith("/") ? `sd${driveLetters(index)}` : name;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// deno-lint-ignore no-control-regex
const BAD_IN_TEXT = /[\x00-\x08\x0b-\x1f\ufffe\uffff]/;
// deno-lint-ignore no-control-regex
const BAD_IN_ATTRIBUTE = /[\x00-\x1f\ufffe\uffff]/;

/**
 * Refuse what XML 1.0 cannot carry, or would change on reading: control
 * characters, lone surrogates, U+FFFE/U+FFFF; and in attribute values also
 * tab, newline and carriage return, which a parser normalises to spaces;
 * carriage return in text becomes a newline on reading.
 */
function checkValue(what: string, value: string, where: "text" | "attribute"): string {
  const bad = where === "attribute" ? BAD_IN_ATTRIBUTE : BAD_IN_TEXT;
  if (bad.test(value) || LONE_SURROGATE.test(value)) {
    throw new PhysicalXmlError(
      `${what} contains a character that cannot be written to physical.xml: ${
        JSON.stringify(value)
      }`,
    );
  }
  return value;
}

function checkCount(what: string, n: number, min: number, max = Number.MAX_SAFE_INTEGER): string {
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new PhysicalXmlError(`${what} is not a valid number: ${n}`);
  }
  return String(n);
}

function ownValue(record: Record<string, string | undefined>, key: string): string | undefined {
  if (!Object.hasOwn(record, key)) return undefined;
  const value = record[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** The text of physical.xml, pretty-printed with two-space indentation. */
export function buildPhysicalXml(input: PhysicalXmlInput): string {
  const { config } = input;
  const topo: CpuTopology = config.vcpu.physTopo
    ? input.hostTopology
    : { sockets: 1, cores: config.vcpu.cores, threads: 1 };
  const sockets = checkCount("CPU sockets", topo.sockets, 1);
  const cores = checkCount("CPU cores", topo.cores, 1);
  const threads = checkCount("CPU threads", topo.threads, 1);
  const vcpus = checkCount("vCPU count", topo.sockets * topo.cores * topo.threads, 1);
  checkCount("memory", config.memory, 0);
  const memKiB = String(Math.floor(config.memory / 1024));

  const doc = create({ version: "1.0" });
  doc.com(` ${PROGRAM} ${VERSION} `);
  doc.com(NOTE);

  const domain = doc.ele("domain", { type: "physical" });
  domain.ele("name").txt(checkValue("guest name", config.guestname, "text"));
  domain.ele("memory", { unit: "KiB" }).txt(memKiB);
  domain.ele("currentMemory", { unit: "KiB" }).txt(memKiB);
  domain.ele("vcpu").txt(vcpus);

  const cpu = domain.ele("cpu", { match: "minimum" });
  if (config.cpu.vendor !== undefined) {
    cpu.ele("vendor").txt(checkValue("CPU vendor", config.cpu.vendor, "text"));
  }
  if (config.cpu.model !== undefined) {
    cpu.ele("model", { fallback: "allow" }).txt(checkValue("CPU model", config.cpu.model, "text"));
  }
  cpu.ele("topology", { sockets, cores, threads });

  switch (config.rtc.basis) {
    case "unknown":
      break; // no <clock> at all
    case "utc":
      if (config.rtc.offset === 0) {
        domain.ele("clock", { offset: "utc" });
      } else {
        const adjustment = checkCount("RTC offset", config.rtc.offset, Number.MIN_SAFE_INTEGER);
        domain.ele("clock", { offset: "variable", basis: "utc", adjustment });
      }
      break;
    case "localtime":
      // A local-time clock has no offset of its own: libvirt's localtime is it.
      domain.ele("clock", { offset: "localtime" });
      break;
    default:
      throw new PhysicalXmlError(`unknown RTC basis: ${String(config.rtc.basis)}`);
  }

  // libvirt's firmware auto-selection form, which virt-v2v's libvirt XML input reads.
  const os = domain.ele("os", input.firmware ? { firmware: input.firmware.type } : {});
  os.ele("type", { arch: checkValue("architecture", input.arch, "attribute") }).txt("hvm");
  if (input.firmware?.secureBoot !== undefined) {
    os.ele("firmware").ele("feature", {
      enabled: input.firmware.secureBoot ? "yes" : "no",
      name: "secure-boot",
    });
  }

  const features = domain.ele("features");
  if (config.cpu.acpi) features.ele("acpi");
  if (config.cpu.apic) features.ele("apic");
  if (config.cpu.pae) features.ele("pae");

  const devices = domain.ele("devices");
  input.disks.forEach((disk, index) => {
    const dev = checkValue("disk name", diskTargetDev(disk.name, index), "attribute");
    if (disk.file !== undefined) {
      const file = checkValue(`staged image of disk ${disk.name}`, disk.file, "attribute");
      const el = devices.ele("disk", { type: "file", device: "disk" });
      el.ele("driver", { name: "qemu", type: "raw" });
      el.ele("source", { file });
      el.ele("target", { dev });
      return;
    }
    const port = checkCount(`NBD port of disk ${disk.name}`, disk.remotePort ?? 0, 1, 65535);
    const el = devices.ele("disk", { type: "network", device: "disk" });
    el.ele("driver", { name: "qemu", type: "raw" });
    el.ele("source", { protocol: "nbd" }).ele("host", { name: "localhost", port });
    el.ele("target", { dev });
  });
  // Empty list items (`p2v.removable=sr0,,sr1`) name no device: skip them.
  for (const name of config.removable.filter((n) => n !== "")) {
    const el = devices.ele("disk", { type: "network", device: "cdrom" });
    el.ele("driver", { name: "qemu", type: "raw" });
    el.ele("target", { dev: checkValue("removable drive name", name, "attribute") });
  }
  for (const iface of config.interfaces.filter((n) => n !== "")) {
    const network = checkValue(
      `network of interface ${iface}`,
      networkTarget(config.networkMap, iface),
      "attribute",
    );
    const el = devices.ele("interface", { type: "network" });
    el.ele("source", { network });
    el.ele("target", { dev: checkValue("interface name", iface, "attribute") });
    const mac = ownValue(input.macs, iface);
    if (mac !== undefined) el.ele("mac", { address: checkValue("MAC address", mac, "attribute") });
  }

  return doc.end({ prettyPrint: true, indent: "  ", newline: "\n", wellFormed: true }) + "\n";
}
