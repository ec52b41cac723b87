/**
 * Bringing a staged copy in line with the source disks: both ends hash
 * every chunk at once (here the source, there the staged image), only the
 * chunks that differ cross — zeros as a header, the rest zstd-packed where
 * that saves an eighth — spread over several SSH channels so that a long
 * link fills, and under the bandwidth cap. The server's hashes are the ones
 * its last run kept when the image has not changed since; it syncs what it wrote,
 * reads it back and returns its hash: a chunk counts as staged only when
 * that hash is the one of the data we sent.
 */
import type { RemoteProcess } from "../net/session.ts";
import type { RateLimit } from "../net/rate_limit.ts";
import { isAllZero } from "../nbd/builtin/all_zero.ts";
import { packBlock, worthSending } from "../nbd/zstd_block.ts";
import { LineSplitter } from "./line_splitter.ts";
import type { EventSink } from "./events.ts";
import { formatBytes, formatRate } from "../text/units.ts";
import { diskSourcePath } from "../nbd/disk_size.ts";
import { UserError } from "../errors.ts";
import {
  CHUNK_BYTES,
  chunkCount,
  chunkLength,
  HASH_BYTES,
  hashChunk,
  hashChunks,
  sameChunk,
} from "../stage/chunk_hashes.ts";
import { encodeFrameHeader, type FrameKind } from "../stage/chunk_frames.ts";
import { answerError, type StagingRun } from "../stage/staging_client.ts";
import { hexOf } from "../text/hex.ts";

export interface DiskSync {
  /** As the config names it. */
  name: string;
  size: number;
}

export interface SyncOptions {
  staging: StagingRun;
  disks: DiskSync[];
  /** SSH channels the chunks of a disk are spread over. */
  channels: number;
  compress: boolean;
  bandwidth?: RateLimit;
  emit: EventSink;
  signal: AbortSignal;
  /** Bound on the server's hashing of one disk. */
  hashTimeoutMs: number;
  progressEveryMs?: number;
  /** Each disk's hashes, when already begun (see startLocalHashing); read here otherwise. */
  localHashes?: Promise<Uint8Array>[];
}

export interface DiskSyncResult {
  name: string;
  chunks: number;
  /** Chunks that differed and crossed. */
  sent: number;
  /** Of those, chunks of zeros (a header each). */
  zeros: number;
  /** Bytes of chunk data (as on the disk) sent, and bytes that crossed for them. */
  dataBytes: number;
  linkBytes: number;
  /**
   * Hashes of the source as this sync read it: with the ones the server
   * confirmed, every chunk of the staged copy is known to hold them.
   */
  hashes: Uint8Array;
  /** Chunks whose data was read again while sending and had changed (a live source). */
  changedWhileSending: number;
  seconds: number;
}

