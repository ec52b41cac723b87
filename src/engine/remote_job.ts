/**
 * Running the wrapper on the server and following it to its end: its output
 * streamed to us, a cancel or a failure on our side turned into Ctrl-C on its
 * terminal (then a hang-up when it does not stop in time), and a dropped
 * connection told apart from a job that ended.
 */
import type { RemoteSession } from "../net/session.ts";

export type JobResult =
  | { kind: "exited"; status: number }
  | { kind: "cancelled" }
  /** Stopped because something on our side failed (`reason`). */
  | { kind: "aborted"; reason: string }
  | { kind: "lost"; reason: string };

export interface JobOptions {
  session: RemoteSession;
  command: string;
  onOutput: (chunk: Uint8Array) => void;
  /** The user cancels. */
  signal: AbortSignal;
  /** Settles with a reason when the job must be stopped because our side failed. */
  abortOn?: Promise<string>;
  /** After Ctrl-C, how long the job gets to exit before we hang up. */
  graceMs: number;
}

export async function runRemoteJob(opts: JobOptions): Promise<JobResult> {
  const { session } = opts;
  // On a PTY: Ctrl-C reaches virt-v2v, and sshd hangs the job up if we vanish.
  const job = await session.start(opts.command, { pty: true, onOutput: opts.onOutput });

  return await new Promise<JobResult>((resolve) => {
    let stopping: JobResult | undefined;
    let done = false;
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    let stopWatchingClose = () => {};
    const finish = (result: JobResult) => {
      if (done) return;
      done = true;
      clearTimeout(graceTimer);
      opts.signal.removeEventListener("abort", onAbort);
      stopWatchingClose();
      resolve(result);
    };
    const stop = (why: JobResult) => {
      if (stopping || done) return;
      stopping = why;
      job.interrupt();
      graceTimer = setTimeout(() => job.hangUp(), opts.graceMs);
    };
    const onAbort = () => stop({ kind: "cancelled" });

    // May call back at once when the connection is already gone.
    stopWatchingClose = session.onClose((reason) => finish(stopping ?? { kind: "lost", reason }));
    job.ended.then((end) => {
      // A conversion that finished before the stop took effect did finish.
      if (stopping && end.status !== 0) return finish(stopping);
      if (end.status !== undefined) return finish({ kind: "exited", status: end.status });
      // ssh2 closes every channel before it reports the connection closed:
      // give that report a turn to arrive, it is the better reason.
      setTimeout(
        () => finish({ kind: "lost", reason: "the remote command ended without an exit status" }),
        0,
      );
    });
    opts.abortOn?.then((reason) => stop({ kind: "aborted", reason }));
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener("abort", onAbort, { once: true });
  });
}
