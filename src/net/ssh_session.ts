/**
 * ONE ssh2 client session for the whole run: the control commands, the file
 * uploads, the conversion's PTY channel and every reverse-forward channel are
 * multiplexed over it.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
// Must be evaluated before ssh2: see the module's comment.
import "./release_stream_ciphers.ts";
import { cipherPreference } from "./ssh2_fast_ciphers.ts";
import { TcpSocket } from "./tcp_socket.ts";
// @ts-types="npm:@types/ssh2@1.15.6"
import { Client, type ClientChannel, type ConnectConfig } from "ssh2";
import { describeError, UserError } from "../errors.ts";
import { BoundedOutput } from "./bounded_output.ts";
import type { RateLimit } from "./rate_limit.ts";
import {
  EXEC_OUTPUT_LIMIT,
  type ExecOptions,
  type ExecResult,
  type ForwardHandler,
  type RemoteEnd,
  type RemoteProcess,
  type RemoteSession,
  type ReverseForward,
  type SocketForward,
  type StartOptions,
} from "./session.ts";

/** Why a session could not be opened; `message` is already user-facing. */
export class SshError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SshError";
  }
}

/**
 * The server showed a host key other than the pinned ones; refused before
 * authentication, so no credential reached it. The fingerprints let the
 * caller say what the pins meant.
 */
export class HostKeyMismatchError extends SshError {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly presented: string,
    readonly expected: readonly string[],
  ) {
    super(
      `host key mismatch for ${host}:${port}: the server presented ${presented} but ` +
        `p2v.hostkey expects ${expected.join(", ")}; ` +
        `check that you are connecting to the right conversion server`,
    );
    this.name = "HostKeyMismatchError";
  }
}

export interface SshCredentials {
  username: string;
  password?: string;
  /** PEM/OpenSSH private key text. When present, no other method is tried. */
  privateKey?: Uint8Array;
}

export interface SshConnectOptions {
  /** For messages, and for the TCP connection unless `sock` is given. */
  host: string;
  port: number;
  /** An already connected stream to speak SSH over (tests run a server in process). */
  sock?: Duplex;
  credentials: SshCredentials;
  /** Handshake + authentication must finish within this. */
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  /** `SHA256:…` fingerprints; when non-empty, any other host key aborts before authentication. */
  pinnedHostKeys?: string[];
  /** Aborts the attempt: it fails with "cancelled by user". */
  signal?: AbortSignal;
}

/** The OpenSSH-style `SHA256:base64` fingerprint of a raw host key blob. */
export function fingerprintOf(keyBlob: Uint8Array): string {
  const digest = createHash("sha256").update(keyBlob).digest("base64");
  return "SHA256:" + digest.replace(/=+$/, "");
}

/** A command printed more than we keep: says which, and how much was allowed. */
function outputTooLarge(what: string, limit: number): UserError {
  const shown = what.length > 80 ? what.slice(0, 77) + "..." : what;
  return new UserError(
    `the conversion server's answer to \`${shown}\` exceeded ${formatCap(limit)}; ` +
      `check what that command prints on the conversion server`,
  );
}

