/**
 * The staging area's side of a warm conversion: `virt-p2v --stage OP …`,
 * run from our copy on the conversion server, one command per SSH channel.
 * Not for users: the physical machine's side writes its arguments.
 *
 *   --stage open AREA NAME        a JSON line on stdin (binding, step); a JSON
 *                                 line on stdout (with the socket the run's
 *                                 channels reach it by); then holds the
 *                                 staged conversion, no other run may open
 *                                 it, and serves that socket, until its
 *                                 stdin ends (staging_service.ts)
 *   --stage connect AREA NAME     stdin and stdout joined to that socket,
 *                                 for a server whose sshd refuses channels
 *                                 to sockets
 *   --stage list AREA             one JSON line per staged conversion
 *   --stage remove AREA NAME      removes a staged conversion
 */
import { basename, dirname, resolve } from "node:path";
import { UserError } from "../errors.ts";
import { parseBinding } from "../stage/binding.ts";
import { heldStagingSocket, listStaged, openStaging, removeStaged } from "../stage/staging_area.ts";
import { serveStaging } from "../stage/staging_service.ts";
import { within } from "../system/within.ts";

export const STAGE_FLAG = "--stage";

/** The most an open request may hold. */
const MAX_REQUEST_BYTES = 64 * 1024;

/** The first line of `reader` (without its newline), at most `limit` bytes. */
async function readLine(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  limit: number,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += decoder.decode(value, { stream: true });
    const end = text.indexOf("\n");
    if (end >= 0) return text.slice(0, end);
    if (text.length > limit) {
      throw new UserError(`${STAGE_FLAG}: the request is over ${limit} bytes`);
    }
  }
}

/**
 * How long an open staged conversion stays held without a word from its
 * run (which sends a newline every few seconds): a machine switched off, or
 * a link lost without a close, leaves sshd none the wiser for hours.
 */
const DEFAULT_QUIET_MS = 60_000;
const QUIET_MS_RANGE = [1_000, 600_000] as const;

/** Waits for the end of `reader`, or for `quietMs` without a byte on it. */
async function untilEndOrQuiet(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  quietMs: number,
): Promise<void> {
  while (true) {
    const got = await within(quietMs, reader.read());
    if (got === undefined || got.done) return;
  }
}

async function writeOut(data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const writer = Deno.stdout.writable.getWriter();
  try {
    await writer.write(bytes);
  } finally {
    writer.releaseLock();
  }
}

/** Joins our stdin and stdout to the Unix socket `path`, until it ends. */
async function joinToSocket(path: string): Promise<void> {
  let conn: Deno.UnixConn;
  try {
    // By its name within its directory: the whole path may be over a socket path's 107 bytes.
    Deno.chdir(dirname(path));
    conn = await Deno.connect({ transport: "unix", path: basename(path) });
  } catch (err) {
    throw new UserError(`no run holds the staged copy now (${path}: ${(err as Error).message})`);
  }
  // What the run sends goes on until its end; the answer's end is ours.
  Deno.stdin.readable.pipeTo(conn.writable, { preventClose: true })
    .then(() => conn.closeWrite())
    .catch(() => {});
  await conn.readable.pipeTo(Deno.stdout.writable, { preventClose: true });
}

/** Runs one operation; returns the exit status (errors are thrown as UserError). */
export async function runStageServer(args: string[]): Promise<number> {
  const [op, given, name] = args;
  // Absolute: the run's process serves from within the staged directory (joinToSocket's note).
  const area = given === undefined ? given : resolve(given);
  const want = (n: number) => {
    if (args.length !== n) {
      throw new UserError(`${STAGE_FLAG} ${op ?? ""}: ${n - 1} arguments expected`);
    }
  };
  switch (op) {
    case "open": {
      want(3);
      const input = Deno.stdin.readable.getReader();
      let request: unknown;
      try {
        request = JSON.parse(await readLine(input, MAX_REQUEST_BYTES));
      } catch (err) {
        if (err instanceof UserError) throw err;
        throw new UserError(`${STAGE_FLAG} open: the request is not JSON`);
      }
      const r = request as { binding?: unknown; step?: unknown; quietMs?: unknown };
      const binding = parseBinding(r?.binding);
      if (!binding || (r.step !== "precopy" && r.step !== "cutover")) {
        throw new UserError(`${STAGE_FLAG} open: not a staging request`);
      }
      const quietMs = r.quietMs === undefined ? DEFAULT_QUIET_MS : Number(r.quietMs);
      if (!(quietMs >= QUIET_MS_RANGE[0] && quietMs <= QUIET_MS_RANGE[1])) {
        throw new UserError(`${STAGE_FLAG} open: quietMs is out of range`);
      }
      const opened = await openStaging(area, name, { binding, step: r.step });
      try {
        const service = serveStaging(opened.dir, opened.binding);
        try {
          const { dir, free, needed } = opened;
          await writeOut(
            JSON.stringify({ ok: true, dir, free, needed, socket: service.socket }) + "\n",
          );
          // Held for the run: its end, or its link's, ends our stdin; a lost run falls quiet.
          await untilEndOrQuiet(input, quietMs);
        } finally {
          await service.close();
        }
      } finally {
        opened.lock.close();
      }
      return 0;
    }
    case "connect":
      want(3);
      await joinToSocket(heldStagingSocket(area, name));
      return 0;
    case "list":
      want(2);
      await writeOut(listStaged(area));
      return 0;
    case "remove":
      want(3);
      await removeStaged(area, name);
      return 0;
    default:
      throw new UserError(`${STAGE_FLAG}: unknown operation "${op ?? ""}"`);
  }
}
