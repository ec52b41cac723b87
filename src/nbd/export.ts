/**
 * What the conversion needs from an NBD server: something that serves one
 * source disk read-only to every forwarded channel handed to it. The backend
 * (qemu-nbd today) is chosen by `startExport`.
 */
import type { Duplex } from "node:stream";

export interface DiskExport {
  /** The local device or image path being served. */
  readonly path: string;
  /** Serve one NBD client arriving on `channel` (a reverse-forward channel). */
  attach(channel: Duplex): void;
  /** Bytes sent to clients so far (NBD replies, mostly read data). */
  readonly bytesSent: number;
  /** Stop serving: close every attached channel and the server. Idempotent. */
  stop(): Promise<void>;
}
