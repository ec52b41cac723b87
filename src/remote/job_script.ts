/**
 * `virt-p2v-job.sh`: what a conversion that can survive a dropped link runs
 * on the server (see "Surviving a dropped link" in docs/DEVELOPING.md), detached from every SSH session in a session
 * and process group of its own (and, where the server allows it, in a
 * network namespace of its own: see isolation.ts). For each disk it starts
 * NBD relays on the port physical.xml names, one on every address of
 * `localhost`, their upstream our reverse forward as a Unix socket that may
 * go away and come back at the same path; then a watchdog, then the
 * wrapper. The user's output goes to a file that virt-p2v follows
 * by offset and picks up again after reconnecting.
 *
 * The relay is qemu-nbd over QEMU's NBD client with `reconnect-delay`
 * (requests wait while the upstream is gone, and many stay in flight), or
 * else nbdkit's retry filter over its nbd plugin, which serialises requests:
 * with 10 ms per request upstream it copied 64 MiB in 3.7 s where qemu-nbd
 * and a direct connection took 0.35 s.
 *
 * Nothing of it outlives the conversion: when the wrapper ends the job
 * ends its whole process group (relays, watchdog), and when no heartbeat
 * has come from the physical machine for the bound, the watchdog does.
 */
import { PROGRAM, VERSION } from "../version.ts";
import {
  CONVERSION_LOG,
  HEARTBEAT_FILE,
  JOB_PID_FILE,
  OUTPUT_FILE,
  RELAY_LOG,
  STATUS_FILE,
  WRAPPER_SCRIPT,
} from "./remote_dir.ts";
import { shellWord } from "./shell_quote.ts";
import { ownCopyCheck } from "./own_copy_check.ts";

/** Status the job leaves when a relay could not start (virt-v2v never ran). */
export const STATUS_RELAY_FAILED = 98;
/** Status the job leaves when another run holds the staged copy (virt-v2v never ran). */
export const STATUS_STAGED_HELD = 96;
/** How long the job waits for the staged copy's lock (its run is handing it over). */
const STAGED_LOCK_WAIT_SECONDS = 15;

export interface RelaySpec {
  /** The loopback TCP port virt-v2v connects to (physical.xml's). */
  port: number;
  /** Absolute path of our forward's Unix socket. */
  socket: string;
}

/** Which program relays each disk (the server has at least one of them). */
export type RelayKind = "qemu-nbd" | "nbdkit";

/**
 * Our own copy on the server, serving every disk with requests spread over
 * several connections to its socket (`virt-p2v --disk-fanout`). When it
 * cannot start, the job falls back to `relay`, if there is one.
 */
export interface FanoutSpec {
  /** Absolute path of the copy. */
  program: string;
  /** Its SHA-256, checked before it runs. */
  sha256: string;
  /** Connections (SSH channels) per disk. */
  connections: number;
  /** Ask the physical machine for zstd-packed reads. */
  compress: boolean;
}

export interface JobScriptOptions {
  remoteDir: string;
  /** The relay; with `fanout`, only if that cannot start. */
  relay?: RelayKind;
  fanout?: FanoutSpec;
  relays: readonly RelaySpec[];
  /** With no heartbeat for this long, the watchdog ends the conversion; 0: no watchdog. */
  boundSeconds: number;
  /** The relays retry a lost upstream this often, for at least `boundSeconds`. */
  retryDelaySeconds: number;
  /**
   * A staged copy's directory, held (an exclusive flock, as `--stage open`
   * takes) until the job ends, whether or not the physical machine is still
   * there: no other run may write into what virt-v2v reads.
   */
  holdStaged?: string;
}

