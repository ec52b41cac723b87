/**
 * Runs a remote command whose output may be large (the rest of a job's
 * output file) and hands its stdout on chunk by chunk, as it arrives, instead
 * of collecting it: memory stays bounded whatever the server sends.
 */
import type { RemoteEnd, RemoteSession } from "../net/session.ts";

export interface StreamCommandOptions {
  onOutput: (chunk: Uint8Array) => void;
  /** Give up when nothing arrives for this long (output or the end). */
  idleMs: number;
}

/** How the command ended, or undefined when the connection went or it fell silent. */
export async function streamCommand(
  session: RemoteSession,
  command: string,
  opts: StreamCommandOptions,
): Promise<RemoteEnd | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopWatchingClose = () => {};
  let giveUp = () => {};
  const gaveUp = new Promise<undefined>((resolve) => {
    giveUp = () => resolve(undefined);
  });
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(giveUp, opts.idleMs);
  };
  try {
    arm();
    stopWatchingClose = session.onClose(() => giveUp());
    const starting = session.start(command, {
      onOutput: (chunk) => {
        arm();
        opts.onOutput(chunk);
      },
      onStderr: () => {},
    });
    const proc = await Promise.race([starting, gaveUp]);
    if (proc === undefined) {
      // Given up while the channel opened: should it open after all, close it.
      starting.then((late) => late.hangUp(), () => {});
      return undefined;
    }
    const end = await Promise.race([proc.ended, gaveUp]);
    if (end === undefined) proc.hangUp();
    return end;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    stopWatchingClose();
  }
}
