/**
 * Whether our copy on the conversion server is still the file that was
 * hashed when it landed: its identity, recorded beside it in `FILE.ok`, is
 * compared instead of hashing 50 MB again before every use (see
 * server_copy.ts). Used by the probe and by the job script, which must not
 * depend on each other.
 */
import { shellWord } from "./shell_quote.ts";

/** A file's identity: what changes whenever it is written, replaced or moved. */
export const IDENTITY = `stat -c '%d:%i:%s:%y:%z'`;

/**
 * Bash that succeeds when the file at `path` (an expression) is the one whose
 * identity `path.ok` records, or, failing that, has the hash `sha256` (its
 * identity is then recorded again). Needs only bash and coreutils.
 */
export function ownCopyCheck(path: string, sha256: string): string {
  return `{ [ -f ${path} ] && { [ "$(${IDENTITY} -- ${path} 2>/dev/null)" = "$(cat -- ${path}.ok 2>/dev/null)" ] || ` +
    `{ echo ${shellWord(`${sha256}  `)}${path} | sha256sum -c --status 2>/dev/null && ` +
    `{ ${IDENTITY} -- ${path} > ${path}.ok; true; } 2>/dev/null; }; }; }`;
}
