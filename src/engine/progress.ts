/**
 * What the engine's events say about the copy, for both views: bytes per
 * disk, rate, ETA, and a summary per disk at the end.
 *
 * Why NBD counts and not virt-v2v's output: measured with virt-v2v 2.2.0
 * converting a Debian 12 guest (2 GiB disk, 694 MiB allocated, -o null),
 * no copy progress reached us at all — between `Copying disk 1/1` and
 * `Creating output metadata` virt-v2v printed nothing (and a `\r` bar would
 * only arrive, as one line, when the disk is done). The NBD count moves
 * continuously, but it is an estimate of the copy: it rose to 208 MB (10 %
 * of the disk) during the 5 minutes of inspection and conversion, then from
 * 208 to 930 MB in the 7 s copy; holes are never read, so a sparse disk ends
 * well below its size (43 % here). Hence the fraction is capped below 1
 * until the conversion has finished, and an ETA is given only for the disk
 * virt-v2v says it is copying, with the rate measured from that moment.
 */
import { terminalText } from "../text/ansi.ts";
import type { EngineEvent } from "./events.ts";

/** `[  12.3] Copying disk 1/2`: virt-v2v starts copying that disk (in physical.xml order). */
const V2V_COPY = /^\[\s*[0-9.]+\]\s+Copying disk (\d+)\/\d+/;
/** `[  12.3] Something`: one of virt-v2v's phase markers. */
const V2V_STEP = /^\[\s*[0-9.]+\]\s+\S/;

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
  /** virt-v2v's copy of this disk: from its `Copying disk` line to the next phase. */
  copyStart: Sample | undefined;
  copyEnd: Sample | undefined;
  /** When data first moved and when it last did. */
  firstDataAt: number | undefined;
  lastChangeAt: number | undefined;
  readonly #samples: Sample[] = [];
  readonly #windowMs: number;

  constructor(name: string, windowMs = 10_000) {
    this.name = name;
    this.#windowMs = windowMs;
  }

  update(bytes: number, sizeBytes: number | undefined, t: number): void {
    if (bytes > this.bytes) {
      this.firstDataAt ??= t;
      this.lastChangeAt = t;
    }
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

export interface DiskSummary {
  name: string;
  /** Everything our export sent for this disk. */
  bytes: number;
  /** How long the copy took: virt-v2v's copy of it when seen, else from first to last byte. */
  seconds: number;
  /** Bytes per second over that time; undefined when it was too short to tell. */
  averageRate: number | undefined;
}

/** The progress of every disk of one conversion, fed with its events. */
export class ConversionProgress {
  readonly disks: DiskProgress[];
  /** Index of the disk virt-v2v is copying now. */
  copying: number | undefined;
  /** virt-v2v's latest phase line, e.g. `[  12.3] Copying disk 1/2`. */
  step: string | undefined;

  constructor(diskNames: readonly string[], readonly windowMs = 10_000) {
    this.disks = diskNames.map((d) => new DiskProgress(d, windowMs));
  }

  onEvent(event: EngineEvent, now: number): void {
    if (event.type === "disk-progress") {
      let disk = this.disks.find((d) => d.name === event.disk);
      if (!disk) {
        disk = new DiskProgress(event.disk, this.windowMs);
        this.disks.push(disk);
      }
      disk.update(event.bytesSent, event.sizeBytes, now);
    } else if (event.type === "output") {
      const line = terminalText(event.line);
      if (!V2V_STEP.test(line)) return;
      this.step = line;
      this.#endCopy(now);
      // Before the copy, virt-v2v reads the disks to inspect and convert the
      // guest: an ETA from that trickle would be nonsense.
      const copy = V2V_COPY.exec(line);
      this.copying = copy ? Number(copy[1]) - 1 : undefined;
      const disk = this.copying === undefined ? undefined : this.disks[this.copying];
      if (disk) {
        disk.restartRate();
        disk.copyStart = { t: now, bytes: disk.bytes };
        disk.copyEnd = undefined;
      }
    }
  }

  /** The conversion is over (`succeeded`: every disk is fully copied). */
  finish(succeeded: boolean, now: number): void {
    this.#endCopy(now);
    this.copying = undefined;
    if (succeeded) { for (const d of this.disks) d.complete = true; }
  }

  summaries(): DiskSummary[] {
    return this.disks.map((d) => {
      let seconds = 0;
      let moved = d.bytes;
      if (d.copyStart && d.copyEnd) {
        seconds = (d.copyEnd.t - d.copyStart.t) / 1000;
        moved = d.copyEnd.bytes - d.copyStart.bytes;
      } else if (d.firstDataAt !== undefined && d.lastChangeAt !== undefined) {
        seconds = (d.lastChangeAt - d.firstDataAt) / 1000;
      }
      return {
        name: d.name,
        bytes: d.bytes,
        seconds,
        averageRate: seconds > 0 ? moved / seconds : undefined,
      };
    });
  }

  #endCopy(now: number): void {
    const disk = this.copying === undefined ? undefined : this.disks[this.copying];
    if (disk?.copyStart && !disk.copyEnd) disk.copyEnd = { t: now, bytes: disk.bytes };
  }
}

/** The shortest readable name of a disk: the file name of an image path. */
export function diskLabel(name: string): string {
  if (!name.startsWith("/")) return name;
  const base = name.slice(name.lastIndexOf("/") + 1);
  return base === "" ? name : base;
}
