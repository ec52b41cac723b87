/**
 * What a conversion is about to do, in rows: which server, what guest, which
 * virt-v2v output, which disks (and how big), removable media and
 * interfaces, and the warnings already known. The dialog shows it before
 * anything is exported, so that a wrong disk or a wrong -os is caught while
 * going back costs nothing.
 *
 * Only what the settings and the machine's facts already hold: nothing here
 * asks the disks or the server anything. The text is as it came (the
 * server's version and host key, file names): each view filters what it
 * prints.
 */
import type { DiskInfo, HostFacts } from "../collect/types.ts";
import { diskSelectionWarnings } from "../config/disk_selection.ts";
import {
  guestVcpus,
  MAX_SUPPORTED_MEMORY,
  MAX_SUPPORTED_VCPUS,
  TOO_MANY_VCPUS,
  TOO_MUCH_MEMORY,
} from "../config/guest_limits.ts";
import { maskUrlPasswords } from "../config/mask_url.ts";
import type { Config } from "../config/types.ts";
import { networkTarget } from "../remote/network_target.ts";
import type { ServerCapabilities } from "../remote/virt_v2v_probe.ts";
import { formatBytes } from "../text/units.ts";

/** One row: `Server  root@conv.example.com:22`, `sda  256.0 GiB  Samsung SSD 860`. */
export interface SummaryRow {
  /** What the row is about: a setting, an option (`-os`), a device's name. */
  label: string;
  value: string;
  /** What else is known about it (a disk's model, an interface's MAC). */
  detail?: string;
}

export interface SummarySection {
  title: string;
  rows: SummaryRow[];
  /** Said instead of rows when there are none. */
  empty: string;
  /** The values are amounts (sizes): right-aligned, so that they line up by their units. */
  amounts?: boolean;
}

export interface ConversionSummary {
  sections: SummarySection[];
  /** Doubts already known, one sentence each; none stops the conversion. */
  warnings: string[];
}

export interface SummaryInput {
  /** The settings the conversion will run with. */
  config: Config;
  facts: HostFacts;
  /** From the test connection; undefined when it was skipped. */
  capabilities?: ServerCapabilities;
  /** The fingerprint the test connection saw. */
  hostKey?: string;
}

/** The user virt-p2v logs in as when none is given. */
const DEFAULT_USER = "root";

/**
 * A device the settings name that the machine did not list (a typo on the
 * command line): the settings let it through, so the summary says so.
 */
const NOT_HERE = "not found on this machine";

export function conversionSummary(input: SummaryInput): ConversionSummary {
  const { config, facts } = input;
  return {
    sections: [
      serverSection(input),
      ...warmSection(config),
      guestSection(config, facts),
      outputSection(config),
      diskSection(config, facts),
      {
        title: "Removable media",
        rows: config.removable.map((name) => {
          const info = facts.removable.find((r) => r.name === name);
          return { label: name, value: info ? info.model ?? "" : NOT_HERE };
        }),
        empty: "none",
      },
      {
        title: "Network interfaces",
        rows: config.interfaces.map((name) => {
          const info = facts.interfaces.find((i) => i.name === name);
          return {
            label: name,
            value: `to network ${networkTarget(config.networkMap, name)}`,
            detail: info ? info.mac : NOT_HERE,
          };
        }),
        empty: "none: the guest gets no network interface",
      },
    ],
    warnings: summaryWarnings(config, facts),
  };
}

/** `user@host:port`, as one would type it for ssh. */
export function serverAddress(config: Pick<Config, "auth" | "remote">): string {
  const host = config.remote.server ?? "";
  // An IPv6 address takes brackets before the port, as in a URL.
  const shown = host.includes(":") ? `[${host}]` : host;
  return `${config.auth.username ?? DEFAULT_USER}@${shown}:${config.remote.port}`;
}

function serverSection(input: SummaryInput): SummarySection {
  const { config, capabilities, hostKey } = input;
  const rows: SummaryRow[] = [{ label: "Server", value: serverAddress(config) }];
  rows.push({
    label: "virt-v2v",
    value: capabilities
      ? capabilities.version
      : "not tested: the server is checked when the conversion starts",
  });
  if (hostKey !== undefined) rows.push({ label: "Host key", value: hostKey });
  else if (config.remote.hostKeys.length > 0) {
    rows.push({ label: "Host key", value: `only ${config.remote.hostKeys.join(" or ")}` });
  }
  const login = config.auth.identityUrl !== undefined
    ? `with the key ${maskUrlPasswords(config.auth.identityUrl)}`
    : config.auth.password !== undefined
    ? "with the password"
    : "with no key and no password";
  rows.push({
    label: "Log in",
    value: login + (config.auth.sudo ? "; virt-v2v runs through sudo" : ""),
  });
  return { title: "Conversion server", rows, empty: "" };
}

