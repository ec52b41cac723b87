/**
 * Our own executable on the conversion server, where its server side (the
 * disk fan-out) runs. It is copied once per server and account, cached
 * under its SHA-256 in `~/.cache/virt-p2v` (mode 0700), and checked against
 * that hash when it lands there. Beside it, `SHA256.ok` holds the file's
 * identity as it was then (device, inode, size, modification and change
 * times): the probe, which says whether a copy is needed, and the job
 * script, right before it runs it, compare that instead of hashing 50 MB
 * again each time (0.2–0.4 s of every conversion's start). A file written
 * since has another identity and is hashed again: copied anew when it no
 * longer matches.
 *
 * Why our own file and not a tool of the server: virt-v2v reads each disk
 * through one NBD connection, and neither qemu-nbd nor nbdkit can spread one
 * client's requests over several upstream connections. The file is the
 * whole program (about 35–50 MB); on a 50 ms, 1 Gbit/s link it crosses in
 * about a second, once.
 */
import { inBash } from "./remote_commands.ts";
import { IDENTITY, ownCopyCheck } from "./own_copy_check.ts";
import { shellWord } from "./shell_quote.ts";

/** The probe's line naming the cache directory (absolute), when it can have one. */
const DIR_LINE = "own-copy-dir ";
/** The probe's line when a good copy is already there. */
const READY_LINE = "own-copy-ready";

/** Where the cache is: a shell expression, expanded on the server. */
const CACHE_DIR_EXPR = '"${XDG_CACHE_HOME:-$HOME/.cache}/virt-p2v"';

/** Copies older than this, of other versions, are removed when a new one is put there. */
const STALE_DAYS = 30;

/** Probe script lines: the cache directory, and whether a good copy with `sha256` is in it. */
export function ownCopyProbeLines(sha256: string): string[] {
  return [
    `own_dir=${CACHE_DIR_EXPR}`,
    `case "$own_dir" in /*) echo "${DIR_LINE}$own_dir" ;; esac`,
    `${ownCopyCheck(`"$own_dir"/${shellWord(sha256)}`, sha256)} && echo ${READY_LINE}`,
  ];
}

export interface OwnCopyProbe {
  /** The cache directory on the server; undefined when the account has no usable home. */
  dir?: string;
  /** A good copy is already there. */
  ready: boolean;
}

export function ownCopyFromProbe(output: string): OwnCopyProbe {
  const lines = output.split("\n");
  const dirLine = lines.find((l) => l.startsWith(DIR_LINE));
  const dir = dirLine?.slice(DIR_LINE.length);
  return {
    dir: dir && !dir.includes("\n") && dir.startsWith("/") ? dir : undefined,
    ready: lines.some((l) => l.trim() === READY_LINE),
  };
}

/** The copy's path on the server. */
export function ownCopyPath(dir: string, sha256: string): string {
  return `${dir}/${sha256}`;
}

/**
 * Writes stdin (`size` bytes) to the cache under its hash: into a temporary
 * file first, checked for size and hash, then renamed into place, so a cut
 * link never leaves a half copy under the final name; its identity is
 * recorded beside it. Old copies of other versions are removed.
 */
export function ownCopyUploadCommand(dir: string, sha256: string, size: number): string {
  const d = shellWord(dir);
  const target = shellWord(ownCopyPath(dir, sha256));
  return inBash([
    `mkdir -p -m 700 -- ${d} && chmod 700 -- ${d} || exit 1`,
    `tmp=$(mktemp ${d}/.upload.XXXXXXXX) || exit 1`,
    `trap 'rm -f -- "$tmp"' EXIT`,
    `head -c ${size} > "$tmp" && [ "$(wc -c < "$tmp")" -eq ${size} ] || exit 2`,
    `echo ${shellWord(`${sha256}  `)}"$tmp" | sha256sum -c --status || exit 3`,
    `chmod 700 -- "$tmp" && mv -f -- "$tmp" ${target} || exit 1`,
    `${IDENTITY} -- ${target} > ${target}.ok || exit 1`,
    `find ${d} -maxdepth 1 -type f -mtime +${STALE_DAYS} ! -name ${shellWord(sha256)} ! -name ${
      shellWord(`${sha256}.ok`)
    } -delete 2>/dev/null`,
    "exit 0",
  ].join("\n"));
}
