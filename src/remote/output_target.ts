/**
 * Where virt-v2v will write, checked on the server before any disk is
 * exported: the libvirt pool and networks of `-o libvirt`, the directory of
 * `-o local`/`qemu`. virt-v2v itself finds a missing pool only when it
 * writes, after minutes of inspection and conversion; here it costs one
 * round trip.
 *
 * The command and the parsing of its answer are pure; the engine runs it.
 */
import type { Config } from "../config/types.ts";
import { formatBytes } from "../text/units.ts";
import { networkTarget } from "./network_target.ts";
import { inBash } from "./remote_commands.ts";
import { shellWord } from "./shell_quote.ts";

/** Output modes that write into a directory named by `-os`. */
const DIRECTORY_OUTPUTS = new Set(["local", "disk", "qemu"]);

/** What the server must have for this output; undefined when nothing can be checked. */
export interface OutputTarget {
  kind: "libvirt" | "directory";
  /** `-os`: the pool, or the directory. */
  storage: string;
  /** `-oc`, when given: the libvirt connection virsh must ask. */
  connection?: string;
  /** libvirt networks the guest's interfaces are mapped to, by the user's map. */
  networks: string[];
  /** Mapped to `default` only because nothing else was said: a warning, not an error, when missing. */
  implicitDefault: boolean;
}

export function outputTarget(config: Config): OutputTarget | undefined {
  const { type, storage, connection } = config.output;
  if (type === "libvirt") {
    const targets = config.interfaces.map((iface) => networkTarget(config.networkMap, iface));
    return {
      kind: "libvirt",
      storage: storage === "" ? "default" : storage,
      connection,
      networks: [...new Set(targets)],
      implicitDefault: config.networkMap.length === 0,
    };
  }
  if (DIRECTORY_OUTPUTS.has(type) && storage !== "") {
    return { kind: "directory", storage, networks: [], implicitDefault: false };
  }
  return undefined;
}

/** Lines of the answer, one `KEY=VALUE` each; names listed one per `pool=`/`net=` line. */
export function outputTargetCommand(
  target: OutputTarget,
  opts: { sudo: boolean; timeoutSeconds: number },
): string {
  const sudo = opts.sudo ? "sudo -n " : "";
  if (target.kind === "directory") {
    const dir = shellWord(target.storage);
    return inBash([
      `if ${sudo}test -d ${dir}; then echo dir=yes; else echo dir=no; fi`,
      `if ${sudo}test -w ${dir}; then echo writable=yes; else echo writable=no; fi`,
      `echo "user=$(id -un)"`,
      // POSIX df: the 4th field of the last line is the free space in KiB.
      `echo "free_kib=$(df -Pk ${dir} 2>/dev/null | tail -n 1 | awk '{print $4}')"`,
    ].join("\n"));
  }
  return libvirtInventoryCommand({ ...opts, connection: target.connection });
}

/**
 * The pools (all, and the active ones, with their UUIDs) and networks the
 * server's libvirt has, as `virsh` run by the converting user (through sudo
 * with p2v.sudo) sees them over `connection` (-oc). One `KEY=VALUE` a line.
 */
export function libvirtInventoryCommand(
  opts: { sudo: boolean; timeoutSeconds: number; connection?: string },
): string {
  const sudo = opts.sudo ? "sudo -n " : "";
  const limit = `$(command -v timeout >/dev/null 2>&1 && echo "timeout ${opts.timeoutSeconds}")`;
  const virsh = `${limit} ${sudo}virsh ${
    opts.connection ? `-c ${shellWord(opts.connection)} ` : ""
  }-q`;
  return inBash([
    "command -v virsh >/dev/null 2>&1 || { echo virsh=missing; exit 0; }",
    `active=$(${virsh} pool-list --name 2>&1) || { echo "error=$active" | head -n 1; exit 0; }`,
    `all=$(${virsh} pool-list --all --name 2>&1) || { echo "error=$all" | head -n 1; exit 0; }`,
    `nets=$(${virsh} net-list --all --name 2>&1) || { echo "error=$nets" | head -n 1; exit 0; }`,
    // virt-v2v also takes a pool by its UUID.
    `uuids=$(${virsh} pool-list --all --uuid 2>/dev/null)`,
    `printf '%s\\n' "$uuids" | sed -n 's/^ *\\(..*\\)$/uuid=\\1/p'`,
    `printf '%s\\n' "$active" | sed -n 's/^ *\\(..*\\)$/active=\\1/p'`,
    `printf '%s\\n' "$all" | sed -n 's/^ *\\(..*\\)$/pool=\\1/p'`,
    `printf '%s\\n' "$nets" | sed -n 's/^ *\\(..*\\)$/net=\\1/p'`,
  ].join("\n"));
}

/** What the server's libvirt has, by name. */
export interface LibvirtInventory {
  pools: string[];
  activePools: string[];
  poolUuids: string[];
  networks: string[];
}

/** Most names kept of each kind: they become hints and messages. */
const MAX_NAMES = 256;

