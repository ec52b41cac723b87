/**
 * Keeping the disks' ports to ourselves on the conversion server.
 *
 * virt-v2v reaches each disk at `localhost:PORT` (physical.xml may name
 * nothing else), so on a shared loopback every local user of the server can
 * connect to that port and read the disk, and could bind an address of
 * `localhost` we leave free and serve virt-v2v a disk of their own. Where the
 * server lets us, the job (its relays and virt-v2v) therefore runs in a
 * network namespace of its own: a loopback nobody else can reach. That needs
 * unprivileged user namespaces for an account other than root (on by
 * default on Debian 12 and RHEL 9; refused by some hardened kernels and by
 * Ubuntu's AppArmor policy), `unshare --map-user` (util-linux 2.38+) so that
 * virt-v2v keeps the account's own uid, and `ip` to bring the loopback up.
 * Outputs that talk to other machines (OpenStack, oVirt, a remote libvirt)
 * cannot run without the network, so they keep the shared loopback.
 */
import type { OutputConfig } from "../config/types.ts";

/**
 * A bash function `isolated CMD ARGS…` that replaces the calling shell (so
 * CMD keeps its process id, its session and its process group) with CMD in a
 * network namespace of its own with the loopback up, as the same user:
 * root makes the namespace directly; anyone else goes through a user
 * namespace in which they are root just long enough to bring the loopback
 * up, then into a nested one that maps them back to their own uid and gid
 * (their supplementary groups keep working: the kernel still checks them).
 */
export const ISOLATED_FUNCTION = `isolated() {
    local ip
    ip=$(PATH=$PATH:/usr/sbin:/sbin command -v ip) || return 125
    if [ "$(id -u)" = 0 ]; then
        exec unshare --net -- bash -c '"$1" link set lo up && shift && exec "$@"' isolated "$ip" "$@"
    else
        exec unshare --user --map-root-user --net -- bash -c \\
            '"$1" link set lo up && exec unshare --user --map-user="$2" --map-group="$3" -- "\${@:4}"' \\
            isolated "$ip" "$(id -u)" "$(id -g)" "$@"
    fi
}`;

/** The probe's line when `isolated` works on the server. */
export const ISOLATION_PROBE_LINE = "netns";

/** Probe script lines: print `netns` when a command runs isolated and keeps our uid. */
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
 * if not, why (for the log): the output's needs, the server's answer, and
 * sudo, which cannot raise privileges inside a user namespace.
 */
export function decideIsolation(
  output: OutputConfig,
  sudo: boolean,
  probe: IsolationProbe,
): IsolationDecision {
  if (outputNeedsNetwork(output)) {
    return { isolate: false, why: `-o ${output.type} needs the conversion server's network` };
  }
  if (!probe.available) {
    return {
      isolate: false,
      why: "the conversion server does not let this account make a network namespace " +
        "(unshare --user --net, or ip, is missing or refused)",
    };
  }
  if (sudo && probe.uid !== 0) {
    return { isolate: false, why: "sudo cannot run virt-v2v inside a user namespace" };
  }
  return { isolate: true };
}
