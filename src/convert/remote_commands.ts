/**
 * Every command line we run on the conversion server is built here, with
 * every interpolated value quoted, so what runs there can be read in one
 * place. All of them go through bash with `LANG=C` (as the original runs
 * them): the login shell of the account may be anything, and English output
 * is what we parse.
 */
import { STATUS_FILE, WRAPPER_SCRIPT } from "./remote_dir.ts";
import { shellSingleQuote, shellWord } from "./shell_quote.ts";

/** `script` run by a plain bash, whatever the account's login shell is. */
export function inBash(script: string): string {
  return `LANG=C exec bash --noediting --noprofile --norc -c ${shellSingleQuote(script)}`;
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
    "umask 077",
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
 * The control channel's command (SPEC §8): the wrapper, then an exit with
 * the status virt-v2v left behind.
 */
export function controlCommand(remoteDir: string): string {
  const dir = shellWord(remoteDir);
  return inBash(`${dir}/${WRAPPER_SCRIPT}; exit $(< ${dir}/${STATUS_FILE})`);
}