/** `KEY=VALUE` lines of an answer, printable values only, bounded. */
function answerValues(answer: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const line of answer.split("\n")) {
    const m = /^([a-z_]+)=(.*)$/.exec(line);
    if (!m || !/^[\x20-\x7e]*$/.test(m[2])) continue;
    const list = values.get(m[1]) ?? [];
    if (list.length < MAX_NAMES) list.push(m[2].slice(0, 200));
    values.set(m[1], list);
  }
  return values;
}

/**
 * The answer of `libvirtInventoryCommand`: the inventory, or why there is
 * none (no virsh on the server, or virsh failed).
 */
export function parseLibvirtInventory(
  answer: string,
): { inventory: LibvirtInventory } | { unavailable: string } {
  const values = answerValues(answer);
  if (values.get("virsh")?.[0] === "missing") {
    return { unavailable: "virsh is not on the conversion server" };
  }
  const error = values.get("error")?.[0];
  if (error !== undefined) return { unavailable: error };
  return {
    inventory: {
      pools: values.get("pool") ?? [],
      activePools: values.get("active") ?? [],
      poolUuids: values.get("uuid") ?? [],
      networks: values.get("net") ?? [],
    },
  };
}

/** What the check found: a refusal stops the conversion, warnings do not. */
export interface OutputTargetVerdict {
  error?: string;
  warnings: string[];
}

/** Names kept short and plain: they come from the server and end up on the terminal. */
function names(list: readonly string[]): string {
  if (list.length === 0) return "none";
  const shown = list.slice(0, 20).join(", ");
  return list.length > 20 ? `${shown} and ${list.length - 20} more` : shown;
}

/**
 * Judge the answer of `outputTargetCommand`. `dataBytes` is what the disks
 * hold (undefined when unknown): the output needs about that much room.
 */
export function judgeOutputTarget(
  target: OutputTarget,
  answer: string,
  dataBytes: number | undefined,
): OutputTargetVerdict {
  const values = answerValues(answer);
  const one = (key: string) => values.get(key)?.[0];
  const warnings: string[] = [];
  if (target.kind === "directory") {
    const dir = JSON.stringify(target.storage);
    if (one("dir") === "no") {
      return {
        error: `no directory ${dir} on the conversion server that ${
          one("user") ?? "the converting user"
        } can reach; create it there or set p2v.os to a directory that exists`,
        warnings,
      };
    }
    if (one("writable") === "no") {
      return {
        error: `the conversion server's directory ${dir} is not writable by ${
          one("user") ?? "the converting user"
        }; set p2v.os to one it can write, or change its permissions`,
        warnings,
      };
    }
    const free = Number(one("free_kib")) * 1024;
    if (dataBytes !== undefined && Number.isFinite(free) && free > 0 && free < dataBytes) {
      warnings.push(
        `${dir} on the conversion server has ${formatBytes(free)} free, and the disks hold ` +
          `${formatBytes(dataBytes)}: the conversion may run out of space`,
      );
    }
    return { warnings };
  }
  const parsed = parseLibvirtInventory(answer);
  if ("unavailable" in parsed) {
    return {
      warnings: [`the conversion server's libvirt pools were not checked: ${parsed.unavailable}`],
    };
  }
  const problem = libvirtPoolProblem(target.storage, parsed.inventory);
  if (problem !== undefined) return { error: problem, warnings };
  const text = libvirtNetworkProblem(target.networks, parsed.inventory);
  if (text !== undefined) {
    if (target.implicitDefault) {
      warnings.push(
        `${text} (map the interfaces with p2v.network, or the guest's NICs ` +
          `will not start)`,
      );
    } else {
      return { error: `${text} (set p2v.network to those)`, warnings };
    }
  }
  return { warnings };
}

/**
 * Why `storage` is not a pool virt-v2v can write into, in one line naming
 * what the server has; undefined when it is one (by name or UUID, active).
 */
export function libvirtPoolProblem(
  storage: string,
  inventory: LibvirtInventory,
): string | undefined {
  const pool = JSON.stringify(storage);
  if (inventory.poolUuids.includes(storage)) return undefined;
  if (!inventory.pools.includes(storage)) {
    return `no libvirt pool ${pool} on the server; it has: ${names(inventory.pools)} ` +
      `(set p2v.os to one of them)`;
  }
  if (!inventory.activePools.includes(storage)) {
    return `the libvirt pool ${pool} on the server is not active; start it there ` +
      `(virsh pool-start ${storage}) or choose an active one: ${names(inventory.activePools)}`;
  }
  return undefined;
}

/**
 * Which of `networks` the server's libvirt lacks, in one line naming what it
 * has; undefined when it has them all.
 */
export function libvirtNetworkProblem(
  networks: readonly string[],
  inventory: LibvirtInventory,
): string | undefined {
  const missing = networks.filter((n) => !inventory.networks.includes(n));
  if (missing.length === 0) return undefined;
  return `no libvirt network ${missing.map((n) => JSON.stringify(n)).join(", ")} on the ` +
    `server; it has: ${names(inventory.networks)}`;
}
