/**
 * The summary before a conversion as the dialog's lines: a heading per
 * section, then `label  value  detail` rows with the values in one column,
 * then the warnings. Nothing is cut: a long value (a path, a host key)
 * wraps under its column, a label too wide for the column gets a row of its
 * own. Every text goes through `sanitize`: a version or a host key came from
 * the server, a disk's name from the command line.
 */
import type { ConversionSummary, SummaryRow } from "../report/conversion_summary.ts";
import {
  hardWrap,
  type Line,
  padStartText,
  padText,
  sanitize,
  seg,
  textWidth,
  wrapText,
} from "./text.ts";

/** Columns before a row's label. */
const INDENT = 3;
/** The widest label column: wider labels (an image's path) go on a row of their own. */
const MAX_LABEL = 14;

export function summaryLines(summary: ConversionSummary, width: number): Line[] {
  const lines: Line[] = [];
  const labels = summary.sections.flatMap((s) => s.rows.map((r) => textWidth(sanitize(r.label))));
  const labelW = Math.min(MAX_LABEL, Math.max(1, ...labels.filter((w) => w <= MAX_LABEL)));
  const valueCol = INDENT + labelW + 2;
  const valueW = Math.max(10, width - valueCol - 1);
  for (const section of summary.sections) {
    lines.push(heading(sanitize(section.title), width));
    if (section.rows.length === 0) {
      lines.push([seg(" ".repeat(INDENT)), seg(sanitize(section.empty), "dim")]);
    }
    // Details start in one column when the values before them are short enough to allow it.
    const values = section.rows.map((r) => textWidth(sanitize(r.value)));
    const widest = Math.max(0, ...values);
    const detailAt = widest + 2;
    for (const row of section.rows) {
      const value = sanitize(row.value);
      const shown = section.amounts && widest <= valueW ? padStartText(value, widest) : value;
      lines.push(...rowLines({ ...row, value: shown }, labelW, valueW, detailAt));
    }
  }
  if (summary.warnings.length > 0) {
    lines.push(heading("Warnings", width));
    for (const w of summary.warnings) {
      for (const l of wrapText(sanitize(w), width - INDENT - 1)) {
        lines.push([seg(" ".repeat(INDENT)), seg(l, "warn")]);
      }
    }
  }
  return lines;
}

function heading(title: string, width: number): Line {
  const text = `-- ${title} `;
  return [seg(text, "heading"), seg("-".repeat(Math.max(0, width - textWidth(text))))];
}

/** A row's lines; its value is sanitized (and aligned) already. */
function rowLines(row: SummaryRow, labelW: number, valueW: number, detailAt: number): Line[] {
  const pad = " ".repeat(INDENT);
  const under = " ".repeat(INDENT + labelW + 2);
  const label = sanitize(row.label);
  const value = row.value;
  const detail = row.detail === undefined ? "" : sanitize(row.detail);
  const lines: Line[] = [];
  let first: Line;
  if (textWidth(label) <= labelW) {
    first = [seg(pad), seg(label, "key"), seg(" ".repeat(labelW - textWidth(label) + 2))];
  } else {
    // The whole label on rows of its own, the value under the value column.
    for (const piece of hardWrap(label, labelW + valueW)) lines.push([seg(pad), seg(piece, "key")]);
    first = [seg(under)];
  }
  // Value and detail on one row when both fit; else each wraps on rows of its own.
  if (detail !== "" && Math.max(detailAt, textWidth(value) + 2) + textWidth(detail) <= valueW) {
    lines.push([...first, seg(padText(value, detailAt)), seg(detail, "dim")]);
    return lines;
  }
  // Wrapped only when too long: wrapping would eat the blanks that align an amount.
  const valueRows = textWidth(value) <= valueW ? [value] : wrapText(value, valueW);
  valueRows.forEach((v, i) => lines.push([...(i === 0 ? first : [seg(under)]), seg(v)]));
  if (detail !== "") {
    for (const d of wrapText(detail, valueW)) lines.push([seg(under), seg(d, "dim")]);
  }
  return lines;
}
