/**
 * How the hardware clock relates to UTC, so the converted guest keeps the
 * right time (Windows usually keeps the RTC in local time, Linux in UTC).
 *
 * The original reads /dev/rtc with the RTC_RD_TIME ioctl, which Deno cannot
 * issue. The kernel publishes the same reading, converted as if the RTC
 * held UTC (exactly what the original does with timegm), in
 * /sys/class/rtc/rtcN/since_epoch.
 */

import { basename, join } from "node:path";
import type { RtcFacts } from "./types.ts";
import { readAttr } from "./sysfs.ts";

/** The original's rounding step: real time zones are whole quarter hours. */
const QUANTUM = 15 * 60;
/** Furthest real zones: UTC−12 (Baker Island) and UTC+14 (Line Islands). */
const MIN_OFFSET = -12 * 3600;
const MAX_OFFSET = 14 * 3600;

export const UNKNOWN_RTC: Readonly<RtcFacts> = Object.freeze({ basis: "unknown", offset: 0 });

/**
 * Decide basis and offset from the RTC reading and the system clock.
 *
 * @param rtcSeconds RTC time as seconds since the epoch read as UTC; undefined if unreadable.
 * @param systemSeconds system time, seconds since the epoch (UTC).
 * @param tzOffsetSeconds local zone's offset east of UTC at that time (tm_gmtoff).
 */
export function decideRtc(
  rtcSeconds: number | undefined,
  systemSeconds: number,
  tzOffsetSeconds: number,
): RtcFacts {
  if (rtcSeconds === undefined || !Number.isFinite(rtcSeconds) || !Number.isFinite(systemSeconds)) {
    return { ...UNKNOWN_RTC };
  }
  const offset = roundToQuantum(rtcSeconds - systemSeconds);
  if (offset < MIN_OFFSET || offset > MAX_OFFSET) return { ...UNKNOWN_RTC };

  // An RTC that does not read local time is taken as a UTC clock, keeping
  // whatever quarter-hour offset it shows. In a UTC+0 zone UTC and local
  // time cannot be told apart; like the original we then say local time.
  if (tzOffsetSeconds !== 0 && tzOffsetSeconds !== offset) return { basis: "utc", offset };
  return { basis: "localtime", offset: 0 };
}

/** Round to the nearest quarter hour, halves away from zero (C's round()). */
export function roundToQuantum(seconds: number): number {
  const q = seconds / QUANTUM;
  const rounded = Math.sign(q) * Math.round(Math.abs(q)) * QUANTUM;
  return rounded === 0 ? 0 : rounded; // never -0
}

/** Seconds east of UTC for the local zone right now (JS counts minutes west). */
export function localTzOffset(): number {
  const minutesWest = new Date().getTimezoneOffset();
  return minutesWest === 0 ? 0 : -minutesWest * 60;
}

export function systemNow(): number {
  return Math.floor(Date.now() / 1000);
}

export async function collectRtc(
  root = "/",
  now: () => number = systemNow,
  tzOffset: () => number = localTzOffset,
): Promise<RtcFacts> {
  const rtcSeconds = await readRtcSeconds(root);
  if (rtcSeconds === undefined) return { ...UNKNOWN_RTC };
  return decideRtc(rtcSeconds, now(), tzOffset());
}

/**
 * The clock /dev/rtc stands for (usually a udev symlink to rtc0), else
 * rtc0. Reading since_epoch fails with EINVAL when the RTC holds an invalid
 * time; that is "unknown", like the original's failed ioctl.
 */
async function readRtcSeconds(root: string): Promise<number | undefined> {
  let name = "rtc0";
  try {
    const target = basename(await Deno.readLink(join(root, "dev/rtc")));
    if (/^rtc\d+$/.test(target)) name = target;
  } catch {
    // Not a symlink or absent: rtc0 is the conventional system clock.
  }
  const text = await readAttr(join(root, "sys/class/rtc", name, "since_epoch"));
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}
