/**
 * The disk fan-out: what runs on the conversion server beside virt-v2v. For
 * each disk it listens on the port physical.xml names, on every loopback
 * address given, and serves the disk read-only with our own NBD server
 * (builtin/), its source the physical machine's disk reached through an
 * upstream pool of several connections to our forward's socket.
 *
 * virt-v2v reads each disk through one connection; that connection's
 * requests travel here over as many SSH channels as the pool has, each with
 * its own window, instead of one.
 */
import { createServer, type Server, type Socket } from "node:net";
import { BufferPool } from "../builtin/buffer_pool.ts";
import { ByteBudget } from "../builtin/byte_budget.ts";
import { NbdConnection } from "../builtin/connection.ts";
import { MAX_PAYLOAD_SIZE, OFFSET_DATA_HEADER_SIZE } from "../builtin/protocol.ts";
import { DEFAULT_LIMITS, type TransmissionLimits } from "../builtin/transmission.ts";
import type { BlockCacheStats } from "./block_cache.ts";
import { type CacheShape, DEFAULT_CACHE, RemoteSource } from "./remote_source.ts";
import { UpstreamPool } from "./upstream_pool.ts";

export interface FanoutDisk {
  /** The TCP port virt-v2v connects to. */
  port: number;
  /** Our forward's Unix socket for this disk. */
  upstreamSocket: string;
}

export interface FanoutOptions {
  /** Loopback addresses to listen on (each disk's port on every one). */
  addresses: string[];
  disks: FanoutDisk[];
  /** Upstream connections per disk. */
  connections: number;
  /** A lost upstream connection is dialled again this often. */
  retryDelayMs: number;
  /** With no upstream connection for this long, waiting requests fail. */
  boundMs: number;
  /** Ask the physical machine for zstd-packed read replies. */
  zstd: boolean;
  log: (line: string) => void;
  /** The block cache's shape; default DEFAULT_CACHE. */
  cache?: CacheShape;
}

export interface FanoutDiskStats {
  port: number;
  /** Read bytes received on each upstream connection. */
  bytesPerConnection: readonly number[];
  /** Upstream connections that ended and were dialled again. */
  readonly reconnects: number;
  /** Upstream connections up now. */
  readonly live: number;
  /** Extents in the allocation map fetched at start. */
  mapExtents: number;
  /** What the block cache of small reads saved and cost. */
  readonly cache: BlockCacheStats;
  /** Read bytes that arrived zstd-packed, and their size on the wire. */
  readonly packed: { raw: number; wire: number };
}

export interface Fanout {
  readonly stats: FanoutDiskStats[];
  close(): Promise<void>;
}

/**
 * Per client connection: 64 reads of up to 32 MiB in flight (the downstream
 * client is one connection carrying every request of the disk), and 64 MiB
 * per disk in all: what a fast link needs in flight at 100 ms and more,
 * and the most a client that never reads its replies can make us hold.
 */
const LIMITS: TransmissionLimits = {
  ...DEFAULT_LIMITS,
  maxReadsInFlight: 64,
  maxBufferedBytes: 32 * 1024 * 1024,
};
const BYTES_PER_DISK = 64 * 1024 * 1024;
const MAX_CLIENTS = 16;
const HANDSHAKE_TIMEOUT_MS = 30_000;

interface ServedDisk {
  pool: UpstreamPool;
  servers: Server[];
  clients: Set<NbdConnection>;
  stats: FanoutDiskStats;
}

