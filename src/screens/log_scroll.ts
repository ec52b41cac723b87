/**
 * How far a log pane is scrolled up from its newest row. Keys and new lines
 * move it; the screen's layout says how far up there is anything to see;
 * drawing reads `shown` and changes nothing, so a frame drawn at another
 * size in between leaves the pane where the keys put it.
 */
export class LogScroll {
  /** Rows up from the newest, as the keys asked. */
  #up = 0;
  /** Rows above the pane at the last layout; unknown (Infinity) until one says. */
  #limit = Infinity;

  /** Rows scrolled up, as drawn: never past the oldest row. */
  get shown(): number {
    return Math.min(this.#up, this.#limit);
  }

  /** Rows scrolled up as asked, before the layout bounds it: what to prepare rows for. */
  get wanted(): number {
    return this.#up;
  }

  /** Older rows (PgUp, `rows` > 0) or newer ones (PgDn), from what is shown. */
  by(rows: number): void {
    this.#up = Math.max(0, Math.min(this.shown + rows, this.#limit));
  }

  /** Back to the newest row (End): new output is followed again. */
  end(): void {
    this.#up = 0;
  }

  /** A line came in below: a pane scrolled up keeps showing the same lines. */
  grew(): void {
    if (this.#up > 0) this.#up++;
  }

  /** The layout step: `limit` rows lie above the pane (Infinity when not all were measured). */
  layout(limit: number): void {
    this.#limit = Math.max(0, limit);
  }
}