/** `1 MiB`, `64 KiB`, `1000 bytes`: a cap as it was chosen, not rounded. */
function formatCap(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** Where our reverse forwards listen on the server: its loopback only. */
const FORWARD_BIND_ADDRESS = "localhost";

export class SshSession implements RemoteSession {
  readonly hostKeyFingerprint: string;
  readonly #client: Client;
  readonly #forwards = new Map<number, ForwardHandler>();
  readonly #socketForwards = new Map<string, ForwardHandler>();
  #closed = false;
  #closeReason: string | undefined;
  readonly #closeListeners = new Set<(reason: string) => void>();

  private constructor(client: Client, fingerprint: string) {
    this.#client = client;
    this.hostKeyFingerprint = fingerprint;
    // A connection to a forward we did not ask for (or no longer want) is refused.
    const route = (handler: ForwardHandler | undefined, accept: () => Duplex, reject: () => void) =>
      handler ? handler(accept()) : reject();
    client.on("tcp connection", (info, accept, reject) => {
      route(this.#forwards.get(info.destPort), accept, reject);
    });
    client.on("unix connection", (info, accept, reject) => {
      route(this.#socketForwards.get(info.socketPath), accept, reject);
    });
    client.on("error", (err) => {
      this.#markClosed(describeError(err));
    });
    client.on("close", () => this.#markClosed("the SSH connection was closed"));
  }

  /** Open the session, authenticate, and return it. Errors are {@link SshError}s with one-line messages. */
  static connect(opts: SshConnectOptions): Promise<SshSession> {
    return new Promise((resolve, reject) => {
      const client = new Client();
      // Deno's own TCP rather than node:net: see tcp_socket.ts.
      const sock = opts.sock ?? new TcpSocket(opts.host, opts.port);
      let fingerprint = "";
      let hostKeyProblem: HostKeyMismatchError | undefined;
      let settled = false;
      const onAbort = () => fail(new SshError("cancelled by user"));
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        opts.signal?.removeEventListener("abort", onAbort);
        client.removeAllListeners();
        client.on("error", () => {});
        client.destroy();
        sock.destroy();
        if (hostKeyProblem && !(err instanceof SshError)) return reject(hostKeyProblem);
        const message = err instanceof SshError ? err.message : explainConnectError(err, opts);
        reject(new SshError(message, { cause: err }));
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      client.once("ready", () => {
        if (settled) return;
        settled = true;
        opts.signal?.removeEventListener("abort", onAbort);
        client.removeAllListeners("ready");
        client.removeAllListeners("error");
        client.removeAllListeners("close");
        resolve(new SshSession(client, fingerprint));
      });
      client.on("error", fail);
      client.once("close", () => fail(new Error("connection closed during handshake")));
      const config: ConnectConfig = {
        sock,
        host: opts.host,
        port: opts.port,
        username: opts.credentials.username,
        readyTimeout: opts.connectTimeoutMs,
        keepaliveInterval: opts.keepaliveIntervalMs,
        keepaliveCountMax: opts.keepaliveCountMax,
        // Ordered by measured cost per byte (see ssh2_fast_ciphers.ts).
        algorithms: { cipher: cipherPreference() },
        authHandler: authMethods(opts.credentials) as ConnectConfig["authHandler"],
        hostVerifier: (key: Buffer) => {
          fingerprint = fingerprintOf(key);
          const pins = opts.pinnedHostKeys ?? [];
          if (pins.length > 0 && !pins.includes(fingerprint)) {
            hostKeyProblem = new HostKeyMismatchError(opts.host, opts.port, fingerprint, pins);
            return false;
          }
          return true;
        },
      };
      try {
        client.connect(config);
      } catch (err) {
        fail(err);
      }
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Called once when the connection drops or is closed; immediately if it already has. */
  onClose(listener: (reason: string) => void): () => void {
    if (this.#closed) {
      listener(this.#closeReason ?? "closed");
      return () => {};
    }
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const limit = options.maxOutputBytes ?? EXEC_OUTPUT_LIMIT;
    const stdout = new BoundedOutput(limit);
    const stderr = new BoundedOutput(limit);
    let overflow = () => {};
    const collect = (sink: BoundedOutput) => (c: Uint8Array) => {
      if (!sink.push(c)) overflow();
    };
    return this.#open(command, false, {
      onOutput: collect(stdout),
      onStderr: collect(stderr),
    }).then((proc) => {
      feedInput(proc, options.stdin, options.stdinPace);
      return new Promise<ExecResult>((resolve, reject) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        let settled = false;
        let stopWatchingClose = () => {};
        const fail = (err: Error) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          stopWatchingClose();
          reject(err);
        };
        stopWatchingClose = this.onClose((reason) => {
          fail(new SshError(`connection lost while running a remote command: ${reason}`));
        });
        overflow = () => {
          proc.hangUp();
          fail(outputTooLarge(options.what ?? command, limit));
        };
        if (stdout.overflowed || stderr.overflowed) overflow();
        if (options.timeoutMs) {
          timer = setTimeout(() => {
            proc.hangUp();
            fail(new SshError(`remote command did not finish within ${options.timeoutMs} ms`));
          }, options.timeoutMs);
        }
        proc.ended.then((end) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          stopWatchingClose();
          resolve({
            code: end.status ?? null,
            signal: end.signal,
            stdout: stdout.text(),
            stderr: stderr.text(),
          });
        });
      });
    });
  }

  start(command: string, options: StartOptions = {}): Promise<RemoteProcess> {
    return this.#open(command, options.pty ?? false, {
      onOutput: options.onOutput,
      onStderr: options.onStderr,
    });
  }

  forwardIn(handler: ForwardHandler): Promise<ReverseForward> {
    const bindAddress = FORWARD_BIND_ADDRESS;
    if (this.#closed) {
      return Promise.reject(new SshError(`connection lost: ${this.#closeReason}`));
    }
    return new Promise((resolve, reject) => {
      this.#client.forwardIn(bindAddress, 0, (err, port) => {
        if (err) {
          reject(
            new SshError(
              `the conversion server refused reverse port forwarding (${describeError(err)}); ` +
                `set "AllowTcpForwarding yes" in sshd_config on the conversion server`,
              { cause: err },
            ),
          );
          return;
        }
        this.#forwards.set(port, handler);
        resolve({ bindAddress, port });
      });
    });
  }

  forwardInSocket(path: string, handler: ForwardHandler): Promise<SocketForward> {
    if (this.#closed) {
      return Promise.reject(new SshError(`connection lost: ${this.#closeReason}`));
    }
    return new Promise((resolve, reject) => {
      const done = (err?: Error | null) => {
        if (err) {
          reject(
            new SshError(
              `the conversion server refused to forward the Unix socket ${path} ` +
                `(${describeError(err)}); it needs OpenSSH with AllowStreamLocalForwarding yes`,
              { cause: err },
            ),
          );
          return;
        }
        this.#socketForwards.set(path, handler);
        resolve({ path });
      };
      try {
        this.#client.openssh_forwardInStreamLocal(path, done);
      } catch (err) {
        done(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  unforwardInSocket(forward: SocketForward): Promise<void> {
    this.#socketForwards.delete(forward.path);
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        this.#client.openssh_unforwardInStreamLocal(forward.path, () => resolve());
      } catch {
        resolve();
      }
    });
  }

  connectSocket(
    path: string,
    options: { onOutput: (c: Uint8Array) => void },
  ): Promise<RemoteProcess> {
    if (this.#closed) {
      return Promise.reject(new SshError(`connection lost: ${this.#closeReason}`));
    }
    return new Promise((resolve, reject) => {
      const done = (err: Error | undefined, channel: ClientChannel) => {
        if (err) {
          reject(
            new SshError(
              `the conversion server refused a channel to the Unix socket ${path} ` +
                `(${describeError(err)}); it needs OpenSSH with AllowStreamLocalForwarding yes`,
              { cause: err },
            ),
          );
          return;
        }
        // As for a command: the listeners go on before any data can arrive.
        resolve(new SshProcess(channel, options.onOutput, undefined));
      };
      try {
        this.#client.openssh_forwardOutStreamLocal(path, done);
      } catch (err) {
        reject(new SshError(`cannot open a channel to ${path}: ${describeError(err)}`));
      }
    });
  }

  /** Cancel a reverse forward; tolerant of a session that is already gone. */
  unforwardIn(forward: ReverseForward): Promise<void> {
    this.#forwards.delete(forward.port);
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        this.#client.unforwardIn(forward.bindAddress, forward.port, () => resolve());
      } catch {
        resolve();
      }
    });
  }

  /**
   * One round trip: OpenSSH's keep-alive global request, whose answer comes
   * back in order with the other global requests' (ssh2 keeps one callback
   * queue for them). Rejects when the connection is gone.
   */
  ping(): Promise<number> {
    const client = this.#client as unknown as {
      _callbacks?: ((failed: boolean) => void)[];
      _protocol?: { ping(): void };
    };
    if (this.#closed || !client._callbacks || !client._protocol) {
      return Promise.reject(new Error("the connection is closed"));
    }
    const started = performance.now();
    return new Promise((resolve) => {
      client._callbacks!.push(() => resolve(performance.now() - started));
      client._protocol!.ping();
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#client.end();
    this.#markClosed("closed by virt-p2v");
  }

  /**
   * The listeners go on synchronously as the channel opens. They must: when
   * the reply, the output, the exit status and the close arrive in one read,
   * ssh2 emits them all before any promise continuation could add listeners.
   */
  #open(
    command: string,
    pty: boolean,
    sinks: { onOutput?: (c: Uint8Array) => void; onStderr?: (c: Uint8Array) => void },
  ): Promise<SshProcess> {
    if (this.#closed) {
      return Promise.reject(new SshError(`connection lost: ${this.#closeReason}`));
    }
    return new Promise((resolve, reject) => {
      const callback = (err: Error | undefined, channel: ClientChannel) => {
        if (err) {
          reject(new SshError(`cannot start a remote command: ${describeError(err)}`));
          return;
        }
        resolve(new SshProcess(channel, sinks.onOutput, sinks.onStderr ?? sinks.onOutput));
      };
      try {
        if (pty) {
          this.#client.exec(
            command,
            { pty: { term: "xterm", cols: 200, rows: 50, modes: {} } },
            callback,
          );
        } else {
          this.#client.exec(command, callback);
        }
      } catch (err) {
        reject(new SshError(`cannot start a remote command: ${describeError(err)}`));
      }
    });
  }

  #markClosed(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    for (const listener of this.#closeListeners) listener(reason);
    this.#closeListeners.clear();
    this.#client.destroy();
  }
}

