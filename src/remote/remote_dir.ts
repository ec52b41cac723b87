/**
 * The per-conversion working directory on the server (FILES in docs/virt-p2v.1) and
 * the names of the files in it.
 */
import { LOWER_ALNUM, randomString } from "../system/random.ts";

/** Length of the random part of the directory name. */
export const REMOTE_DIR_RANDOM_LENGTH = 8;

/** Pattern every name made by `makeRemoteDirName` matches. */
export const REMOTE_DIR_PATTERN = /^\/tmp\/virt-p2v-[0-9]{8}-[a-z0-9]{8}$/;

/** The script that runs virt-v2v. */
export const WRAPPER_SCRIPT = "virt-v2v-wrapper.sh";
/** virt-v2v's stdout and stderr. */
export const CONVERSION_LOG = "virt-v2v-conversion-log.txt";
/** virt-v2v's exit code, written by the wrapper. */
export const STATUS_FILE = "status";

/** A conversion that can outlive the SSH session adds these (see docs/DEVELOPING.md). */
export const JOB_SCRIPT = "virt-p2v-job.sh";
/** The job's process id, which is also its process group and session. */
export const JOB_PID_FILE = "job.pid";
/** What virt-v2v and the wrapper print (the log has stderr too): what the user follows. */
export const OUTPUT_FILE = "virt-v2v-output.txt";
/** Touched by each heartbeat from the physical machine. */
export const HEARTBEAT_FILE = "heartbeat";
/** The NBD relays' own messages. */
export const RELAY_LOG = "relay.log";
/** The sshd of the connection that follows the job now (to end a stale one). */
export const FOLLOWER_FILE = "follower.pid";

/** The Unix socket our reverse forward of disk `index` listens on. */
export function diskSocketPath(remoteDir: string, index: number): string {
  return `${remoteDir}/disk${index}.sock`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/**
 * `/tmp/virt-p2v-YYYYMMDD-XXXXXXXX`: the UTC date of `now` and 8 characters
 * drawn from lowercase letters and digits, so the name never needs quoting.
 */
export function makeRemoteDirName(
  now: Date,
  random: (length: number) => string = (n) => randomString(n, LOWER_ALNUM),
): string {
  if (Number.isNaN(now.getTime())) throw new RangeError("makeRemoteDirName: invalid date");
  const date = pad(now.getUTCFullYear(), 4) + pad(now.getUTCMonth() + 1, 2) +
    pad(now.getUTCDate(), 2);
  const suffix = random(REMOTE_DIR_RANDOM_LENGTH);
  if (!/^[a-z0-9]{8}$/.test(suffix)) {
    throw new RangeError(`makeRemoteDirName: unusable random part ${JSON.stringify(suffix)}`);
  }
  return `/tmp/virt-p2v-${date}-${suffix}`;
}

/** Where the conversion log of `remoteDir` is. */
export function conversionLogPath(remoteDir: string): string {
  return `${remoteDir}/${CONVERSION_LOG}`;
}