async function listen(server: Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, exclusive: true, ipv6Only: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

async function serveDisk(disk: FanoutDisk, opts: FanoutOptions): Promise<ServedDisk> {
  const pool = new UpstreamPool({
    socket: disk.upstreamSocket,
    connections: opts.connections,
    retryDelayMs: opts.retryDelayMs,
    boundMs: opts.boundMs,
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    zstd: opts.zstd,
    log: opts.log,
  });
  const exp = await pool.start();
  const servers: Server[] = [];
  const clients = new Set<NbdConnection>();
  try {
    const source = await RemoteSource.load(
      pool,
      exp.size,
      exp.metaContextId !== 0,
      opts.cache ?? DEFAULT_CACHE,
    );
    const bufferPool = new BufferPool(LIMITS.maxBufferedBytes);
    const budget = new ByteBudget(
      Math.max(BYTES_PER_DISK, MAX_PAYLOAD_SIZE + OFFSET_DATA_HEADER_SIZE),
    );
    const ctx = {
      source,
      exportInfo: { name: "", description: `virt-p2v disk on port ${disk.port}`, size: exp.size },
      pool: bufferPool,
      limits: LIMITS,
      budget,
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
      countSent() {},
      onClientError: (m: string) => opts.log(`port ${disk.port}: client: ${m}`),
      onInternalError: (e: unknown) => opts.log(`port ${disk.port}: internal error: ${e}`),
      onReadError: (offset: number, length: number, e: Error) =>
        opts.log(`port ${disk.port}: read of ${length} bytes at ${offset} failed: ${e.message}`),
    };
    const attach = (socket: Socket) => {
      if (clients.size >= MAX_CLIENTS) {
        opts.log(`port ${disk.port}: a connection beyond the ${MAX_CLIENTS} allowed was refused`);
        socket.on("error", () => {});
        socket.destroy();
        return;
      }
      socket.setNoDelay(true);
      const conn = new NbdConnection(socket, ctx);
      clients.add(conn);
      conn.closed.then(() => {
        clients.delete(conn);
        if (clients.size === 0) bufferPool.clear();
        opts.log(
          `port ${disk.port}: a client left; ${cacheText(source.cacheStats)}; ` +
            packedText(pool.packed),
        );
      });
      conn.start();
    };
    for (const address of opts.addresses) {
      const server = createServer(attach);
      servers.push(server);
      await listen(server, address, disk.port);
    }
    const stats: FanoutDiskStats = {
      port: disk.port,
      bytesPerConnection: pool.bytesPerConnection,
      get reconnects() {
        return pool.reconnects;
      },
      get live() {
        return pool.live;
      },
      mapExtents: source.mapLength,
      get cache() {
        return source.cacheStats;
      },
      get packed() {
        return pool.packed;
      },
    };
    return { pool, servers, clients, stats };
  } catch (err) {
    for (const s of servers) s.close();
    pool.close();
    throw err;
  }
}

async function stopDisk(d: ServedDisk): Promise<void> {
  for (const s of d.servers) s.close();
  for (const c of d.clients) c.destroy();
  await Promise.all([...d.clients].map((c) => c.closed));
  d.pool.close();
}

/** Resolves once every disk's upstream is connected and every listener bound. */
export async function startFanout(opts: FanoutOptions): Promise<Fanout> {
  const served: ServedDisk[] = [];
  try {
    for (const disk of opts.disks) served.push(await serveDisk(disk, opts));
  } catch (err) {
    await Promise.all(served.map(stopDisk));
    throw err;
  }
  for (const d of served) {
    opts.log(
      `port ${d.stats.port}: serving ${opts.connections} connections to the physical machine; ` +
        `${d.stats.mapExtents} extents in the allocation map`,
    );
  }
  return {
    stats: served.map((d) => d.stats),
    close: () => Promise.all(served.map(stopDisk)).then(() => {}),
  };
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

function packedText(p: { raw: number; wire: number }): string {
  return `${mib(p.raw)} arrived packed in ${mib(p.wire)}`;
}

function cacheText(c: BlockCacheStats): string {
  return `${mib(c.bytesFetched)} fetched; small reads: ${c.fetched} blocks fetched, ` +
    `${c.ahead} ahead, ${c.hits} found kept; large reads: ${c.bulkHits} blocks found kept`;
}
