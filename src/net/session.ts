/**
 * What the conversion engine needs from its connection to the conversion
 * server, in our own terms: run a command, start a long-running one (on a
 * PTY when it must be interruptible), open reverse forwards, and learn when
 * the connection is gone. `SshSession` implements it over ssh2; the engine
 * never sees ssh2's types.
 */
import type { RateLimit } from "./rate_limit.ts";
import type { Duplex } from "node:stream";

export interface ExecResult {
  /** The exit status, or null when the command reported none. */
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  stdin?: Uint8Array | string;
  /** Send stdin through this cap (a large upload while a bandwidth cap is set). */
  stdinPace?: RateLimit;
  /** Give up (and close the channel) after this long. */
  timeoutMs?: number;
  /** Most bytes kept of stdout, and of stderr; more fails the command. Default {@link EXEC_OUTPUT_LIMIT}. */
  maxOutputBytes?: number;
  /** The command as the user knows it (`virt-v2v --version`), for messages; default: the command. */
  what?: string;
}

/**
 * What a command run with `exec` may print, per stream. The commands we run
 * that way answer in a few hundred bytes (a version, a feature list, a
 * status); 1 MiB is thousands of times that, and still small enough to hold
 * on a rescue machine with little memory. Long outputs are streamed instead.
 */
export const EXEC_OUTPUT_LIMIT = 1024 * 1024;

export interface StartOptions {
  /**
   * Run on a pseudo-terminal: then `interrupt()` delivers SIGINT to the
   * remote job, and sshd hangs the job up if the connection dies.
   */
  pty?: boolean;
  /** Everything the command writes to stdout, as it arrives (with a PTY, stderr too). */
  onOutput?: (chunk: Uint8Array) => void;
  /** What it writes to stderr; merged into `onOutput` when not given. */
  onStderr?: (chunk: Uint8Array) => void;
}

/** How a started command ended. */
export interface RemoteEnd {
  /** Undefined when the channel closed without an exit status. */
  status?: number;
  signal?: string;
}

export interface RemoteProcess {
  /** Settles once the command has ended and its channel is closed. */
  readonly ended: Promise<RemoteEnd>;
  write(data: string | Uint8Array): void;
  /** Writes `data` and settles once the channel takes more (its window has room). */
  send(data: Uint8Array): Promise<void>;
  /** No more input: the command sees the end of its stdin. */
  endInput(): void;
  /** Ctrl-C on its terminal (needs `pty`). */
  interrupt(): void;
  /** Close its channel without waiting for it. */
  hangUp(): void;
}

/** A reverse forward: connections to `bindAddress:port` on the server come back to us. */
export interface ReverseForward {
  readonly bindAddress: string;
  readonly port: number;
}

/** A reverse forward of a Unix socket: connections to `path` on the server come back to us. */
export interface SocketForward {
  readonly path: string;
}

/** Receives each connection made to a reverse forward, as a duplex stream. */
export type ForwardHandler = (channel: Duplex) => void;

export interface RemoteSession {
  /** `SHA256:…` of the key the server presented. */
  readonly hostKeyFingerprint: string;
  readonly closed: boolean;
  /** Called once when the connection is gone, with why; at once if it already is. */
  onClose(listener: (reason: string) => void): () => void;
  /** Run a command to its end and collect its output. */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Start a command and stream its output; the listeners are attached before any output. */
  start(command: string, options?: StartOptions): Promise<RemoteProcess>;
  /** Ask the server to listen on its loopback (a port it picks) and hand connections to `handler`. */
  forwardIn(handler: ForwardHandler): Promise<ReverseForward>;
  /** Stop a reverse forward; harmless when the connection is already gone. */
  unforwardIn(forward: ReverseForward): Promise<void>;
  /** Ask the server to listen on the Unix socket `path` (which must not exist yet). */
  forwardInSocket(path: string, handler: ForwardHandler): Promise<SocketForward>;
  unforwardInSocket(forward: SocketForward): Promise<void>;
  /**
   * A channel to the Unix socket `path` on the server (OpenSSH's
   * direct-streamlocal): what is written reaches whatever listens there,
   * and what it answers comes to `onOutput`. Rejects when sshd refuses it.
   */
  connectSocket(
    path: string,
    options: { onOutput: (c: Uint8Array) => void },
  ): Promise<RemoteProcess>;
  /** Milliseconds of one request-and-answer with the server's SSH daemon (no command runs). */
  ping(): Promise<number>;
  close(): void;
}
