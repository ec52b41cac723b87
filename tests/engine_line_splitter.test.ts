/**
 * The splitter between virt-v2v's byte stream and the lines we show: lines
 * end at `\n`, progress redraws collapse to the last one, and no line, however
 * long, is kept whole.
 */
import assert from "node:assert/strict";
import { LineSplitter, MAX_LINE_CHARS } from "../src/engine/line_splitter.ts";

const encoder = new TextEncoder();

function split(chunks: (string | Uint8Array)[], maxLine?: number): string[] {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l), maxLine);
  for (const c of chunks) s.push(typeof c === "string" ? encoder.encode(c) : c);
  s.flush();
  return lines;
}

Deno.test("line splitter: CRLF lines, redraws and a last line without newline", () => {
  assert.deepEqual(split(["a\r\nb", "c\r\n", "10%\r20%\r30%\r\n", "tail"]), [
    "a",
    "bc",
    "30%",
    "tail",
  ]);
  // A multi-byte character split across chunks.
  const e = encoder.encode("é\n");
  assert.deepEqual(split([e.subarray(0, 1), e.subarray(1)]), ["é"]);
});

Deno.test("line splitter: an over-long line is cut with a marker and the rest of it dropped", () => {
  const lines = split(["x".repeat(50), "y".repeat(50), "z".repeat(30) + "\nnext\n"], 64);
  assert.equal(lines.length, 2);
  assert.equal(
    lines[0],
    "x".repeat(50) + "y".repeat(14) + " [virt-p2v: line cut after 64 characters]",
  );
  assert.equal(lines[1], "next");
  // Within one chunk too.
  assert.deepEqual(split(["a".repeat(100) + "\nb\n"], 64), [
    "a".repeat(64) + " [virt-p2v: line cut after 64 characters]",
    "b",
  ]);
  // A long progress line of redraws keeps its last redraw, not a cut.
  const redraws = Array.from({ length: 20 }, (_, i) => `${i * 5}%\r`).join("") + "done\r\n";
  assert.deepEqual(split([redraws], 16), ["done"]);
});

Deno.test("line splitter: 64 MiB without a newline keeps memory bounded and yields one cut line", () => {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l));
  const chunk = encoder.encode("é".repeat(16 * 1024));
  for (let i = 0; i < 2048; i++) s.push(chunk);
  s.push(encoder.encode("\nafter\n"));
  s.flush();
  assert.equal(lines.length, 2);
  assert.ok(lines[0].length < MAX_LINE_CHARS + 100, `a line of ${lines[0].length} characters`);
  assert.match(lines[0], /line cut after 8192 characters\]$/);
  assert.equal(lines[1], "after");
});