/** Bash that takes the staged copy's lock for the job's life, or ends the job. */
function holdStaged(stagedDir: string): string {
  const dir = shellWord(stagedDir);
  return `# The staged copy stays ours until the conversion ends: fd 8, inherited by
# everything the job starts, holds its lock. flock is util-linux's.
exec 8< ${dir} || exit 1
if command -v flock >/dev/null 2>&1 && ! flock -x -w ${STAGED_LOCK_WAIT_SECONDS} 8; then
    echo "${PROGRAM}: another run holds the staged copy: it was not converted" >> ${OUTPUT_FILE}
    echo ${STATUS_STAGED_HELD} > ${STATUS_FILE}
    end_job
fi`;
}

/** How often the watchdog looks at the heartbeat. */
const WATCHDOG_PERIOD_SECONDS = 5;
/** After TERM, how long the job's processes get before KILL. */
const KILL_GRACE_SECONDS = 10;
/** How long the fan-out may take to listen (a first start unpacks the runtime). */
const FANOUT_START_TENTHS = 300;
/** The fan-out's pid file, written once it listens. */
const FANOUT_PID_FILE = "relay-fanout.pid";

/** Bash that starts our fan-out for every disk and returns 0 once it listens. */
function fanoutFunction(opts: JobScriptOptions, fanout: FanoutSpec): string {
  const program = shellWord(fanout.program);
  const disks = opts.relays.map((r) => `--disk ${shellWord(`${r.port}=${r.socket}`)}`).join(" ");
  return `start_fanout() {
    if ! ${ownCopyCheck(program, fanout.sha256)}; then
        echo "${PROGRAM}: ${fanout.program} is not the file we copied there: removed" >> ${RELAY_LOG}
        rm -f -- ${program}
        return 1
    fi
    ${program} --disk-fanout --pid-file ${FANOUT_PID_FILE} --addresses "$(echo $addresses | tr ' ' ,)" \
        --connections ${fanout.connections} --retry-delay-ms ${opts.retryDelaySeconds * 1000} \
        --bound-ms ${opts.boundSeconds * 1000} --compress ${
    fanout.compress ? "zstd" : "none"
  } ${disks} 2>> ${RELAY_LOG} &
    local pid=$! t
    for ((t = 0; t < ${FANOUT_START_TENTHS}; t++)); do
        [ -s ${FANOUT_PID_FILE} ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    echo "${PROGRAM}: the disk fan-out did not start: $(tail -n 1 ${RELAY_LOG})" >> ${RELAY_LOG}
    return 1
}`;
}

const NO_WATCHDOG = `# No watchdog: the disks are on this server, and the physical machine may be
# switched off while the conversion runs.`;

/** Bash that ends the job when no heartbeat has come for `boundSeconds`. */
function watchdog(boundSeconds: number): string {
  return `# No heartbeat for the bound: ${PROGRAM} is not coming back; end everything,
# giving virt-v2v the chance to clean up first.
(
    trap '' TERM
    while sleep ${WATCHDOG_PERIOD_SECONDS}; do
        age=$(( $(date +%s) - $(stat -c %Y ${HEARTBEAT_FILE}) ))
        if [ "$age" -gt ${boundSeconds} ]; then
            echo "${PROGRAM}: no contact with the physical machine for $age s: stopping the conversion" \\
                >> ${CONVERSION_LOG}
            kill -TERM -- -$$
            sleep ${KILL_GRACE_SECONDS}
            kill -KILL -- -$$
        fi
    done
) &`;
}

