/**
 * Keeping the disks' ports to ourselves on the conversion server.
 *
 * virt-v2v reaches each disk at `localhost:PORT` (physical.xml may name
 * nothing else), so on a shared loopback every local user of the server can
 * connect to that port and read the disk, and could bind an address of
 * `localhost` we leave free and serve virt-v2v a disk of their own. When we
 * convert as root, the job (its relays and virt-v2v) therefore runs in a
 * network namespace of its own: a loopback nobody else can reach.
 *
 * Only as root: any other account would need a user namespace too, and in
 * one the files of root show up as owned by nobody. libguestfs then builds
 * its appliance from those files with the wrong owners, and that appliance
 * cannot mount /proc when it boots (seen with virt-v2v 2.2: every conversion
 * fails, and the broken appliance stays in the account's cache). Outputs
 * that talk to other machines (OpenStack, oVirt, a remote libvirt) cannot
 * run without the network either, so they keep the shared loopback.
 */
import type { OutputConfig } from "../config/types.ts";

/**
 * A bash function `isolated CMD ARGS…`, for root: it replaces the calling
 * shell (so CMD keeps its process id, its session and its process group)
 * with CMD in a network namespace of its own with the loopback up.
 */
export const ISOLATED_FUNCTION = `isolated() {
    local ip
    ip=$(PATH=$PATH:/usr/sbin:/sbin command -v ip) || return 125
    [ "$(id -u)" = 0 ] || return 125
    exec unshare --net -- bash -c '"$1" link set lo up && shift && exec "$@"' isolated "$ip" "$@"
}`;

/** The probe's line when `isolated` works on the server. */
export const ISOLATION_PROBE_LINE = "netns";

/** Probe script lines: print `netns` when a command runs isolated, and our uid. */
export function isolationProbeLines(): string[] {
  return [
    ISOLATED_FUNCTION,
    `[ "$(isolated id -u 2>/dev/null)" = "$(id -u)" ] && echo ${ISOLATION_PROBE_LINE}`,
    'echo "uid $(id -u)"',
  ];
}

/** Outputs that write on the conversion server itself (or a local libvirt): no network needed. */
const LOCAL_OUTPUTS = new Set(["local", "disk", "qemu", "null", "kubevirt", "vdsm", "libvirt"]);

/** A libvirt connection reached through a local Unix socket (the default one included). */
function isLocalLibvirt(uri: string | undefined): boolean {
  if (uri === undefined || uri === "") return true;
  return /^qemu(\+unix)?:\/\/\/(system|session)(\?.*)?$/.test(uri);
}

/** Whether virt-v2v needs the server's network for this output. */
export function outputNeedsNetwork(output: OutputConfig): boolean {
  if (!LOCAL_OUTPUTS.has(output.type)) return true;
  return output.type === "libvirt" && !isLocalLibvirt(output.connection);
}

export interface IsolationProbe {
  /** `isolated` works for this account. */
  available: boolean;
  /** The account's uid on the server, when the probe said. */
  uid?: number;
}

export function isolationFromProbe(output: string): IsolationProbe {
  const lines = output.split("\n").map((l) => l.trim());
  const uid = /^uid (\d+)$/.exec(lines.find((l) => l.startsWith("uid ")) ?? "");
  return {
    available: lines.includes(ISOLATION_PROBE_LINE),
    uid: uid ? Number(uid[1]) : undefined,
  };
}

export type IsolationDecision = { isolate: true } | { isolate: false; why: string };

/**
 * Whether this conversion's job runs in a network namespace of its own, and
 * if not, why (for the log): the output's needs, the account, the server's
 * answer.
 */
export function decideIsolation(
  output: OutputConfig,
  sudo: boolean,
  probe: IsolationProbe,
): IsolationDecision {
  if (outputNeedsNetwork(output)) {
    return { isolate: false, why: `-o ${output.type} needs the conversion server's network` };
  }
  if (probe.uid !== 0) {
    return {
      isolate: false,
      why: `the account on the conversion server is not root${
        sudo ? " (p2v.sudo makes only virt-v2v root)" : ""
      }`,
    };
  }
  if (!probe.available) {
    return {
      isolate: false,
      why: "the conversion server refused a network namespace (unshare --net, or ip, is " +
        "missing or not allowed)",
    };
  }
  return { isolate: true };
}
