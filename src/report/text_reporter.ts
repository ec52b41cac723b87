/**
 * The unattended view: engine events as plain lines on the console. On a
 * PXE-booted machine this is all the sysadmin sees, so each disk gets a
 * progress line (bytes, percent, rate, ETA) at most every `progressEveryMs`,
 * and a summary (bytes, time, average rate) when the copy is over.
 */
import type { Config } from "../config/types.ts";
import type { EngineEvent } from "../engine/events.ts";
import { ConversionProgress, type DiskProgress } from "../engine/progress.ts";
import { terminalText } from "../text/ansi.ts";
import { formatDuration, formatRate } from "../text/units.ts";
import { amountText, summaryText } from "./progress_text.ts";

export interface TextReporterOptions {
  write: (text: string) => void;
  /** Keep virt-v2v's colours (SGR only); otherwise strip them. */
  colours: boolean;
  verbose: boolean;
  /** Minimum time between two progress lines of one disk. */
  progressEveryMs?: number;
  now?: () => number;
  /**
   * The settings of the run: the success line says where the guest went.
   * The time it took is counted from the reporter's creation.
   */
  config?: Pick<Config, "guestname" | "output" | "remote">;
}

/** Where virt-v2v put the guest, as the dialog's finished screen says it. */
export function guestDestination(c: Pick<Config, "guestname" | "output" | "remote">): string {
  return `virt-v2v wrote the guest "${c.guestname}" with -o ${c.output.type}` +
    (c.output.storage ? ` to ${c.output.storage}` : "") +
    (c.remote.server ? ` on ${c.remote.server}` : "");
}

function progressLine(d: DiskProgress, copying: boolean): string {
  const s = d.status();
  const parts = [`Disk ${d.name}: ${amountText(s)}`];
  if (s.percent !== undefined) parts[0] += ` (${s.percent}%)`;
  if (s.rate !== undefined) parts.push(formatRate(s.rate));
  if (copying && s.eta !== undefined) parts.push(`ETA ${formatDuration(s.eta)}`);
  return parts.join(", ");
}

export function createTextReporter(opts: TextReporterOptions): (event: EngineEvent) => void {
  const now = opts.now ?? Date.now;
  const started = now();
  const every = opts.progressEveryMs ?? 10_000;
  const progress = new ConversionProgress([]);
  const lastShown = new Map<string, { at: number; bytes: number }>();
  let summarised = false;
  /** Disks whose finished copy has had its line. */
  const copiedShown = new Set<string>();
  // Reasons, output modes and virt-v2v's lines come from the server or the
  // network: every line goes through the filter, only virt-v2v's may keep colours.
  const line = (text: string, colours = false) =>
    opts.write(terminalText(text, { colours }) + "\n");

  return (event) => {
    progress.onEvent(event, now());
    switch (event.type) {
      case "phase":
        // Whatever the throttle held back, the summary tells how each disk ended.
        if (event.phase === "cleaning-up" && !summarised && progress.disks.length > 0) {
          summarised = true;
          progress.finish(false, now());
          for (const s of progress.summaries()) line(summaryText(s, opts.verbose));
        }
        line(event.message);
        break;
      case "host-key":
        line(`Server host key: ${event.fingerprint}`);
        break;
      case "server":
        line(`Conversion server has virt-v2v ${event.capabilities.version}`);
        if (opts.verbose) line(`Output modes: ${event.capabilities.outputs.join(" ")}`);
        break;
      case "remote-dir":
        line(`Remote directory: ${event.path}`);
        break;
      case "output":
        // virt-v2v's next phase ends a disk's copy: its last line says 100 %.
        for (const d of progress.disks) {
          if (d.state() !== "copied" || !d.copyStart || copiedShown.has(d.name)) continue;
          copiedShown.add(d.name);
          line(progressLine(d, false));
        }
        line(event.line, opts.colours);
        break;
      case "disk-progress": {
        const t = now();
        const prev = lastShown.get(event.disk);
        if (prev && prev.bytes === event.bytesSent) break;
        if (prev && t - prev.at < every) break;
        lastShown.set(event.disk, { at: t, bytes: event.bytesSent });
        const index = progress.disks.findIndex((d) => d.name === event.disk);
        line(progressLine(progress.disks[index], index === progress.copying));
        break;
      }
      case "link-lost":
        line(
          `Connection to the conversion server lost (${event.reason}); ` +
            `reconnecting for up to ${formatDuration(event.boundMs / 1000)} ...`,
        );
        break;
      case "reconnecting":
        if (event.attempt > 1) {
          line(
            `Reconnecting (attempt ${event.attempt}, ${formatDuration(event.elapsedMs / 1000)})`,
          );
        }
        break;
      case "link-resumed":
        line(
          `Reconnected after ${formatDuration(event.elapsedMs / 1000)} ` +
            `(attempt ${event.attempt}); the conversion goes on`,
        );
        break;
      case "stage":
        line(event.message);
        break;
      case "warning":
        line(`virt-p2v: warning: ${event.message}`);
        break;
      case "debug":
        if (opts.verbose) line(`virt-p2v: ${event.message}`);
        break;
      case "finished":
        if (event.summary !== undefined) {
          line(event.summary);
          break;
        }
        line(
          `Conversion finished successfully in ${formatDuration((now() - started) / 1000)}` +
            (opts.config ? `: ${guestDestination(opts.config)}` : "") +
            `. The log is in ${event.remoteDir} on the server.`,
        );
        break;
      case "failed":
      case "cancelled":
        // main prints the one-line error.
        break;
    }
  };
}
