/**
 * Per-disk progress from the engine's `disk-progress` events: bytes the NBD
 * server has sent, with rate and ETA computed here from successive events.
 *
 * Why NBD counts and not virt-v2v's output: measured with virt-v2v 2.2.0
 * converting a Debian 12 guest (2 GiB disk, 694 MiB allocated, -o null),
 * no copy progress reached us at all — between `Copying disk 1/1` and
 * `Creating output metadata` virt-v2v printed nothing (and a `\r` bar would
 * only arrive, as one line, when the disk is done). The NBD count moves
 * continuously, but it is an estimate of the copy: it rose to 208 MB (10 %
 * of the disk) during the 5 minutes of inspection and conversion, then from
 * 208 to 930 MB in the 7 s copy; holes are never read, so a sparse disk ends
 * well below its size (43 % here). Hence the bar is capped below 100 % until
 * the conversion has finished, and an ETA is shown only for the disk
 * virt-v2v says it is copying, with the rate measured from that moment.
 */
import { formatBytes } from "../report/text_reporter.ts";

interface Sample {
  t: number;
  bytes: number;
}

export class DiskProgress {
  readonly name: string;
  sizeBytes: number | undefined;
  bytes = 0;
  /** Set when the conversion finished successfully: the disk is fully copied. */
  complete = false;
  readonly #samples: Sample[] = [];
  readonly #windowMs: number;

  constructor(name: string, windowMs = 10_000) {
    this.name = name;
    this.#windowMs = windowMs;
  }

  update(bytes: number, sizeBytes: number | undefined, t: number): void {
    this.bytes = bytes;
    if (sizeBytes !== undefined && sizeBytes > 0) this.sizeBytes = sizeBytes;
    this.#samples.push({ t, bytes });
    // Keep one sample at or before the window start, so the rate spans the whole window.
    while (this.#samples.length > 2 && this.#samples[1].t <= t - this.#windowMs) {
      this.#samples.shift();
    }
  }

  /** Measure the rate from now on only (a new phase reads at a different pace). */
  restartRate(): void {
    this.#samples.splice(0, this.#samples.length - 1);
  }

  /** Bytes per second over the last window; undefined until two samples exist. */
  rate(): number | undefined {
    if (this.#samples.length < 2) return undefined;
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    const dt = last.t - first.t;
    if (dt <= 0) return undefined;
    return Math.max(0, (last.bytes - first.bytes) * 1000 / dt);
  }

  /** 0…1 of the disk; below 1 until the conversion is known to be complete. */
  fraction(): number {
    if (this.complete) return 1;
    if (!this.sizeBytes) return 0;
    return Math.min(0.99, this.bytes / this.sizeBytes);
  }

  /** Seconds left at the current rate; undefined when unknown or stalled. */
  etaSeconds(): number | undefined {
    if (this.complete || !this.sizeBytes) return undefined;
    const rate = this.rate();
    if (rate === undefined || rate <= 0) return undefined;
    const left = Math.max(0, this.sizeBytes - this.bytes);
    return left / rate;
  }
}

/** `0:07`, `12:34`, `1:02:03`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

/** The shortest readable name of a disk: the file name of an image path. */
export function diskLabel(name: string): string {
  if (!name.startsWith("/")) return name;
  const base = name.slice(name.lastIndexOf("/") + 1);
  return base === "" ? name : base;
}
