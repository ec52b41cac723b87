/**
 * The bytes one export may hold for replies at once, shared by all its
 * connections. Each connection already bounds itself, but it may always run
 * one read however large (up to 32 MiB): without a shared budget, many
 * connections each holding such a read would take gigabytes. A read takes
 * its bytes here before it starts and gives them back once its reply is
 * written; a read that does not fit waits, and its connection is woken when
 * bytes come back.
 */
export class ByteBudget {
  #used = 0;
  readonly #waiting = new Set<BudgetLease>();
  #wakeScheduled = false;

  /** `capacity` must hold the largest single read, or that read could never start. */
  constructor(readonly capacity: number) {}

  /** Bytes taken and not yet given back. */
  get used(): number {
    return this.#used;
  }

  /** One connection's share: what it took is given back when it closes. */
  lease(wake: () => void): BudgetLease {
    return new BudgetLease(this, wake);
  }

  /** @internal */
  take(lease: BudgetLease, n: number): boolean {
    if (this.#used + n > this.capacity) {
      this.#waiting.add(lease);
      return false;
    }
    this.#waiting.delete(lease);
    this.#used += n;
    return true;
  }

  /** @internal */
  give(n: number): void {
    this.#used -= n;
    if (this.#waiting.size === 0 || this.#wakeScheduled) return;
    // Woken after the current callback: the waiter's work never runs inside another connection's.
    this.#wakeScheduled = true;
    queueMicrotask(() => {
      this.#wakeScheduled = false;
      const waiting = [...this.#waiting];
      this.#waiting.clear();
      for (const lease of waiting) lease.wake();
    });
  }

  /** @internal */
  forget(lease: BudgetLease): void {
    this.#waiting.delete(lease);
  }
}

export class BudgetLease {
  #held = 0;
  #closed = false;

  constructor(private readonly budget: ByteBudget, readonly wake: () => void) {}

  /** Take `n` bytes now, or false: then `wake` runs once bytes have come back. */
  tryTake(n: number): boolean {
    if (this.#closed) return false;
    if (!this.budget.take(this, n)) return false;
    this.#held += n;
    return true;
  }

  give(n: number): void {
    if (this.#closed) return;
    this.#held -= n;
    this.budget.give(n);
  }

  /**
   * The connection is gone: everything it held goes back at once, since the
   * write callbacks of a destroyed stream may never run. Reads still running
   * then finish uncounted, briefly.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.budget.forget(this);
    const held = this.#held;
    this.#held = 0;
    if (held > 0) this.budget.give(held);
  }
}
