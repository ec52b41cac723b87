/**
 * `virt-p2v-job.sh`: what a conversion that can survive a dropped link runs
 * on the server (SPEC §12), detached from every SSH session in a session
 * and process group of its own. It starts one NBD relay per disk, listening
 * on the port physical.xml names, its upstream our reverse forward as a Unix
 * socket that may go away and come back at the same path; then a watchdog,
 * then the wrapper. The user's output goes to a file that virt-p2v follows
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

/** Status the job leaves when a relay could not start (virt-v2v never ran). */
export const STATUS_RELAY_FAILED = 98;

export interface RelaySpec {
  /** The loopback TCP port virt-v2v connects to (physical.xml's). */
  port: number;
  /** Absolute path of our forward's Unix socket. */
  socket: string;
}

/** Which program relays each disk (the server has at least one of them). */
export type RelayKind = "qemu-nbd" | "nbdkit";

export interface JobScriptOptions {
  remoteDir: string;
  relay: RelayKind;
  relays: readonly RelaySpec[];
  /** With no heartbeat for this long, the watchdog ends the conversion. */
  boundSeconds: number;
  /** The relays retry a lost upstream this often, for at least `boundSeconds`. */
  retryDelaySeconds: number;
}

/** How often the watchdog looks at the heartbeat. */
const WATCHDOG_PERIOD_SECONDS = 5;
/** After TERM, how long the job's processes get before KILL. */
const KILL_GRACE_SECONDS = 10;

export function buildJobScript(opts: JobScriptOptions): string {
  const dir = shellWord(opts.remoteDir);
  const retries = Math.ceil(opts.boundSeconds / opts.retryDelaySeconds) + 1;
  // Requests wait for the upstream to come back for as long as the watchdog waits for us.
  const relay = opts.relay === "qemu-nbd"
    ? `    qemu-nbd -r -t -e 16 -b 127.0.0.1 -p "$1" --pid-file="relay-$1.pid" \\
        --image-opts "driver=nbd,server.type=unix,server.path=\${2//,/,,},reconnect-delay=${opts.boundSeconds}" \\
        2>> ${RELAY_LOG} &`
    : `    nbdkit -r -f --exit-with-parent -i 127.0.0.1 -p "$1" -P "relay-$1.pid" \\
        --filter=retry nbd socket="$2" \\
        retries=${retries} retry-delay=${opts.retryDelaySeconds} retry-exponential=no \\
        2>> ${RELAY_LOG} &`;
  const starts = opts.relays.map((r) => `start_relay ${r.port} ${shellWord(r.socket)}`);
  const ports = opts.relays.map((r) => String(r.port)).join(" ");

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

# A relay per disk: the port physical.xml names; its upstream, our forward
# as a Unix socket, may go away and come back at the same path.
start_relay() {
${relay}
}
${starts.join("\n")}

# Each relay writes its pid file once it listens.
for port in ${ports}; do
    for ((i = 0; i < 150; i++)); do
        [ -s "relay-$port.pid" ] && break
        sleep 0.1
    done
    chmod 600 "relay-$port.pid" 2>/dev/null
    if ! [ -s "relay-$port.pid" ]; then
        echo "${PROGRAM}: the NBD relay on port $port did not start" >> ${RELAY_LOG}
        echo ${STATUS_RELAY_FAILED} > ${STATUS_FILE}
        end_job
    fi
done

# No heartbeat for the bound: ${PROGRAM} is not coming back; end everything,
# giving virt-v2v the chance to clean up first.
(
    trap '' TERM
    while sleep ${WATCHDOG_PERIOD_SECONDS}; do
        age=$(( $(date +%s) - $(stat -c %Y ${HEARTBEAT_FILE}) ))
        if [ "$age" -gt ${opts.boundSeconds} ]; then
            echo "${PROGRAM}: no contact with the physical machine for $age s: stopping the conversion" \\
                >> ${CONVERSION_LOG}
            kill -TERM -- -$$
            sleep ${KILL_GRACE_SECONDS}
            kill -KILL -- -$$
        fi
    done
) &

bash ${dir}/${WRAPPER_SCRIPT} >> ${OUTPUT_FILE} 2>> ${RELAY_LOG}
end_job
`;
}