/** Reads chunk `index` of an open disk. */
async function readChunk(file: Deno.FsFile, size: number, index: number): Promise<Uint8Array> {
  const length = chunkLength(size, index);
  const buf = new Uint8Array(length);
  await file.seek(index * CHUNK_BYTES, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  if (got < length) throw new Error(`the disk ended at ${index * CHUNK_BYTES + got} bytes`);
  return buf;
}

function paced(bandwidth: RateLimit | undefined, bytes: number): Promise<void> {
  if (!bandwidth) return Promise.resolve();
  return new Promise((resolve) => bandwidth.take(bytes, resolve));
}

function hashLocalDisk(disk: DiskSync, signal: AbortSignal): Promise<Uint8Array> {
  const path = diskSourcePath(disk.name);
  return hashChunks(path, disk.size, undefined, signal).catch((err) => {
    if (signal.aborted) throw err;
    throw new UserError(`cannot read disk ${path}: ${(err as Error).message}`);
  });
}

/**
 * Begins hashing the source disks, one after another, before the session's
 * round trips to the server (program check, staging area, RTT): on a long
 * link those hide most of it, and the server then hashes alone. A failure
 * surfaces where the hashes are awaited.
 */
export function startLocalHashing(disks: DiskSync[], signal: AbortSignal): Promise<Uint8Array>[] {
  const started: Promise<Uint8Array>[] = [];
  let previous: Promise<unknown> = Promise.resolve();
  for (const disk of disks) {
    const hashed = previous.catch(() => {}).then(() => hashLocalDisk(disk, signal));
    hashed.catch(() => {}); // awaited later; a rejection must not go unhandled meanwhile
    started.push(hashed);
    previous = hashed;
  }
  return started;
}

/** Syncs every disk in turn; throws a UserError naming what failed. */
export async function syncDisks(opts: SyncOptions): Promise<DiskSyncResult[]> {
  const results: DiskSyncResult[] = [];
  for (const [i, disk] of opts.disks.entries()) {
    results.push(await syncDisk(opts, i, disk));
  }
  return results;
}

async function syncDisk(opts: SyncOptions, index: number, disk: DiskSync): Promise<DiskSyncResult> {
  const { emit } = opts;
  const started = performance.now();
  const chunks = chunkCount(disk.size);
  emit({
    type: "stage",
    message: `disk ${disk.name}: hashing its ${formatBytes(disk.size)} here and the staged ` +
      `copy on the server, in ${formatBytes(CHUNK_BYTES)} chunks ...`,
  });
  // The writers' channels open while both ends hash, their round trips hidden.
  const writers = Array.from({ length: Math.max(1, opts.channels) }, () => openWriter(opts, index));
  const closeAll = () => Promise.allSettled(writers.map(async (w) => (await w).proc.hangUp()));
  let local: Uint8Array, staged: { hashes: Uint8Array; kept: boolean };
  try {
    [local, staged] = await Promise.all([
      opts.localHashes?.[index] ?? hashLocalDisk(disk, opts.signal),
      opts.staging.hashes(index, chunks * HASH_BYTES, opts.hashTimeoutMs),
    ]);
  } catch (err) {
    await closeAll();
    throw err;
  }
  const differ: number[] = [];
  for (let c = 0; c < chunks; c++) if (!sameChunk(local, staged.hashes, c)) differ.push(c);
  const hashSeconds = (performance.now() - started) / 1000;
  const differBytes = differ.reduce((n, c) => n + chunkLength(disk.size, c), 0);
  emit({
    type: "stage",
    message: `disk ${disk.name}: hashed in ${hashSeconds.toFixed(1)} s` +
      (staged.kept ? " (the staged copy's hashes as its last run kept them)" : "") +
      `; ${differ.length} of ` +
      `${chunks} chunks differ (${formatBytes(differBytes)})` +
      (differ.length > 0
        ? `, sent over ${writers.length} SSH channel${writers.length === 1 ? "" : "s"}`
        : ""),
  });
  let sent: SendCounts;
  try {
    sent = await sendChunks(opts, disk, differ, local, writers);
  } catch (err) {
    await closeAll();
    throw err;
  }
  const seconds = (performance.now() - started) / 1000;
  emit({
    type: "stage",
    message:
      `disk ${disk.name}: ${sent.sent} chunks sent (${formatBytes(sent.dataBytes)} of data in ` +
      `${formatBytes(sent.linkBytes)}), each read back on the server and its hash checked; ` +
      `${chunks - sent.sent} were staged already; ${seconds.toFixed(1)} s in all`,
  });
  return { name: disk.name, chunks, hashes: local, seconds, ...sent };
}

interface SendCounts {
  sent: number;
  zeros: number;
  dataBytes: number;
  linkBytes: number;
  changedWhileSending: number;
}

/** A `write` connection to the staging area, and what it says. */
interface Writer {
  proc: RemoteProcess;
  lines: LineSplitter;
  /** Its last word: "ok", or why not. */
  answer: () => string | undefined;
  /** Where its "INDEX HASH" lines go, once the chunks are known. */
  confirm: (line: string) => void;
}

async function openWriter(opts: SyncOptions, diskIndex: number): Promise<Writer> {
  let confirm = (_line: string) => {};
  let answer: string | undefined;
  const lines = new LineSplitter((line) => {
    if (line === "ok" || line.startsWith("error ")) answer ??= line;
    else confirm(line);
  }, 256);
  const proc = await opts.staging.writer(diskIndex, (c) => lines.push(c));
  return {
    proc,
    lines,
    answer: () => answer,
    set confirm(f: (line: string) => void) {
      confirm = f;
    },
    get confirm() {
      return confirm;
    },
  };
}

async function sendChunks(
  opts: SyncOptions,
  disk: DiskSync,
  differ: number[],
  local: Uint8Array,
  writers: Promise<Writer>[],
): Promise<SendCounts> {
  const counts: SendCounts = {
    sent: 0,
    zeros: 0,
    dataBytes: 0,
    linkBytes: 0,
    changedWhileSending: 0,
  };
  /** What we sent of each chunk, by its hash; removed once the server confirms it. */
  const unconfirmed = new Map<number, string>();
  const wrong: number[] = [];
  let next = 0;
  const started = performance.now();
  let shownAt = started;
  const every = opts.progressEveryMs ?? 2000;

  const confirm = (line: string) => {
    const m = /^([0-9]{1,10}) ([0-9a-f]{64})$/.exec(line);
    if (!m) return;
    const c = Number(m[1]);
    const expected = unconfirmed.get(c);
    if (expected === undefined) return;
    unconfirmed.delete(c);
    if (expected !== m[2]) wrong.push(c);
  };

  const worker = async (opened: Promise<Writer>): Promise<void> => {
    const writer = await opened;
    const { proc, lines } = writer;
    writer.confirm = confirm;
    const file = await Deno.open(diskSourcePath(disk.name), { read: true, write: false });
    const onAbort = () => proc.hangUp();
    opts.signal.addEventListener("abort", onAbort);
    try {
      while (next < differ.length) {
        opts.signal.throwIfAborted();
        const c = differ[next++];
        const data = await readChunk(file, disk.size, c);
        const hash = hashChunk(data);
        // A running source may have changed since it was hashed: what is staged is what we send.
        if (!equalAt(hash, local, c)) {
          counts.changedWhileSending++;
          local.set(hash, c * HASH_BYTES);
        }
        unconfirmed.set(c, hexOf(hash));
        let kind: FrameKind = "raw";
        let payload: Uint8Array = data;
        if (isAllZero(data, 0, data.length)) {
          kind = "zero";
          payload = new Uint8Array(0);
          counts.zeros++;
        } else if (opts.compress) {
          const packed = await packBlock(data);
          if (worthSending(data.length, packed.length)) {
            kind = "zstd";
            payload = packed;
          }
        }
        const header = encodeFrameHeader(kind, c, payload.length);
        await paced(opts.bandwidth, header.length + payload.length);
        await proc.send(header);
        if (payload.length > 0) await proc.send(payload);
        counts.sent++;
        counts.dataBytes += data.length;
        counts.linkBytes += header.length + payload.length;
        const now = performance.now();
        if (now - shownAt >= every) {
          shownAt = now;
          const rate = counts.linkBytes / ((now - started) / 1000);
          opts.emit({
            type: "stage",
            message: `disk ${disk.name}: ${counts.sent} of ${differ.length} chunks sent ` +
              `(${formatBytes(counts.linkBytes)} at ${formatRate(rate)})`,
          });
        }
      }
      proc.endInput();
      await proc.ended;
      lines.flush();
      const answer = writer.answer();
      if (answer !== "ok") {
        const why = answer === undefined
          ? "the connection ended without an answer"
          : answerError(answer);
        throw new UserError(`the staging area could not take disk ${disk.name}'s chunks: ${why}`);
      }
    } finally {
      opts.signal.removeEventListener("abort", onAbort);
      file.close();
    }
  };

  try {
    await Promise.all(writers.map(worker));
  } catch (err) {
    if (opts.signal.aborted) throw err;
    throw err instanceof UserError ? err : new UserError(
      `sending disk ${disk.name}'s chunks to the staging area failed: ${(err as Error).message}; ` +
        `run it again: only what is not staged yet will cross`,
    );
  }
  if (wrong.length > 0 || unconfirmed.size > 0) {
    throw new UserError(
      `disk ${disk.name}: ${wrong.length} chunks read back on the server differ from what was ` +
        `sent, and ${unconfirmed.size} were not confirmed; run it again`,
    );
  }
  return counts;
}

function equalAt(hash: Uint8Array, list: Uint8Array, index: number): boolean {
  for (let i = 0; i < HASH_BYTES; i++) if (hash[i] !== list[index * HASH_BYTES + i]) return false;
  return true;
}
