/**
 * Every command line we run on the conversion server is built here, with
 * every interpolated value quoted, so what runs there can be read in one
 * place. All of them go through bash with `LANG=C` (as the original runs
 * them): the login shell of the account may be anything, and English output
 * is what we parse.
 */
import {
  FOLLOWER_FILE,
  HEARTBEAT_FILE,
  JOB_PID_FILE,
  JOB_SCRIPT,
  OUTPUT_FILE,
  STATUS_FILE,
  WRAPPER_SCRIPT,
} from "./remote_dir.ts";
import { ISOLATED_FUNCTION, isolationProbeLines } from "./isolation.ts";
import type { RelayKind } from "./job_script.ts";
import { shellSingleQuote, shellWord } from "./shell_quote.ts";

/**
 * `script` run by a plain bash, whatever the account's login shell is; what
 * it creates is for the converting user only, whatever sshd's umask.
 */
export function inBash(script: string): string {
  return `LANG=C exec bash --noediting --noprofile --norc -c ${
    shellSingleQuote(`umask 077\n${script}`)
  }`;
}

/**
 * `virt-v2v ARGS 2>&1` (through `sudo -n` when configured), killed on the
 * server after `timeoutSeconds`: a channel without a PTY that we give up on
 * would otherwise leave a hung virt-v2v running there.
 */
export function virtV2vProbeCommand(
  args: readonly string[],
  opts: { sudo: boolean; timeoutSeconds: number },
): string {
  const limit = `$(command -v timeout >/dev/null 2>&1 && echo "timeout ${opts.timeoutSeconds}")`;
  const argv = args.map(shellWord).join(" ");
  return inBash(`${limit} ${opts.sudo ? "sudo -n " : ""}virt-v2v ${argv} 2>&1`);
}

/**
 * Where the login's shell finds virt-v2v, and the PATH it searched: two
 * lines, `virt-v2v=` (empty when not found) and `PATH=`. Asked only after
 * `virt-v2v --version` printed no version, so the message can say which.
 * Plain POSIX shell run by the login shell itself, not through `bash`: a
 * PATH without virt-v2v may well lack bash too, and the login shell is
 * started by sshd from its absolute path.
 */
export function locateVirtV2vCommand(): string {
  return `printf 'virt-v2v=%s\\n' "$(command -v virt-v2v)"; printf 'PATH=%s\\n' "$PATH"`;
}

/** One file of the upload, its bytes following the previous file's on stdin. */
export interface UploadEntry {
  name: string;
  size: number;
  /** Permission bits, e.g. 0o600. */
  mode: number;
}

/** Exit status of the upload command when the directory could not be made. */
export const UPLOAD_MKDIR_FAILED = 90;
/** Exit status `UPLOAD_FILE_FAILED + i`: file `i` (and none after it) could not be written. */
export const UPLOAD_FILE_FAILED = 100;

/**
 * Creates `remoteDir` (mode 0700; it must not exist yet, so nobody can have
 * put a link there first), writes `time`, then every entry from stdin in
 * order — one round trip for all of them. Files are 0600 unless an entry
 * says otherwise, whatever the server's umask. Each file is checked for its
 * full size, so a short stdin cannot pass for a complete upload.
 */
export function uploadCommand(remoteDir: string, entries: readonly UploadEntry[]): string {
  const dir = shellWord(remoteDir);
  const lines = [
    `mkdir -m 700 -- ${dir} || exit ${UPLOAD_MKDIR_FAILED}`,
    `cd -- ${dir} || exit ${UPLOAD_MKDIR_FAILED}`,
    `date > time || exit ${UPLOAD_MKDIR_FAILED}`,
    'put() { head -c "$2" > "$1" && [ "$(wc -c < "$1")" -eq "$2" ] && chmod "$3" "$1"; }',
    ...entries.map((e, i) =>
      `put ${shellWord(e.name)} ${e.size} ${e.mode.toString(8)} || exit ${UPLOAD_FILE_FAILED + i}`
    ),
  ];
  return inBash(lines.join("\n"));
}

/**
 * The control channel's command: the wrapper, then an exit with
 * the status virt-v2v left behind.
 */
export function controlCommand(remoteDir: string): string {
  const dir = shellWord(remoteDir);
  return inBash(`${dir}/${WRAPPER_SCRIPT}; exit $(< ${dir}/${STATUS_FILE})`);
}

/**
 * What the server has for a conversion that survives a dropped link: one
 * line per usable piece — `setsid`, `qemu-nbd VERSION`, `nbdkit-retry` —
 * and whether the job can have a network namespace of its own (`netns`,
 * `uid N`). `relayFromProbe` and `isolationFromProbe` read it.
 */
export function jobProbeCommand(extraLines: readonly string[] = []): string {
  return inBash([
    "command -v setsid >/dev/null && echo setsid",
    "command -v qemu-nbd >/dev/null && qemu-nbd --version 2>/dev/null | head -n 1",
    "nbdkit --filter=retry nbd --dump-plugin >/dev/null 2>&1 && echo nbdkit-retry",
    ...isolationProbeLines(),
    ...extraLines,
    "exit 0",
  ].join("\n"));
}

/** Whether the server can run a job detached from our sessions (it has `setsid`). */
export function detachFromProbe(output: string): boolean {
  return output.split("\n").map((l) => l.trim()).includes("setsid");
}

