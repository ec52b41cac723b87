/**
 * A conversion that survives a dropped link (see docs/DEVELOPING.md): the job runs
 * detached on the server; we follow its output by offset, with a heartbeat
 * its watchdog checks. When the link drops we reconnect (with backoff, for
 * up to the bound), forward the disks again at the same socket paths, and
 * follow on from where we were. A cancel, or a failure on our side, signals
 * the job's process group; the job's end is read from its status file.
 */
import {
  catchUpCommand,
  followCommand,
  signalJobCommand,
  startJobCommand,
} from "../remote/remote_commands.ts";
import { describeError, UserError } from "../errors.ts";
import type { RemoteSession } from "../net/session.ts";
import type { EventSink } from "./events.ts";
import { HostKeyChangedError, type ServerLink } from "./link.ts";
import type { JobResult } from "./remote_job.ts";
import { streamCommand } from "./stream_command.ts";

export interface DetachedJobOptions {
  link: ServerLink;
  remoteDir: string;
  /** Start the job in a network namespace of its own. */
  isolated: boolean;
  /** Forward the disks on a new session (stale sockets removed first). */
  reattach: (session: RemoteSession) => Promise<void>;
  onOutput: (chunk: Uint8Array) => void;
  emit: EventSink;
  /** The user cancels. */
  signal: AbortSignal;
  /** Settles with a reason when the job must be stopped because our side failed. */
  abortOn?: Promise<string>;
  /** After the interrupt, how long the job gets before it is killed. */
  graceMs: number;
  heartbeatMs: number;
  /** How long to keep reconnecting after a loss (p2v.reconnect). */
  reconnectMs: number;
  /** Each attempt's bound for the TCP connection and the SSH handshake. */
  connectMs: number;
  backoffMaxMs: number;
  /** How long a cancel keeps trying to reach the server to stop the job. */
  cancelReachMs?: number;
}

/**
 * A changed host key seen while reconnecting, with what the run does about
 * it. Trying on costs nothing (the key is refused before any credential is
 * sent) and saves the conversion if the real server takes its address back.
 */
function hostKeyWarning(err: HostKeyChangedError, boundMs: number): string {
  return `${err.message}; reconnecting goes on (up to ${Math.round(boundMs / 1000)} s after ` +
    "the link was lost) in case the real server comes back; if its keys were changed on " +
    "purpose, cancel and start the conversion again";
}

type FollowEnd = { kind: "ended" } | { kind: "lost"; reason: string };

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

