/**
 * The staging area's side of a run, in the one process that holds the
 * staged conversion (`--stage open`): it listens on a Unix socket in the
 * staged directory (mode 0700, so only our user reaches it), and the
 * physical machine opens as many SSH channels to it as it likes — no
 * program starts on the server per channel. Each connection asks one
 * thing, on its first line:
 *
 *   hash DISK     answer "hashes BYTES", then every chunk's SHA-256, raw
 *   write DISK    chunk frames follow until the end of input; answers
 *                 "INDEX HASH" lines of what was written and read back,
 *                 then "ok"
 *   mark STEP     the step (precopy, cutover) completed; answers "ok"
 *
 * and anything that goes wrong is answered "error WHY" as the last line.
 */
import fs from "node:fs";
import type { StageBinding } from "./binding.ts";
import { StagedDisk } from "./staged_disk.ts";
import { markStaged, SOCKET_FILE, stagedImage, stagingSocket } from "./staging_area.ts";
import { describeError } from "../errors.ts";

/** The most a request line may hold. */
const MAX_REQUEST_BYTES = 128;

export interface StagingService {
  socket: string;
  /** Stops listening, ends the connections left, and keeps each disk's hashes that hold. */
  close(): Promise<void>;
}

export function serveStaging(dir: string, binding: StageBinding): StagingService {
  const socket = stagingSocket(dir);
  // A run before ours that died may have left its socket; the lock says it is gone.
  fs.rmSync(socket, { force: true });
  // Bound by its name within the directory: a socket's whole path may hold only 107 bytes,
  // and a long staging area and guest name reach that. This process does nothing else.
  Deno.chdir(dir);
  const listener = Deno.listen({ transport: "unix", path: SOCKET_FILE });
  fs.chmodSync(socket, 0o600);
  const disks = binding.disks.map((d, i) => new StagedDisk(i, stagedImage(dir, i), d.size));
  const conns = new Set<Deno.UnixConn>();
  const handlers = new Set<Promise<void>>();
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const handled: Promise<void> = serveConnection(conn, dir, disks)
        .catch(() => {})
        .finally(() => {
          conns.delete(conn);
          handlers.delete(handled);
          closeQuietly(conn);
        });
      handlers.add(handled);
    }
  })().catch(() => {});
  return {
    socket,
    close: async () => {
      listener.close();
      await accepting;
      // A run that ended has closed its connections; one that vanished has not.
      for (const conn of conns) closeQuietly(conn);
      await Promise.allSettled([...handlers]);
      fs.rmSync(socket, { force: true });
      for (const disk of disks) await disk.keep().catch(() => {});
    },
  };
}

function closeQuietly(conn: Deno.UnixConn): void {
  try {
    conn.close();
  } catch { /* closed already */ }
}

async function writeAll(conn: Deno.UnixConn, data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.length) at += await conn.write(data.subarray(at));
}

const encoder = new TextEncoder();

/** Bytes read at a time from a connection. */
const READ_BYTES = 256 * 1024;

/**
 * What `conn` sends, until it ends its side. Read with `conn.read`, not
 * its `readable` stream: that stream closes the whole connection at the
 * end of input, and the answer still has to go back.
 */
async function* received(conn: Deno.UnixConn): AsyncGenerator<Uint8Array> {
  while (true) {
    const buffer = new Uint8Array(READ_BYTES);
    const n = await conn.read(buffer);
    if (n === null) return;
    yield buffer.subarray(0, n);
  }
}

/** The request line, and the bytes that came after it in the same read. */
async function requestLine(
  input: AsyncGenerator<Uint8Array>,
): Promise<{ line: string; rest: Uint8Array }> {
  let pending = new Uint8Array(0);
  while (true) {
    const end = pending.indexOf(10);
    if (end >= 0) {
      return {
        line: new TextDecoder().decode(pending.subarray(0, end)),
        rest: pending.subarray(end + 1),
      };
    }
    if (pending.length > MAX_REQUEST_BYTES) throw new Error("the request line is too long");
    const { value, done } = await input.next();
    if (done) throw new Error("the connection ended before its request");
    const joined = new Uint8Array(pending.length + value.length);
    joined.set(pending);
    joined.set(value, pending.length);
    pending = joined;
  }
}

async function* rest(
  first: Uint8Array,
  input: AsyncGenerator<Uint8Array>,
): AsyncIterable<Uint8Array> {
  if (first.length > 0) yield first;
  yield* input;
}

async function serveConnection(
  conn: Deno.UnixConn,
  dir: string,
  disks: StagedDisk[],
): Promise<void> {
  const input = received(conn);
  const say = (text: string) => writeAll(conn, encoder.encode(text));
  try {
    const { line, rest: first } = await requestLine(input);
    const m = /^(hash|write) ([0-9]{1,2})$|^mark (precopy|cutover)$/.exec(line);
    if (!m) throw new Error(`not a request: "${line.slice(0, 40)}"`);
    if (m[3] !== undefined) {
      markStaged(dir, m[3] as "precopy" | "cutover");
      await say("ok\n");
      return;
    }
    const disk = disks[Number(m[2])];
    if (disk === undefined) throw new Error(`the staged copy has no disk ${m[2]}`);
    if (m[1] === "hash") {
      const hashes = await disk.hashes();
      await say(`hashes ${hashes.length}${disk.hashesKept ? " kept" : ""}\n`);
      await writeAll(conn, hashes);
      return;
    }
    await disk.write(rest(first, input), say);
    await say("ok\n");
  } catch (err) {
    const why = describeError(err).replace(/[\r\n]+/g, " ").slice(0, 400);
    await say(`error ${why}\n`).catch(() => {});
  }
}
