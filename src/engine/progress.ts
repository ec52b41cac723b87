/**
 * What the engine's events say about the copy, for both views: per disk the
 * bytes, percent, rate and ETA of virt-v2v's copy, and a summary at the end.
 *
 * Why NBD counts against the disk's data, and not virt-v2v's output or the
 * disk's size: measured with virt-v2v 2.2.0 converting a Debian 12 guest
 * (2 GiB disk, 694 MiB allocated, -o null), no copy progress reached us at
 * all — between `Copying disk 1/1` and `Creating output metadata` virt-v2v
 * printed nothing (a `\r` bar would only arrive, as one line, when the disk
 * is done). The NBD count moves continuously, in two parts: 208 MB read
 * during the 5 minutes of inspection and conversion, then 208 → 930 MB in
 * the 7 s copy — 722 MB, the allocated size, because nbdcopy reads only the
 * extents block status reports as data. So:
 *
 * - the copy is what is counted: the bytes sent since virt-v2v's `Copying
 *   disk N/M` line, against the disk's data extents (`dataBytes`, see
 *   `nbd/allocated.ts`); before that line the disk is only being read;
 * - the copy of a disk is done when virt-v2v prints its next phase line, and
 *   then it is 100 % of what it read, whatever the estimate said (virt-v2v
 *   trims free space, so it may read less than the data extents);
 * - without data extents (a block device) the total is unknown, and said to
 *   be: no percent and no ETA are invented.
 */
import { terminalText } from "../text/ansi.ts";
import type { EngineEvent } from "./events.ts";

/** `[  12.3] Copying disk 1/2`: virt-v2v starts copying that disk (in physical.xml order). */
const V2V_COPY = /^\[\s*[0-9.]+\]\s+Copying disk (\d+)\/\d+/;
/** `[  12.3] Something`: one of virt-v2v's phase markers. */
const V2V_STEP = /^\[\s*[0-9.]+\]\s+\S/;

/**
 * The shortest span an average is taken over. Phase lines cross the SSH link
 * and the byte counts are sampled, so a shorter measured span says nothing
 * about the rate: over 0 s it would read 0 B/s or infinity.
 */
export const MIN_SPAN_SECONDS = 0.1;

interface Sample {
  t: number;
  bytes: number;
}

/**
 * waiting: nothing read yet; reading: virt-v2v reads the disk to inspect and
 * convert the guest, its copy has not begun; copying; copied.
 */
export type CopyState = "waiting" | "reading" | "copying" | "copied";

/** One disk as both views show it. */
export interface DiskStatus {
  state: CopyState;
  /** Bytes read so far ("waiting", "reading"), else bytes copied. */
  bytes: number;
  /** What the copy reads in all; undefined when unknown. Once copied, what it did read. */
  total: number | undefined;
  /** Whole percent of `total`; undefined unless copying or copied with a known total. */
  percent: number | undefined;
  /** Bytes per second over the last window; undefined when unknown or once copied. */
  rate: number | undefined;
  /** Seconds left of the copy; undefined unless copying with a known total and rate. */
  eta: number | undefined;
}

export class DiskProgress {
  readonly name: string;
  sizeBytes: number | undefined;
  /** Data extents of the source: what virt-v2v's copy reads at most. */
  dataBytes: number | undefined;
  /** Everything the export sent for this disk. */
  bytes = 0;
  /** Set when the conversion finished successfully: the disk is fully copied. */
  complete = false;
  /** virt-v2v's copy of this disk: from its `Copying disk` line to the next phase. */
  copyStart: Sample | undefined;
  copyEnd: Sample | undefined;
  /** virt-v2v went on to its next phase: the copy of this disk is over. */
  copyDone = false;
  /** The last sample before data moved, and the last change. */
  firstDataAt: number | undefined;
  lastChangeAt: number | undefined;
  readonly #samples: Sample[] = [];
  readonly #windowMs: number;
  #lastSampleAt: number | undefined;

  constructor(name: string, windowMs = 10_000) {
    this.name = name;
    this.#windowMs = windowMs;
  }

