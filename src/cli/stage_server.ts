/**
 * The staging area's side of a warm conversion: `virt-p2v --stage OP …`,
 * run from our copy on the conversion server, one command per SSH channel.
 * Not for users: the physical machine's side writes its arguments.
 *
 *   --stage open AREA NAME        binding on stdin; a JSON line on stdout
 *   --stage hash AREA NAME DISK   every chunk's SHA-256, raw, on stdout
 *   --stage write AREA NAME DISK  chunk frames on stdin; "INDEX HASH" lines
 *                                 of what was written and read back
 *   --stage mark AREA NAME STEP   the step (precopy, cutover) completed
 *   --stage list AREA             one JSON line per staged conversion
 *   --stage remove AREA NAME      removes a staged conversion
 */
import { UserError } from "../errors.ts";
import { parseBinding } from "../stage/binding.ts";
import {
  hashStaged,
  listStaged,
  markStaged,
  openStaging,
  removeStaged,
  writeStaged,
} from "../stage/staging_area.ts";

export const STAGE_FLAG = "--stage";

/** The most an open request may hold. */
const MAX_REQUEST_BYTES = 64 * 1024;

async function readAll(stream: ReadableStream<Uint8Array>, limit: number): Promise<string> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const piece of stream) {
    total += piece.length;
    if (total > limit) throw new UserError(`${STAGE_FLAG}: the request is over ${limit} bytes`);
    parts.push(piece);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new TextDecoder().decode(all);
}

function diskNumber(value: string | undefined): number {
  if (value === undefined || !/^[0-9]{1,2}$/.test(value)) {
    throw new UserError(`${STAGE_FLAG}: a disk number is expected, not "${value ?? ""}"`);
  }
  return Number(value);
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

/** Runs one operation; returns the exit status (errors are thrown as UserError). */
export async function runStageServer(args: string[]): Promise<number> {
  const [op, area, name, extra] = args;
  const want = (n: number) => {
    if (args.length !== n) {
      throw new UserError(`${STAGE_FLAG} ${op ?? ""}: ${n - 1} arguments expected`);
    }
  };
  switch (op) {
    case "open": {
      want(3);
      let request: unknown;
      try {
        request = JSON.parse(await readAll(Deno.stdin.readable, MAX_REQUEST_BYTES));
      } catch {
        throw new UserError(`${STAGE_FLAG} open: the request is not JSON`);
      }
      const r = request as { binding?: unknown; step?: unknown };
      const binding = parseBinding(r?.binding);
      if (!binding || (r.step !== "precopy" && r.step !== "cutover")) {
        throw new UserError(`${STAGE_FLAG} open: not a staging request`);
      }
      await writeOut(openStaging(area, name, { binding, step: r.step }));
      return 0;
    }
    case "hash":
      want(4);
      await writeOut(await hashStaged(area, name, diskNumber(extra)));
      return 0;
    case "write":
      want(4);
      await writeStaged(area, name, diskNumber(extra), Deno.stdin.readable, writeOut);
      return 0;
    case "mark":
      want(4);
      if (extra !== "precopy" && extra !== "cutover") {
        throw new UserError(`${STAGE_FLAG} mark: precopy or cutover, not "${extra}"`);
      }
      markStaged(area, name, extra);
      return 0;
    case "list":
      want(2);
      await writeOut(listStaged(area));
      return 0;
    case "remove":
      want(3);
      removeStaged(area, name);
      return 0;
    default:
      throw new UserError(`${STAGE_FLAG}: unknown operation "${op ?? ""}"`);
  }
}
