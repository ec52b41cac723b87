/**
 * What a widget hands to the page: its segments on a line and, for the
 * focused text field, where the terminal cursor goes.
 */
import type { Seg } from "./text.ts";

/** A widget drawn on a line: its segments and, for a text field, the cursor offset. */
export interface Rendered {
  segs: Seg[];
  cursor?: number;
  focused?: boolean;
}
