/**
 * The first body row a page shows. Each layout moves it from where the page
 * stood at the last key only as far as the focused row needs; the next key
 * starts from the frame the user saw last. So a frame drawn at another size
 * in between (a resize and back) leaves the page where it was.
 */
export class PageScroll {
  /** Where the page stood when the last key came. */
  #offset = 0;
  /** The first row the last layout showed. */
  #shown = 0;
  /** A layout came since the last key: the next key starts from what it showed. */
  #laidOut = false;

  /** The first body row of the last frame laid out. */
  get shown(): number {
    return this.#shown;
  }

  /**
   * The layout step: the first row to show of `bodyLength` rows in
   * `bodyHeight`, with `focusRow` (when the focus is in the body) in view.
   */
  layout(bodyLength: number, bodyHeight: number, focusRow: number | undefined): number {
    let offset = Math.min(this.#offset, Math.max(0, bodyLength - bodyHeight));
    if (focusRow !== undefined) {
      if (focusRow < offset) offset = focusRow;
      if (focusRow >= offset + bodyHeight) offset = focusRow - bodyHeight + 1;
    }
    this.#shown = offset;
    this.#laidOut = true;
    return offset;
  }

  /**
   * A key came: whatever it moves, it moves from the page the user saw.
   * Keys that come before the next frame add up.
   */
  settle(): void {
    if (!this.#laidOut) return;
    this.#offset = this.#shown;
    this.#laidOut = false;
  }

  /** Page keys: `rows` further down (up when negative); the layout bounds it. */
  by(rows: number): void {
    this.#offset = Math.max(0, this.#offset + rows);
  }
}
