/**
 * How many SSH channels each disk is read through, and putting our own copy
 * on the server that spreads virt-v2v's reads over them.
 *
 * The conversion server's sshd grants each channel a fixed 2 MiB window, so
 * one channel carries at most 2 MiB per round trip: 42 MB/s at 50 ms, far
 * below a 1 Gbit/s link. Enough channels to fill the link are opened, from
 * the round trip measured here.
 */
import { describeError } from "../errors.ts";
import type { RemoteSession } from "../net/session.ts";
import { ownCopyPath, type OwnCopyProbe, ownCopyUploadCommand } from "../remote/server_copy.ts";
import type { OwnExecutable } from "../system/own_executable.ts";
import { formatBytes } from "../text/units.ts";
import type { EventSink } from "./events.ts";
import type { RateLimit } from "../net/rate_limit.ts";
import { within } from "../system/within.ts";

/** The window OpenSSH's sshd gives each channel (CHAN_TCP_WINDOW_DEFAULT). */
export const SSH_CHANNEL_WINDOW = 2 * 1024 * 1024;
/**
 * The share of window ÷ round trip one channel carries in practice: 75–90%
 * measured through sshd at 20–100 ms; less is assumed, so the link still
 * fills when a channel falls behind.
 */
const CHANNEL_EFFICIENCY = 0.6;
/** The link's rate when nothing says otherwise: 1 Gbit/s. */
export const ASSUMED_LINK_BYTES_PER_SECOND = 125_000_000;
/** The most channels chosen on our own; `p2v.channels` may ask for more. */
const MAX_AUTO_CHANNELS = 16;
/** Round trips measured; the fastest counts (the others met queued traffic). */
const PINGS = 3;

/** Channels per disk that fill a link of `bytesPerSecond` at `rttMs`. */
export function channelsFor(
  rttMs: number,
  bytesPerSecond = ASSUMED_LINK_BYTES_PER_SECOND,
): number {
  const perChannel = SSH_CHANNEL_WINDOW * CHANNEL_EFFICIENCY / Math.max(rttMs / 1000, 1e-6);
  return Math.min(MAX_AUTO_CHANNELS, Math.max(1, Math.ceil(bytesPerSecond / perChannel)));
}

/** The session's round trip in ms (the fastest of a few), or undefined if it did not answer. */
export async function measureRoundTrip(
  session: RemoteSession,
  timeoutMs: number,
): Promise<number | undefined> {
  let best: number | undefined;
  for (let i = 0; i < PINGS; i++) {
    const ms = await within(timeoutMs, session.ping().catch(() => undefined));
    if (ms === undefined) break;
    best = best === undefined ? ms : Math.min(best, ms);
  }
  return best;
}

/**
 * Puts our executable in the server's cache unless the probe found a good
 * copy there; returns its path, or undefined (with a warning) when it
 * cannot be put there, and the conversion reads each disk through one
 * channel.
 */
export async function placeOwnCopy(
  session: RemoteSession,
  own: { info: OwnExecutable; content: Uint8Array },
  probe: OwnCopyProbe,
  opts: { timeoutMs: number; emit: EventSink; bandwidth?: RateLimit },
): Promise<string | undefined> {
  if (probe.dir === undefined) {
    opts.emit({
      type: "warning",
      message: "the account on the conversion server has no home directory to keep our copy " +
        "in: each disk is read through one SSH channel, which is slow over a long link",
    });
    return undefined;
  }
  const path = ownCopyPath(probe.dir, own.info.sha256);
  if (probe.ready) return path;
  opts.emit({
    type: "debug",
    message: `copying ${own.info.path} (${formatBytes(own.info.size)}) to ${path} on the ` +
      "conversion server, once",
  });
  // As long as the copy needs at 1 Mbit/s, on top of the usual bound.
  const timeoutMs = opts.timeoutMs + own.info.size / 125;
  try {
    const r = await session.exec(ownCopyUploadCommand(probe.dir, own.info.sha256, own.info.size), {
      stdin: own.content,
      // Under a bandwidth cap the copy is data like the disks'.
      stdinPace: opts.bandwidth,
      timeoutMs,
      what: "copying virt-p2v to the conversion server",
    });
    if (r.code === 0) return path;
    const detail = (r.stderr || r.stdout).trim().split("\n").pop() ?? "";
    throw new Error(`exit status ${r.code ?? r.signal}${detail ? `: ${detail}` : ""}`);
  } catch (err) {
    opts.emit({
      type: "warning",
      message: `cannot copy virt-p2v to ${path} on the conversion server (${
        describeError(err)
      }): each disk is read through one SSH channel, which is slow over a long link`,
    });
    return undefined;
  }
}
