/**
 * `virt-v2v-wrapper.sh`, the bash script that runs virt-v2v on the
 * conversion server, and the command that starts it.
 */

import type { Config } from "../config/types.ts";
import { PROGRAM, VERSION } from "../version.ts";
import { CONVERSION_LOG, STATUS_FILE } from "./remote_dir.ts";
import { shellDoubleQuote, shellWord } from "./shell_quote.ts";

/** Status the script writes before anything runs: "virt-v2v never reported". */
export const STATUS_NOT_STARTED = 99;

/** Lines of the log shown to the user when virt-v2v fails. */
export const LOG_TAIL_LINES = 50;

export interface WrapperScriptOptions {
  /** Pass `--colours` (only when the server reported `colours-option`). */
  colours: boolean;
}

/** A user-supplied value as one literal shell word. */
function q(value: string): string {
  return shellDoubleQuote(value, { asciiOnly: true });
}

/**
 * The virt-v2v argument list after the program name, each user value already
 * quoted. Options whose value is unset or empty are left out, since virt-v2v
 * would reject an empty value anyway.
 */
export function virtV2vArguments(config: Config, opts: WrapperScriptOptions): string[] {
  const args = ["-v", "-x"];
  if (opts.colours) args.push("--colours");
  args.push("-i", "libvirtxml");
  const out = config.output;
  const add = (flag: string, value: string | undefined) => {
    if (value !== undefined && value !== "") args.push(flag, q(value));
  };
  add("-o", out.type);
  add("-oa", out.allocation);
  add("-of", out.format);
  add("-os", out.storage);
  for (const item of out.misc) add("-oo", item);
  add("-oc", out.connection);
  args.push("--root", "first", "physical.xml");
  return args;
}

/**
 * The text of the wrapper script for `remoteDir`. It writes status 99 first,
 * records the environment and the virt-v2v version, runs virt-v2v with its
 * stdout copied both to the log and back to us and its stderr to the log
 * only, stores virt-v2v's own exit code in `status`, and on failure prints a
 * red banner, the log path and the end of the log. The script itself exits
 * with that code too.
 */
export function buildWrapperScript(
  config: Config,
  remoteDir: string,
  opts: WrapperScriptOptions,
): string {
  const dir = shellWord(remoteDir);
  const logPath = q(`${remoteDir}/${CONVERSION_LOG}`);
  const sudo = config.auth.sudo ? "sudo -n " : "";
  const command = `${sudo}virt-v2v ${virtV2vArguments(config, opts).join(" ")}`;

  return `#!/bin/bash -
# Written by ${PROGRAM} ${VERSION}: runs virt-v2v on the conversion server.

# Belt and braces: history expansion is already off in scripts.
set +o histexpand

# The log, the environment and the status are for the user who converts only.
umask 077

cd ${dir} || exit 1

log=${CONVERSION_LOG}

# Assume failure until virt-v2v itself reports an exit code.
echo ${STATUS_NOT_STARTED} > ${STATUS_FILE}

rm -f "$log"

# For later diagnosis: the environment virt-v2v runs in, and its version.
printenv > environment
${sudo}virt-v2v --version > v2v-version

# stderr goes to the log only; stdout goes to the log and back to ${PROGRAM}.
${command} </dev/null 2>>"$log" | tee -a "$log"
# The pipeline's own status would be tee's; keep virt-v2v's.
rc=\${PIPESTATUS[0]}
echo "$rc" > ${STATUS_FILE}

# virt-v2v reports its errors on stderr, which ${PROGRAM} does not see:
# show the end of the log instead.
if [ "$rc" -ne 0 ]; then
    echo
    echo
    echo
    printf '\\033[1;31m'
    echo '*** virt-v2v command failed ***'
    echo
    echo 'The full log is available on the conversion server in:'
    printf '    %s\\n' ${logPath}
    echo 'Only the last ${LOG_TAIL_LINES} lines are shown below.'
    printf '\\033[0m'
    echo
    echo
    echo
    tail -n ${LOG_TAIL_LINES} "$log"
fi

exit "$rc"
`;
}
