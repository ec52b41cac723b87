/**
 * The unattended view: renders engine events as plain lines on the console.
 */
import type { EngineEvent } from "../engine/events.ts";

export interface TextReporterOptions {
  write: (text: string) => void;
  /** Keep ANSI colour sequences from virt-v2v; otherwise strip them. */
  colours: boolean;
  verbose: boolean;
  /** Minimum time between two progress lines of one disk. */
  progressEveryMs?: number;
  now?: () => number;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function createTextReporter(opts: TextReporterOptions): (event: EngineEvent) => void {
  const now = opts.now ?? Date.now;
  const every = opts.progressEveryMs ?? 10_000;
  const lastShown = new Map<string, { at: number; bytes: number }>();
  const latest = new Map<string, { bytesSent: number; sizeBytes?: number }>();
  const line = (text: string) => opts.write(text + "\n");
  const progressLine = (disk: string, bytesSent: number, sizeBytes?: number) => {
    const size = sizeBytes ? ` of ${formatBytes(sizeBytes)}` : "";
    line(`Disk ${disk}: ${formatBytes(bytesSent)} sent${size}`);
  };

  return (event) => {
    switch (event.type) {
      case "phase":
        // virt-v2v reads only what is in use, so a disk rarely reaches 100 %:
        // print each disk's final count once, whatever the throttle held back.
        if (event.phase === "cleaning-up") {
          for (const [disk, p] of latest) {
            if (lastShown.get(disk)?.bytes !== p.bytesSent) {
              progressLine(disk, p.bytesSent, p.sizeBytes);
              lastShown.set(disk, { at: now(), bytes: p.bytesSent });
            }
          }
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
        line(opts.colours ? event.line : event.line.replace(ANSI, ""));
        break;
      case "disk-progress": {
        latest.set(event.disk, { bytesSent: event.bytesSent, sizeBytes: event.sizeBytes });
        const t = now();
        const prev = lastShown.get(event.disk);
        const done = event.sizeBytes !== undefined && event.bytesSent >= event.sizeBytes;
        if (prev && prev.bytes === event.bytesSent) break;
        if (prev && t - prev.at < every && !done) break;
        lastShown.set(event.disk, { at: t, bytes: event.bytesSent });
        progressLine(event.disk, event.bytesSent, event.sizeBytes);
        break;
      }
      case "warning":
        line(`virt-p2v: warning: ${event.message}`);
        break;
      case "finished":
        line(`Conversion finished successfully. The log is in ${event.remoteDir} on the server.`);
        break;
      case "failed":
      case "cancelled":
        // main prints the one-line error.
        break;
    }
  };
}