/** One exec channel. */
class SshProcess implements RemoteProcess {
  readonly ended: Promise<RemoteEnd>;
  readonly #channel: ClientChannel;
  /**
   * Its `close` has come: a channel of a lost connection may still say it is
   * writable, and a send would then wait for a `drain` that never comes.
   */
  #closed = false;

  constructor(
    channel: ClientChannel,
    onOutput: ((c: Uint8Array) => void) | undefined,
    onStderr: ((c: Uint8Array) => void) | undefined,
  ) {
    this.#channel = channel;
    let status: number | undefined;
    let signal: string | undefined;
    channel.on("data", (c: Uint8Array) => onOutput?.(c));
    channel.stderr.on("data", (c: Uint8Array) => onStderr?.(c));
    channel.on("exit", (code: number | null, sig?: string) => {
      if (typeof code === "number") status = code;
      if (sig) signal = sig;
    });
    this.ended = new Promise((resolve) => {
      // ssh2 repeats the exit status on `close`: the fallback should `exit` be missed.
      channel.on("close", (code?: number | null, sig?: string) => {
        this.#closed = true;
        if (status === undefined && typeof code === "number") status = code;
        if (signal === undefined && sig) signal = sig;
        resolve(signal === undefined ? { status } : { status, signal });
      });
    });
  }

