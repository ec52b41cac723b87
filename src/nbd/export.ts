/**
 * What the conversion needs from an NBD server: something that serves one
 * source disk read-only to every forwarded channel handed to it. Which
 * server does it is chosen by `p2v.nbd` (see `backends.ts`).
 */
import type { Duplex } from "node:stream";

export interface DiskExport {
  /** The local device or image path being served. */
  readonly path: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Serve one NBD client arriving on `channel` (a reverse-forward channel). */
  attach(channel: Duplex): void;
  /**
   * Bytes sent to clients so far (NBD replies, mostly read data), counting
   * zstd-packed replies as the data they hold.
   */
  readonly bytesSent: number;
  /** Read bytes sent zstd-packed (our fan-out asked), and their size on the wire. */
  readonly packed?: { raw: number; wire: number };
  /** Stop serving: close every attached channel and the server. Idempotent. */
  stop(): Promise<void>;
}

/** What an export tells the conversion while it serves. */
export interface ExportEvents {
  /** Reading the disk failed: the conversion cannot succeed. */
  readError(offset: number, length: number, message: string): void;
  /** A client broke the protocol or its stream failed (worth a line with --verbose). */
  clientError(message: string): void;
  /** A bug of ours while serving: the conversion fails with it. */
  internalError(message: string): void;
}

/** Starts the export of one disk. */
export type ExportStarter = (path: string, events: ExportEvents) => Promise<DiskExport>;
