/**
 * The bandwidth cap: one token bucket shared by every disk's channels, so
 * the whole conversion stays under `p2v.bandwidth` however many disks and
 * channels carry it. The cap can change while the copy runs (the dialog's
 * +/- keys); 0 lifts it.
 *
 * A send larger than the bucket is let through at once and paid for after:
 * the bucket goes into debt and later sends wait until it is paid off, so
 * the rate over any stretch longer than a second or two is the cap, however
 * large each send is.
 */

/** Bytes the bucket holds at most: this many milliseconds of the cap. */
const BURST_MS = 100;
/** Never less than this, so that small caps still let a whole request through. */
const MIN_BURST = 64 * 1024;

export class RateLimit {
  /** Bytes per second; 0 = no cap. */
  #rate = 0;
  #tokens = 0;
  #stamp = 0;
  readonly #waiting: { bytes: number; go: () => void }[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #listeners = new Set<(mbit: number) => void>();

  constructor(mbitPerSecond = 0, private readonly now: () => number = () => performance.now()) {
    this.set(mbitPerSecond);
  }

  /** The cap in Mbit/s; 0 when there is none. */
  get mbit(): number {
    return this.#rate * 8 / 1e6;
  }

  /** Sets the cap in Mbit/s (0: none); whoever waits is re-timed at the new rate. */
  set(mbitPerSecond: number): void {
    if (!(mbitPerSecond >= 0) || !Number.isFinite(mbitPerSecond)) {
      throw new RangeError(`bad bandwidth ${mbitPerSecond}`);
    }
    this.#refill();
    this.#rate = mbitPerSecond * 1e6 / 8;
    this.#tokens = Math.min(this.#tokens, this.#burst());
    for (const l of this.#listeners) l(mbitPerSecond);
    this.#pump();
  }

  /** Calls `listener` with every new cap; returns the unsubscribe. */
  onChange(listener: (mbit: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `go` once `bytes` may be sent (at once when there is no cap and nobody waits). */
  take(bytes: number, go: () => void): void {
    if (this.#rate === 0 && this.#waiting.length === 0) return go();
    this.#waiting.push({ bytes, go });
    this.#pump();
  }

  /** Stops the timer; whoever waits is let through (the conversion is ending). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiting = this.#waiting.splice(0);
    for (const w of waiting) w.go();
  }

  #burst(): number {
    return Math.max(MIN_BURST, this.#rate * BURST_MS / 1000);
  }

  #refill(): void {
    const t = this.now();
    if (this.#rate > 0) {
      this.#tokens = Math.min(this.#burst(), this.#tokens + (t - this.#stamp) / 1000 * this.#rate);
    }
    this.#stamp = t;
  }

  #pump(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#refill();
    while (this.#waiting.length > 0) {
      if (this.#rate === 0) {
        this.#waiting.shift()!.go();
        continue;
      }
      // In order; a send goes once the bucket is out of debt, and is paid for.
      if (this.#tokens < 0) break;
      const w = this.#waiting.shift()!;
      this.#tokens -= w.bytes;
      w.go();
    }
    if (this.#waiting.length > 0) {
      const ms = Math.max(1, -this.#tokens / this.#rate * 1000);
      this.#timer = setTimeout(() => this.#pump(), ms);
    }
  }
}