/** The relay to use, from `relayProbeCommand`'s output; undefined when none can run. */
export function relayFromProbe(output: string): RelayKind | undefined {
  const lines = output.split("\n").map((l) => l.trim());
  if (!lines.includes("setsid")) return undefined;
  // QEMU's NBD client has reconnect-delay from 4.2 on.
  const qemu = /^qemu-nbd (\d+)\.(\d+)/.exec(lines.find((l) => l.startsWith("qemu-nbd ")) ?? "");
  if (qemu && (Number(qemu[1]) > 4 || (Number(qemu[1]) === 4 && Number(qemu[2]) >= 2))) {
    return "qemu-nbd";
  }
  return lines.includes("nbdkit-retry") ? "nbdkit" : undefined;
}

/**
 * Starts the job script in a session of its own (so no SSH session's end
 * reaches it), `isolated` in a network namespace of its own, and returns
 * once it has recorded its process id.
 */
export function startJobCommand(remoteDir: string, opts: { isolated: boolean }): string {
  const dir = shellWord(remoteDir);
  const start = opts.isolated
    ? `export -f isolated\nsetsid -f bash -c 'isolated bash "$1"' job ${dir}/${JOB_SCRIPT}`
    : `setsid -f bash ${dir}/${JOB_SCRIPT}`;
  return inBash(
    (opts.isolated ? `${ISOLATED_FUNCTION}\n` : "") +
      `${start} </dev/null >/dev/null 2>&1\n` +
      `for ((i = 0; i < 100; i++)); do [ -s ${dir}/${JOB_PID_FILE} ] && exit 0; sleep 0.1; done\n` +
      "exit 1",
  );
}

/**
 * Follows the job's output from byte `offset` until the job ends, or until a
 * later connection of ours takes over. Every line we send refreshes the
 * heartbeat the job's watchdog checks. An sshd still following from an
 * earlier connection of ours — one the server has not yet noticed is dead,
 * whose forwards may hold the relays' attention — is ended first: it is
 * named by pid and start time, so a pid the system has since given to
 * another process is left alone.
 */
export function followCommand(remoteDir: string, offset: number): string {
  const dir = shellWord(remoteDir);
  return inBash([
    `cd -- ${dir} || exit 97`,
    // Field 22 of /proc/PID/stat, after the command name (which may hold blanks).
    "started() { sed -n 's/^.*) //p' /proc/\"$1\"/stat 2>/dev/null | cut -d ' ' -f 20; }",
    `read -r old old_start < ${FOLLOWER_FILE} 2>/dev/null`,
    'me="$PPID $(started "$PPID")"',
    `echo "$me" > ${FOLLOWER_FILE}`,
    'if [ -n "$old" ] && [ "$old" != "$PPID" ] && [ -n "$old_start" ] &&',
    '    [ "$(started "$old")" = "$old_start" ] && [ "$(cat /proc/"$old"/comm 2>/dev/null)" = sshd ]; then',
    '    kill -KILL "$old" 2>/dev/null',
    "fi",
    `: > ${HEARTBEAT_FILE}`,
    `( while IFS= read -r _; do : > ${HEARTBEAT_FILE}; done ) &`,
    "beat=$!",
    `tail -c +${offset + 1} -f ${OUTPUT_FILE} &`,
    "follow=$!",
    // A dead job may stay a zombie until init reaps it: that is not alive
    // (so not tail --pid, which counts zombies as alive).
    `job=$(cat ${JOB_PID_FILE})`,
    "alive() {",
    `    s=$(sed -n 's/^State:[[:space:]]*\\([A-Z]\\).*/\\1/p' /proc/"$job"/status 2>/dev/null)`,
    '    [ -n "$s" ] && [ "$s" != Z ]',
    "}",
    // A newer connection of ours follows now: this one has nothing left to do.
    `current() { [ "$(cat ${FOLLOWER_FILE} 2>/dev/null)" = "$me" ]; }`,
    "while alive && current; do sleep 0.2; done",
    // What tail had no time to print, the catch-up after this fetches.
    'kill "$follow" "$beat" 2>/dev/null',
    "current || exit 96",
    "exit 0",
  ].join("\n"));
}

/** The job's output from byte `offset` to its end, then its status as the exit code. */
export function catchUpCommand(remoteDir: string, offset: number): string {
  const dir = shellWord(remoteDir);
  return inBash(
    `tail -c +${offset + 1} -- ${dir}/${OUTPUT_FILE}\n` +
      `exit "$(cat ${dir}/${STATUS_FILE} 2>/dev/null || echo 99)"`,
  );
}

/** Sends `signal` to the job's whole process group (virt-v2v, the relays, the watchdog). */
export function signalJobCommand(remoteDir: string, signal: "INT" | "KILL"): string {
  const dir = shellWord(remoteDir);
  return inBash(`kill -${signal} -- -"$(cat ${dir}/${JOB_PID_FILE})" 2>/dev/null; exit 0`);
}

/** Removes sockets an ended connection left behind (OpenSSH does not), so they can be forwarded again. */
export function removeSocketsCommand(paths: readonly string[]): string {
  return inBash(`rm -f -- ${paths.map(shellWord).join(" ")}`);
}
