/**
 * Creating the remote directory and writing every file into it with ONE
 * remote command: a round trip per file would add seconds on a WAN link.
 */
import type { RemoteFile } from "../remote/upload_files.ts";
import {
  UPLOAD_FILE_FAILED,
  UPLOAD_MKDIR_FAILED,
  uploadCommand,
} from "../remote/remote_commands.ts";
import { UserError } from "../errors.ts";
import type { RemoteSession } from "../net/session.ts";
import type { EventSink } from "./events.ts";

const encoder = new TextEncoder();

function lastLine(text: string): string {
  return text.trim().split("\n").pop() ?? "";
}

/**
 * Throws a UserError when the directory cannot be made or a required file
 * cannot be written; a best-effort file that fails (and those after it) is
 * a warning.
 */
export async function uploadFiles(
  session: RemoteSession,
  remoteDir: string,
  files: readonly RemoteFile[],
  opts: { timeoutMs: number; emit: EventSink },
): Promise<void> {
  const bodies = files.map((f) =>
    typeof f.content === "string" ? encoder.encode(f.content) : f.content
  );
  const stdin = new Uint8Array(bodies.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bodies) {
    stdin.set(b, at);
    at += b.length;
  }
  const command = uploadCommand(
    remoteDir,
    files.map((f, i) => ({ name: f.name, size: bodies[i].length, mode: f.mode })),
  );
  const result = await session.exec(command, { stdin, timeoutMs: opts.timeoutMs });
  if (result.code === 0) return;

  const detail = lastLine(result.stderr || result.stdout);
  const why = detail ? `: ${detail}` : "";
  const failed = result.code === null ? -1 : result.code - UPLOAD_FILE_FAILED;
  if (result.code === UPLOAD_MKDIR_FAILED || failed < 0 || failed >= files.length) {
    throw new UserError(
      `cannot create ${remoteDir} on the conversion server (exit status ${
        result.code ?? result.signal
      })${why}; check that /tmp there is writable and not full`,
    );
  }
  const file = files[failed];
  if (file.required) {
    throw new UserError(`cannot upload ${file.name} to the conversion server${why}`);
  }
  const skipped = files.slice(failed).map((f) => f.name).join(", ");
  opts.emit({ type: "warning", message: `could not upload ${skipped}${why}` });
}
