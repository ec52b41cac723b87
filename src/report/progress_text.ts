/**
 * The words both views use for a disk's copy and its summary, so that the
 * console and the dialog say the same thing.
 */
import type { DiskStatus, DiskSummary } from "../engine/progress.ts";
import { formatBytes, formatDuration, formatRate } from "../text/units.ts";

/** `1.2 GiB of 3.0 GiB copied`, `1.2 GiB copied, total unknown`, `208.0 MiB read before copy`. */
export function amountText(s: DiskStatus): string {
  switch (s.state) {
    case "waiting":
      return "nothing read yet";
    case "reading":
      return `${formatBytes(s.bytes)} read before copy`;
    case "copying":
    case "copied":
      return s.total === undefined
        ? `${formatBytes(s.bytes)} copied, total unknown`
        : `${formatBytes(s.bytes)} of ${formatBytes(s.total)} copied`;
  }
}

/** `0.4 s` below ten seconds (where `0:00` would hide it), else `1:23`. */
export function spanText(seconds: number): string {
  return seconds < 10 ? `${seconds.toFixed(1)} s` : formatDuration(seconds);
}

/**
 * `Disk sda: 694.0 MiB copied in 7.2 s, average 96.4 MiB/s (902.0 MiB sent in all)`:
 * the bytes, the time and the average are of the same span.
 */
export function summaryText(s: DiskSummary, exact: boolean): string {
  const what = s.copy ? "copied" : "sent";
  const bytes = exact ? ` (${s.bytes} bytes)` : "";
  const rate = s.averageRate === undefined ? "" : `, average ${formatRate(s.averageRate)}`;
  const all = s.copy && formatBytes(s.sentBytes) !== formatBytes(s.bytes)
    ? ` (${formatBytes(s.sentBytes)} sent in all)`
    : "";
  return `Disk ${s.name}: ${formatBytes(s.bytes)}${bytes} ${what} in ${
    spanText(s.seconds)
  }${rate}${all}`;
}
