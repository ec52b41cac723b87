/**
 * The built-in NBD server as a `DiskExport`: serves one disk read-only, in
 * this process, directly on each stream handed to `attach` (the ssh2 reverse
 * forward channel itself): no local port, no helper process. Protocol code is
 * in `builtin/`.
 */
import type { Duplex } from "node:stream";
import { basename } from "node:path";
import type { DiskExport } from "./export.ts";
import { unreadableDisk } from "./disk_size.ts";
import { BufferPool } from "./builtin/buffer_pool.ts";
import { ByteBudget } from "./builtin/byte_budget.ts";
import { NbdConnection } from "./builtin/connection.ts";
import type { HoleSeeker } from "./builtin/seek_hole.ts";
import { DiskSource } from "./builtin/source.ts";
import { MAX_PAYLOAD_SIZE, OFFSET_DATA_HEADER_SIZE } from "./builtin/protocol.ts";
import { DEFAULT_LIMITS, type TransmissionLimits } from "./builtin/transmission.ts";

/** What one export allows across all its connections. */
export interface ExportLimits extends TransmissionLimits {
  /** Connections open at once; more are closed as they arrive. */
  maxConnections: number;
  /** Bytes of reads running or replies unwritten, all connections together. */
  maxBytesInFlight: number;
  /** How long a new connection may take to finish the NBD handshake. */
  handshakeTimeoutMs: number;
}

/**
 * - 16 connections: what qemu-nbd is given here too (`-e 16`); nbdcopy opens
 *   at most 4 per disk, plus a probe or two.
 * - 64 MiB in flight: nbdcopy keeps 4 connections × 64 requests × 256 KiB =
 *   64 MiB asked for, of which each connection's own 8 MiB bound lets 32 MiB
 *   run: the budget never slows it, yet bounds a hostile client to 64 MiB
 *   instead of 32 MiB per connection.
 * - 30 s to negotiate: a real client does it in a few round trips.
 */
export const DEFAULT_EXPORT_LIMITS: ExportLimits = {
  ...DEFAULT_LIMITS,
  maxConnections: 16,
  maxBytesInFlight: 64 * 1024 * 1024,
  handshakeTimeoutMs: 30_000,
};

/** The budget must fit the largest read a client may ask for, or that read would wait for ever. */
const LARGEST_READ = MAX_PAYLOAD_SIZE + OFFSET_DATA_HEADER_SIZE;

export interface BuiltinExportOptions {
  /** Canonical export name; the default export "" always works too. Default "". */
  exportName?: string;
  /** Description shown by `nbdinfo --list`. Default: "virt-p2v disk <path>". */
  description?: string;
  /** Per-connection and per-export limits. */
  limits?: Partial<ExportLimits>;
  /** Hole detection override; `null` reports everything as data (tests). */
  seeker?: HoleSeeker | null;
  /** Called with the reason when a client breaks the protocol or its stream fails. */
  onClientError?: (message: string) => void;
  /** Called if our own code throws while serving (a bug); that connection is closed. */
  onInternalError?: (err: unknown) => void;
  /** Called when reading the source fails; the client is answered EIO. */
  onReadError?: (offset: number, length: number, err: Error) => void;
}

export interface BuiltinExport extends DiskExport {
  /** Whether holes of a sparse file are reported (else all data). */
  readonly detectsHoles: boolean;
  /** Connections currently open. */
  readonly connections: number;
  /** Bytes of reads running or replies not yet written, all connections together. */
  readonly bytesInFlight: number;
}

export async function startBuiltinExport(
  path: string,
  options: BuiltinExportOptions = {},
): Promise<BuiltinExport> {
  let source: DiskSource;
  try {
    source = await DiskSource.open(path, { seeker: options.seeker });
  } catch (err) {
    throw unreadableDisk(path, err);
  }

  const limits: ExportLimits = { ...DEFAULT_EXPORT_LIMITS, ...options.limits };
  // Enough reply buffers for one busy connection; released when none is open.
  const pool = new BufferPool(limits.maxBufferedBytes);
  const budget = new ByteBudget(Math.max(limits.maxBytesInFlight, LARGEST_READ));
  const connections = new Set<NbdConnection>();
  let bytesSent = 0;
  const packed = { raw: 0, wire: 0 };
  let stopping: Promise<void> | null = null;

  const ctx = {
    source,
    exportInfo: {
      name: options.exportName ?? "",
      description: options.description ?? `virt-p2v disk ${basename(path)}`,
      size: source.size,
    },
    pool,
    limits,
    budget,
    handshakeTimeoutMs: limits.handshakeTimeoutMs,
    countSent(n: number) {
      bytesSent += n;
    },
    countPacked(raw: number, wire: number) {
      packed.raw += raw;
      packed.wire += wire;
    },
    onClientError: options.onClientError,
    onInternalError: options.onInternalError,
    onReadError: options.onReadError,
  };

  return {
    path,
    size: source.size,
    detectsHoles: source.detectsHoles,
    get connections() {
      return connections.size;
    },
    get bytesSent() {
      return bytesSent;
    },
    get packed() {
      return { ...packed };
    },
    get bytesInFlight() {
      return budget.used;
    },
    attach(channel: Duplex) {
      if (stopping !== null || connections.size >= limits.maxConnections) {
        if (stopping === null) {
          options.onClientError?.(
            `a connection beyond the ${limits.maxConnections} allowed was refused`,
          );
        }
        channel.on("error", () => {});
        channel.destroy();
        return;
      }
      const conn = new NbdConnection(channel, ctx);
      connections.add(conn);
      conn.closed.then(() => {
        connections.delete(conn);
        if (connections.size === 0) pool.clear();
      });
      conn.start();
    },
    stop() {
      if (stopping === null) {
        stopping = (async () => {
          for (const c of connections) c.destroy();
          await Promise.all([...connections].map((c) => c.closed));
          // Waits for reads still running before closing the descriptor.
          await source.close();
          pool.clear();
        })();
      }
      return stopping;
    },
  };
}