  write(data: string | Uint8Array): void {
    if (!this.#closed && this.#channel.writable) this.#channel.write(data);
  }

  send(data: Uint8Array): Promise<void> {
    const channel = this.#channel;
    if (this.#closed || !channel.writable) {
      return Promise.reject(new Error("the channel is closed"));
    }
    if (channel.write(data)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        channel.off("drain", onDrain);
        channel.off("close", onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(new Error("the channel closed"));
      channel.on("drain", onDrain);
      channel.on("close", onClose);
    });
  }

  /** No more input: the command sees end of file. */
  endInput(): void {
    this.#channel.end();
  }

  interrupt(): void {
    this.write("\x03");
  }

  hangUp(): void {
    this.#channel.close();
  }
}

type AuthMethod =
  | { type: "publickey"; username: string; key: Buffer }
  | { type: "password"; username: string; password: string }
  | {
    type: "keyboard-interactive";
    username: string;
    prompt: (
      name: string,
      instructions: string,
      lang: string,
      prompts: unknown[],
      finish: (answers: string[]) => void,
    ) => void;
  }
  | { type: "none"; username: string };

/** Identity (no fallback), else password by keyboard-interactive then password, else none. */
function authMethods(creds: SshCredentials): AuthMethod[] {
  const username = creds.username;
  if (creds.privateKey) {
    return [{ type: "publickey", username, key: Buffer.from(creds.privateKey) }];
  }
  if (creds.password !== undefined) {
    const password = creds.password;
    return [
      {
        type: "keyboard-interactive",
        username,
        prompt: (_n, _i, _l, prompts, finish) => finish(prompts.map(() => password)),
      },
      { type: "password", username, password },
    ];
  }
  return [{ type: "none", username }];
}

/** Turn ssh2/socket errors into a sentence that says what to check. */
function explainConnectError(err: unknown, opts: SshConnectOptions): string {
  const text = describeError(err);
  const code = (err as { code?: string })?.code;
  const user = opts.credentials.username;
  if (/All configured authentication methods failed/i.test(text)) {
    const what = opts.credentials.privateKey
      ? "the identity (private key)"
      : opts.credentials.password !== undefined
      ? "the password"
      : "login without a password";
    return `authentication failed for user "${user}": the server did not accept ${what}; ` +
      `check the user name and credentials`;
  }
  if (/Cannot parse privateKey|does not contain a \(valid\) private key/i.test(text)) {
    return `the identity is not a usable private key (${text}); ` +
      `use an unencrypted OpenSSH or PEM private key`;
  }
  if (/Timed out while waiting for handshake/i.test(text) || code === "ETIMEDOUT") {
    return `timed out after ${Math.round(opts.connectTimeoutMs / 1000)} s waiting for the SSH ` +
      `server; check the server address, port and firewall`;
  }
  if (code === "ECONNREFUSED" || /ECONNREFUSED|Connection refused/i.test(text)) {
    return `connection refused; check that sshd is running on port ${opts.port} of the server`;
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || /getaddrinfo|Name or service/i.test(text)) {
    return `cannot resolve the server name "${opts.host}"; check the name and DNS settings`;
  }
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") {
    return `the server is unreachable (${code}); check the network settings`;
  }
  return text;
}

/** Pieces a paced stdin is sent in. */
const PACED_PIECE = 256 * 1024;

/** Writes `stdin` (through `pace`, piece by piece, when given), then ends the input. */
function feedInput(
  proc: SshProcess,
  stdin: Uint8Array | string | undefined,
  pace: RateLimit | undefined,
): void {
  if (stdin === undefined || pace === undefined || typeof stdin === "string") {
    if (stdin !== undefined) proc.write(stdin);
    proc.endInput();
    return;
  }
  let at = 0;
  const next = (): void => {
    if (at >= stdin.length) return proc.endInput();
    const piece = stdin.subarray(at, at + PACED_PIECE);
    at += piece.length;
    pace.take(piece.length, () => {
      proc.write(piece);
      next();
    });
  };
  next();
}