  update(bytes: number, sizeBytes: number | undefined, t: number, dataBytes?: number): void {
    if (bytes > this.bytes) {
      // The data moved after the previous sample, not at this one.
      this.firstDataAt ??= this.#lastSampleAt ?? t;
      this.lastChangeAt = t;
    }
    this.#lastSampleAt = t;
    this.bytes = bytes;
    if (sizeBytes !== undefined && sizeBytes > 0) this.sizeBytes = sizeBytes;
    if (dataBytes !== undefined) this.dataBytes = dataBytes;
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

  state(): CopyState {
    if (this.complete || this.copyDone) return "copied";
    if (this.copyStart) return "copying";
    return this.bytes > 0 ? "reading" : "waiting";
  }

  /** Bytes of virt-v2v's copy so far; everything sent when no copy line was seen. */
  copied(): number {
    if (!this.copyStart) return this.bytes;
    const end = this.copyDone && this.copyEnd ? this.copyEnd.bytes : this.bytes;
    return Math.max(0, end - this.copyStart.bytes);
  }

  /** 0…1 of the copy; undefined before it or when its total is unknown. */
  fraction(): number | undefined {
    const state = this.state();
    if (state === "copied") return 1;
    if (state !== "copying" || this.dataBytes === undefined) return undefined;
    if (this.dataBytes === 0) return 0.99;
    // Only virt-v2v's next phase says the copy is over; re-reads may pass the estimate.
    return Math.min(0.99, this.copied() / this.dataBytes);
  }

  /** Seconds left of the copy at the current rate; undefined when unknown or stalled. */
  etaSeconds(): number | undefined {
    if (this.state() !== "copying" || this.dataBytes === undefined) return undefined;
    const rate = this.rate();
    if (rate === undefined || rate <= 0) return undefined;
    return Math.max(0, this.dataBytes - this.copied()) / rate;
  }

  status(): DiskStatus {
    const state = this.state();
    const fraction = this.fraction();
    const copied = this.copied();
    return {
      state,
      bytes: state === "waiting" || state === "reading" ? this.bytes : copied,
      total: state === "copied" ? copied : this.dataBytes,
      percent: fraction === undefined ? undefined : Math.floor(fraction * 100),
      rate: state === "copied" ? undefined : this.rate(),
      eta: this.etaSeconds(),
    };
  }
}

export interface DiskSummary {
  name: string;
  /** Bytes over `seconds`: virt-v2v's copy when it was seen, else everything sent. */
  bytes: number;
  /** Whether `bytes` is virt-v2v's copy of the disk. */
  copy: boolean;
  /** Everything our export sent for this disk, inspection included. */
  sentBytes: number;
  /** How long those bytes took; at least MIN_SPAN_SECONDS once any moved. */
  seconds: number;
  /** `bytes / seconds`; undefined when nothing moved. */
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
      disk.update(event.bytesSent, event.sizeBytes, now, event.dataBytes);
    } else if (event.type === "output") {
      const line = terminalText(event.line);
      if (!V2V_STEP.test(line)) return;
      this.step = line;
      // virt-v2v moved on: the disk it was copying is copied.
      this.#endCopy(now, true);
      // Before the copy, virt-v2v reads the disks to inspect and convert the
      // guest: an ETA from that trickle would be nonsense.
      const copy = V2V_COPY.exec(line);
      this.copying = copy ? Number(copy[1]) - 1 : undefined;
      const disk = this.copying === undefined ? undefined : this.disks[this.copying];
      if (disk) {
        disk.restartRate();
        disk.copyStart = { t: now, bytes: disk.bytes };
        disk.copyEnd = undefined;
        disk.copyDone = false;
      }
    }
  }

  /** The conversion is over (`succeeded`: every disk is fully copied). */
  finish(succeeded: boolean, now: number): void {
    this.#endCopy(now, succeeded);
    this.copying = undefined;
    if (succeeded) { for (const d of this.disks) d.complete = true; }
  }

  summaries(): DiskSummary[] {
    return this.disks.map((d) => {
      let span = 0;
      let moved = d.bytes;
      const copy = d.copyStart !== undefined && d.copyEnd !== undefined;
      if (d.copyStart && d.copyEnd) {
        span = (d.copyEnd.t - d.copyStart.t) / 1000;
        moved = Math.max(0, d.copyEnd.bytes - d.copyStart.bytes);
      } else if (d.firstDataAt !== undefined && d.lastChangeAt !== undefined) {
        span = (d.lastChangeAt - d.firstDataAt) / 1000;
      }
      const seconds = moved > 0 ? Math.max(MIN_SPAN_SECONDS, span) : span;
      return {
        name: d.name,
        bytes: moved,
        copy,
        sentBytes: d.bytes,
        seconds,
        averageRate: moved > 0 ? moved / seconds : undefined,
      };
    });
  }

  #endCopy(now: number, done: boolean): void {
    const disk = this.copying === undefined ? undefined : this.disks[this.copying];
    if (!disk?.copyStart) return;
    disk.copyEnd ??= { t: now, bytes: disk.bytes };
    if (done) disk.copyDone = true;
  }
}

/** The shortest readable name of a disk: the file name of an image path. */
export function diskLabel(name: string): string {
  if (!name.startsWith("/")) return name;
  const base = name.slice(name.lastIndexOf("/") + 1);
  return base === "" ? name : base;
}
