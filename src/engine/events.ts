/**
 * Everything the conversion engine tells its views. The unattended text
 * reporter and the interactive screens both render these and nothing else.
 */
import type { ServerCapabilities } from "../remote/virt_v2v_probe.ts";

export type Phase =
  | "connecting"
  | "testing"
  | "exporting"
  | "uploading"
  | "converting"
  | "syncing"
  | "cleaning-up";

export type EngineEvent =
  /** A new phase began; `message` is a human sentence. */
  | { type: "phase"; phase: Phase; message: string }
  /** The server's host key, as soon as the handshake shows it. */
  | { type: "host-key"; fingerprint: string }
  /** The test connection succeeded. */
  | { type: "server"; capabilities: ServerCapabilities }
  /** The remote directory holding the conversion's files and log. */
  | { type: "remote-dir"; path: string }
  /** One line of the remote virt-v2v output (ANSI colours kept). */
  | { type: "output"; line: string }
  /**
   * Bytes the NBD server has sent for one disk so far; `dataBytes`: what
   * virt-v2v's copy will read of it (its data extents), absent when unknown.
   */
  | {
    type: "disk-progress";
    disk: string;
    bytesSent: number;
    sizeBytes?: number;
    dataBytes?: number;
  }
  /** The link dropped during a conversion that can reconnect; we try for `boundMs`. */
  | { type: "link-lost"; reason: string; boundMs: number }
  /** Attempt number `attempt` to reconnect, `elapsedMs` after the loss was noticed. */
  | { type: "reconnecting"; attempt: number; elapsedMs: number }
  /** Connected again; the conversion goes on where it was. */
  | { type: "link-resumed"; attempt: number; elapsedMs: number }
  /**
   * A line of a warm conversion's pre-copy or cutover: what is hashed, sent,
   * verified. `released`: from here on the physical machine is no longer
   * read, and may be switched off.
   */
  | { type: "stage"; message: string; released?: boolean }
  /** A problem that does not stop the run. */
  | { type: "warning"; message: string }
  /** Detail for `--verbose`: what a client of our NBD export did wrong, and such. */
  | { type: "debug"; message: string }
  /** `summary`: the sentence to end on when the run was not a conversion (a pre-copy). */
  | { type: "finished"; remoteDir: string; summary?: string }
  | { type: "failed"; message: string; remoteDir?: string }
  | { type: "cancelled"; remoteDir?: string };

export type EventSink = (event: EngineEvent) => void;