export function buildJobScript(opts: JobScriptOptions): string {
  const dir = shellWord(opts.remoteDir);
  const retries = Math.ceil(opts.boundSeconds / opts.retryDelaySeconds) + 1;
  // Requests wait for the upstream to come back for as long as the watchdog waits for us.
  const relay = opts.relay === undefined
    ? `    relay_failed "the disk fan-out could not start, and the server has no relay to use instead"`
    : opts.relay === "qemu-nbd"
    ? `    qemu-nbd -r -t -e 16 -b "$1" -p "$2" --pid-file="$4" \\
        --image-opts "driver=nbd,server.type=unix,server.path=\${3//,/,,},reconnect-delay=${opts.boundSeconds}" \\
        2>> ${RELAY_LOG} &`
    : `    nbdkit -r -f --exit-with-parent -i "$1" -p "$2" -P "$4" \\
        --filter=retry nbd socket="$3" \\
        retries=${retries} retry-delay=${opts.retryDelaySeconds} retry-exponential=no \\
        2>> ${RELAY_LOG} &`;
  const starts = opts.relays.map((r) => `start_relays ${r.port} ${shellWord(r.socket)}`);

  return `#!/bin/bash -
# Written by ${PROGRAM} ${VERSION}: runs the conversion detached from the SSH
# session, so that it outlives a dropped link; ends it when ${PROGRAM} has not
# been heard from for ${opts.boundSeconds} s.
set +o histexpand
umask 077
cd ${dir} || exit 1

echo $$ > ${JOB_PID_FILE}
: > ${HEARTBEAT_FILE}
: > ${OUTPUT_FILE}

# The end of the job is the end of everything it started (relays, watchdog).
end_job() {
    kill -KILL -- -$$
}

relay_failed() {
    echo "${PROGRAM}: $1" >> ${RELAY_LOG}
    echo "${PROGRAM}: $1; the conversion cannot start" >> ${OUTPUT_FILE}
    echo ${STATUS_RELAY_FAILED} > ${STATUS_FILE}
    end_job
}

# Every address "localhost" has here. virt-v2v may try any of them, and one
# left free could be taken by another user of this server, who would then
# serve virt-v2v a disk of their own: so a relay listens on each, and one
# that cannot is the end of the job. An IPv6 loopback this kernel lacks can
# be bound by nobody.
loopback_addresses() {
    local a
    {
        echo 127.0.0.1
        grep -qi '^0\\{31\\}1 ' /proc/net/if_inet6 2>/dev/null && echo ::1
        getent ahosts localhost 2>/dev/null | while read -r a _; do echo "$a"; done
    } | sort -u | while read -r a; do
        case "$a" in
            127.*|::1) echo "$a" ;;
            *) relay_failed "localhost resolves to $a, not a loopback address" ;;
        esac
    done
}
addresses=$(loopback_addresses)

# One relay per address for each disk, on the port physical.xml names; its
# upstream, our forward as a Unix socket, may go away and come back at the
# same path.
start_relay() {
${relay}
    relay_pids+=("$!")
    relay_files+=("$4")
    relay_names+=("$1 port $2")
}
relay_pids=() relay_files=() relay_names=()
start_relays() {
    local a n=0
    for a in $addresses; do
        start_relay "$a" "$1" "$2" "relay-$1-$n.pid"
        n=$((n + 1))
    done
}

start_classic_relays() {
${starts.map((line) => `    ${line}`).join("\n")}
    # Each relay writes its pid file once it listens; one that exits has failed
    # (the address taken, most likely).
    local i t
    for i in "\${!relay_files[@]}"; do
        for ((t = 0; t < 150; t++)); do
            [ -s "\${relay_files[i]}" ] && break
            kill -0 "\${relay_pids[i]}" 2>/dev/null || break
            sleep 0.1
        done
        chmod 600 "\${relay_files[i]}" 2>/dev/null
        if ! [ -s "\${relay_files[i]}" ]; then
            relay_failed "the NBD relay on \${relay_names[i]} did not start: $(tail -n 1 ${RELAY_LOG})"
        fi
    done
}
${opts.fanout ? fanoutFunction(opts, opts.fanout) : ""}
${
    opts.relays.length === 0
      ? "# The disks are files on this server (a staged copy): nothing to relay."
      : opts.fanout
      ? "start_fanout || start_classic_relays"
      : "start_classic_relays"
  }

${opts.holdStaged === undefined ? "" : holdStaged(opts.holdStaged)}

${opts.boundSeconds > 0 ? watchdog(opts.boundSeconds) : NO_WATCHDOG}

bash ${dir}/${WRAPPER_SCRIPT} >> ${OUTPUT_FILE} 2>> ${RELAY_LOG}
end_job
`;
}