/** What a warm step does, in the words of the one who chose it; nothing for one pass. */
function warmSection(config: Config): SummarySection[] {
  const { step, dir, keep } = config.stage;
  if (step === "none") return [];
  const staged = `${dir ?? "(no directory)"}/${config.guestname}`;
  const rows: SummaryRow[] = [];
  switch (step) {
    case "precopy":
      rows.push(
        {
          label: "Step",
          value: "pre-copy: the disks are read as they are, while this machine runs",
        },
        { label: "Staged in", value: `${staged}, not consistent until the cutover` },
      );
      break;
    case "cutover":
      rows.push(
        {
          label: "Step",
          value: "cutover: only chunks that differ cross; virt-v2v converts the staged copy",
        },
        { label: "Staged in", value: staged },
        {
          label: "Afterwards",
          value: keep ? "the staged copy is kept" : "the staged copy is removed",
        },
      );
      break;
    case "list":
      rows.push({
        label: "Step",
        value: `list the staged conversions in ${dir ?? "(no directory)"}`,
      });
      break;
  }
  return [{ title: "Warm conversion", rows, empty: "" }];
}

function guestSection(config: Config, facts: HostFacts): SummarySection {
  const t = facts.cpu.topology;
  const vcpus = String(guestVcpus(config, facts.cpu.topology));
  return {
    title: "Target guest",
    rows: [
      { label: "Name", value: config.guestname },
      {
        label: "vCPUs",
        value: config.vcpu.physTopo
          ? `${vcpus} (this machine's ${t.sockets} socket x ${t.cores} core x ${t.threads} thread)`
          : vcpus,
      },
      { label: "Memory", value: formatBytes(config.memory) },
    ],
    empty: "",
  };
}

function outputSection(config: Config): SummarySection {
  const o = config.output;
  const rows: SummaryRow[] = [{ label: "-o", value: o.type }];
  if (o.storage !== "") rows.push({ label: "-os", value: o.storage });
  // A connection URI may carry a password: it is masked like the identity URL's.
  if (o.connection !== undefined) {
    rows.push({ label: "-oc", value: maskUrlPasswords(o.connection) });
  }
  if (o.format !== undefined) rows.push({ label: "-of", value: o.format });
  if (o.allocation !== undefined) rows.push({ label: "-oa", value: o.allocation });
  for (const item of o.misc) rows.push({ label: "-oo", value: item });
  return { title: "virt-v2v output", rows, empty: "" };
}

/** The facts of a disk named `sda` or `/dev/sda`, wherever the machine listed it. */
function diskFacts(facts: HostFacts, name: string): DiskInfo | undefined {
  const all = [...facts.disks, ...(facts.bootMedium ?? []), ...(facts.runningSystem ?? [])];
  return all.find((d) => d.name === name || `/dev/${d.name}` === name);
}

function diskSection(config: Config, facts: HostFacts): SummarySection {
  const infos = config.disks.map((name) => ({ name, info: diskFacts(facts, name) }));
  const sizes = infos.map((d) => d.info?.sizeBytes);
  const known = sizes.filter((s): s is number => s !== undefined);
  const count = `${infos.length} disk${infos.length === 1 ? "" : "s"}`;
  // The total only when every size is known: a partial sum would read as the whole.
  const total = known.length === sizes.length && known.length > 1
    ? `, ${formatBytes(known.reduce((a, b) => a + b, 0))} in all`
    : "";
  return {
    title: `Fixed disks (${count}${total})`,
    rows: infos.map(({ name, info }) => ({
      label: name,
      value: info ? formatBytes(info.sizeBytes) : "size unknown",
      detail: info?.model,
    })),
    empty: "none",
    amounts: true,
  };
}

function summaryWarnings(config: Config, facts: HostFacts): string[] {
  const warnings = diskSelectionWarnings(facts, config.disks, config.stage.step);
  if (guestVcpus(config, facts.cpu.topology) > MAX_SUPPORTED_VCPUS) {
    warnings.push(`vCPUs: ${TOO_MANY_VCPUS}`);
  }
  if (config.memory > MAX_SUPPORTED_MEMORY) warnings.push(`Memory: ${TOO_MUCH_MEMORY}`);
  return warnings;
}