export async function runDetachedJob(opts: DetachedJobOptions): Promise<JobResult> {
  const { link, remoteDir } = opts;
  const started = await link.session.exec(startJobCommand(remoteDir, { isolated: opts.isolated }), {
    timeoutMs: Math.max(opts.connectMs, 30_000),
  });
  if (started.code !== 0) {
    throw new UserError(
      `cannot start the conversion job on the conversion server (exit status ${
        started.code ?? started.signal
      }); see ${remoteDir} there`,
    );
  }

  let offset = 0;
  let stopping: JobResult | undefined;
  /** Set while a follow runs: asks the job to stop, then kills it after the grace. */
  let stopJob: (() => void) | undefined;
  const requestStop = (why: JobResult) => {
    if (stopping) return;
    stopping = why;
    stopJob?.();
  };
  const onAbort = () => requestStop({ kind: "cancelled" });
  opts.signal.addEventListener("abort", onAbort, { once: true });
  if (opts.signal.aborted) onAbort();
  opts.abortOn?.then((reason) => requestStop({ kind: "aborted", reason }));

  const follow = (session: RemoteSession): Promise<FollowEnd> =>
    new Promise((resolve) => {
      let settled = false;
      let beat: ReturnType<typeof setInterval> | undefined;
      let killTimer: ReturnType<typeof setTimeout> | undefined;
      let stopWatchingClose = () => {};
      const finish = (end: FollowEnd) => {
        if (settled) return;
        settled = true;
        clearInterval(beat);
        clearTimeout(killTimer);
        stopWatchingClose();
        stopJob = undefined;
        resolve(end);
      };
      stopWatchingClose = session.onClose((reason) => finish({ kind: "lost", reason }));
      session.start(followCommand(remoteDir, offset), {
        onOutput: (chunk) => {
          offset += chunk.length;
          opts.onOutput(chunk);
        },
        onStderr: () => {},
      }).then((proc) => {
        // The connection may have gone while the channel opened.
        if (settled) return proc.ended;
        beat = setInterval(() => proc.write("\n"), opts.heartbeatMs);
        stopJob = () => {
          session.exec(signalJobCommand(remoteDir, "INT")).catch(() => {});
          killTimer = setTimeout(
            () => session.exec(signalJobCommand(remoteDir, "KILL")).catch(() => {}),
            opts.graceMs,
          );
        };
        if (stopping) stopJob();
        return proc.ended;
      }).then((end) => {
        if (end.status !== undefined) return finish({ kind: "ended" });
        // ssh2 closes the channels before it reports the connection closed.
        setTimeout(() => finish({ kind: "lost", reason: "the connection was closed" }), 0);
      }, (err) => finish({ kind: "lost", reason: describeError(err) }));
    });

  try {
    let session = link.session;
    for (;;) {
      const end = await follow(session);
      if (end.kind === "ended") {
        // Streamed, never collected: the rest may be anything up to the whole output.
        const rest = await streamCommand(session, catchUpCommand(remoteDir, offset), {
          onOutput: (chunk) => {
            offset += chunk.length;
            opts.onOutput(chunk);
          },
          idleMs: Math.max(opts.connectMs, 30_000),
        });
        // Without an answer (the link went again), the job's end is read after reconnecting.
        if (rest?.status !== undefined) {
          // A conversion that finished before the stop took effect did finish.
          if (rest.status === 0 || !stopping) return { kind: "exited", status: rest.status };
          return stopping;
        }
      }
      const reason = end.kind === "lost" ? end.reason : "the connection was lost";
      const next = await reconnect(reason);
      if (next === undefined) {
        if (stopping) return stopping;
        return {
          kind: "lost",
          reason: `${reason}; no new connection within ${Math.round(opts.reconnectMs / 1000)} s`,
        };
      }
      session = next;
    }
  } finally {
    opts.signal.removeEventListener("abort", onAbort);
  }

  /** A new session with the disks forwarded again, or undefined when the bound ran out. */
  async function reconnect(reason: string): Promise<RemoteSession | undefined> {
    const lostAt = performance.now();
    opts.emit({ type: "link-lost", reason, boundMs: opts.reconnectMs });
    let backoff = 1000;
    let lastError = "";
    /** A changed host key outweighs whatever a later, shorter attempt ran into (often a timeout). */
    let hostKeyError = "";
    /** Host keys already reported: once each, not at every attempt. */
    const strangeKeys = new Set<string>();
    for (let attempt = 1;; attempt++) {
      // A cancel still wants to reach the server, to stop the job there, but not for long.
      const bound = stopping
        ? Math.min(opts.reconnectMs, opts.cancelReachMs ?? 15_000)
        : opts.reconnectMs;
      const elapsed = performance.now() - lostAt;
      if (elapsed >= bound) break;
      opts.emit({ type: "reconnecting", attempt, elapsedMs: elapsed });
      try {
        const session = await link.reconnect(Math.min(opts.connectMs, bound - elapsed));
        await opts.reattach(session);
        opts.emit({ type: "link-resumed", attempt, elapsedMs: performance.now() - lostAt });
        return session;
      } catch (err) {
        lastError = describeError(err);
        if (err instanceof HostKeyChangedError) hostKeyError = lastError;
        // Said at once, not at the end of the bound: the operator may want to cancel.
        if (err instanceof HostKeyChangedError && !strangeKeys.has(err.presented)) {
          strangeKeys.add(err.presented);
          opts.emit({ type: "warning", message: hostKeyWarning(err, bound) });
        }
      }
      const left = bound - (performance.now() - lostAt);
      await sleep(Math.min(backoff, Math.max(0, left)), stopping ? undefined : opts.signal);
      backoff = Math.min(backoff * 2, opts.backoffMaxMs);
    }
    const finalError = hostKeyError || lastError;
    if (finalError) opts.emit({ type: "warning", message: `reconnecting failed: ${finalError}` });
    return undefined;
  }
}
