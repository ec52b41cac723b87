/**
 * The copy's arithmetic, fed events as the engine emits them: percent and
 * ETA count against the disk's data, not its size; the copy starts and ends
 * at virt-v2v's phase lines; summaries agree with themselves.
 */
import assert from "node:assert/strict";
import { ConversionProgress, DiskProgress, MIN_SPAN_SECONDS } from "../src/engine/progress.ts";
import { amountText, spanText, summaryText } from "../src/report/progress_text.ts";
import { formatDuration } from "../src/text/units.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

function sda(bytesSent: number, dataBytes?: number) {
  return { type: "disk-progress" as const, disk: "sda", bytesSent, sizeBytes: 20 * GiB, dataBytes };
}

Deno.test("progress: a sparse disk's copy counts against its data, from the copy line on", () => {
  const p = new ConversionProgress(["sda"]);
  const d = p.disks[0];
  assert.equal(d.status().state, "waiting");
  // Inspection reads 200 MiB of a 20 GiB disk holding 3 GiB: no percent, no ETA.
  p.onEvent(sda(0, 3 * GiB), 0);
  p.onEvent(sda(200 * MiB, 3 * GiB), 60_000);
  assert.deepEqual(d.status(), {
    state: "reading",
    bytes: 200 * MiB,
    total: 3 * GiB,
    percent: undefined,
    rate: 200 * MiB / 60,
    eta: undefined,
  });
  assert.equal(amountText(d.status()), "200.0 MiB read before copy");

  p.onEvent({ type: "output", line: "[  60.0] Copying disk 1/1" }, 60_000);
  p.onEvent(sda(200 * MiB + 1 * GiB, 3 * GiB), 62_000);
  const s = d.status();
  assert.equal(s.state, "copying");
  assert.equal(s.bytes, 1 * GiB, "the inspection's reads are not part of the copy");
  assert.equal(s.percent, 33);
  assert.equal(s.rate, 512 * MiB);
  // 2 GiB left at 512 MiB/s — not 19 GiB of the disk's size.
  assert.equal(s.eta, 4);
  assert.equal(amountText(s), "1.0 GiB of 3.0 GiB copied");

  // Re-reads pass the estimate: still not 100 % until virt-v2v moves on …
  p.onEvent(sda(200 * MiB + 3 * GiB + 5 * MiB, 3 * GiB), 66_000);
  assert.equal(d.status().percent, 99);
  assert.equal(d.status().eta, 0);
  // … and then it is, of what the copy actually read.
  p.onEvent({ type: "output", line: "[  66.1] Creating output metadata" }, 66_100);
  assert.deepEqual(d.status(), {
    state: "copied",
    bytes: 3 * GiB + 5 * MiB,
    total: 3 * GiB + 5 * MiB,
    percent: 100,
    rate: undefined,
    eta: undefined,
  });
});

Deno.test("progress: a copy that reads less than the data still ends at 100 %", () => {
  const p = new ConversionProgress(["sda"]);
  p.onEvent(sda(10 * MiB, 3 * GiB), 0);
  p.onEvent({ type: "output", line: "[   5.0] Copying disk 1/1" }, 5_000);
  p.onEvent(sda(10 * MiB + 1 * GiB, 3 * GiB), 6_000);
  assert.equal(p.disks[0].status().percent, 33);
  // virt-v2v trimmed the free space: it moved on after 1 GiB.
  p.onEvent({ type: "output", line: "[   6.5] Creating output metadata" }, 6_500);
  const s = p.disks[0].status();
  assert.equal(s.percent, 100);
  assert.equal(amountText(s), "1.0 GiB of 1.0 GiB copied");
});

Deno.test("progress: without data extents (a block device) the total is unknown, and said so", () => {
  const p = new ConversionProgress(["sda"]);
  p.onEvent(sda(0), 0);
  p.onEvent(sda(0), 1_000);
  p.onEvent({ type: "output", line: "[   1.0] Copying disk 1/1" }, 1_000);
  p.onEvent(sda(2300 * MiB), 3_000);
  const s = p.disks[0].status();
  assert.equal(s.percent, undefined);
  assert.equal(s.eta, undefined);
  assert.equal(s.total, undefined);
  assert.equal(s.rate, 1150 * MiB);
  assert.equal(amountText(s), "2.2 GiB copied, total unknown");
  assert.equal(p.disks[0].fraction(), undefined);
});

Deno.test("progress: disk 2's copy ends disk 1's; a failed conversion leaves the copy unfinished", () => {
  const p = new ConversionProgress(["sda", "sdb"]);
  const [a, b] = p.disks;
  p.onEvent({ type: "disk-progress", disk: "sda", bytesSent: MiB, dataBytes: 100 * MiB }, 0);
  p.onEvent({ type: "disk-progress", disk: "sdb", bytesSent: MiB, dataBytes: 100 * MiB }, 0);
  p.onEvent({ type: "output", line: "\x1b[1;34m[   1.0] Copying disk 1/2\x1b[0m" }, 1_000);
  p.onEvent(
    { type: "disk-progress", disk: "sda", bytesSent: 101 * MiB, dataBytes: 100 * MiB },
    2_000,
  );
  p.onEvent({ type: "output", line: "[   2.0] Copying disk 2/2" }, 2_000);
  assert.equal(a.status().state, "copied");
  assert.equal(a.status().percent, 100);
  assert.equal(b.status().state, "copying");
  assert.equal(b.status().percent, 0);
  p.onEvent(
    { type: "disk-progress", disk: "sdb", bytesSent: 41 * MiB, dataBytes: 100 * MiB },
    3_000,
  );
  p.finish(false, 4_000);
  assert.equal(b.status().state, "copying");
  assert.equal(b.status().percent, 40);
  // Only success completes every disk, even one whose copy line never came.
  const q = new ConversionProgress(["sda"]);
  q.onEvent(sda(7 * MiB, 3 * GiB), 0);
  q.finish(true, 1_000);
  assert.equal(q.disks[0].status().percent, 100);
  assert.equal(amountText(q.disks[0].status()), "7.0 MiB of 7.0 MiB copied");
});

Deno.test("progress: the rate follows a window; an empty disk's copy does not divide by zero", () => {
  const d = new DiskProgress("sda", 10_000);
  assert.equal(d.rate(), undefined);
  d.update(0, GiB, 0, 0);
  d.update(100 * MiB, undefined, 2_000);
  assert.equal(d.rate(), 50 * MiB);
  d.update(110 * MiB, undefined, 12_000);
  d.update(120 * MiB, undefined, 22_000);
  assert.equal(d.rate(), 1 * MiB);
  d.copyStart = { t: 22_000, bytes: 120 * MiB };
  assert.equal(d.fraction(), 0.99, "0 bytes of data: unknown progress, never 100 % early");
  assert.equal(d.etaSeconds(), 0);
});

Deno.test("summaries: bytes, time and average are of one span, never 0 B/s for a short copy", () => {
  // 8 MiB copied between two phase lines 20 ms apart.
  const p = new ConversionProgress(["sda"]);
  p.onEvent(sda(0, 8 * MiB), 0);
  p.onEvent({ type: "output", line: "[   0.0] Copying disk 1/1" }, 1_000);
  p.onEvent(sda(8 * MiB, 8 * MiB), 1_020);
  p.onEvent({ type: "output", line: "[   0.1] Creating output metadata" }, 1_020);
  p.finish(true, 1_500);
  const [s] = p.summaries();
  assert.equal(s.bytes, 8 * MiB);
  assert.equal(s.seconds, MIN_SPAN_SECONDS);
  assert.equal(s.averageRate, 80 * MiB);
  assert.equal(summaryText(s, false), "Disk sda: 8.0 MiB copied in 0.1 s, average 80.0 MiB/s");
  assert.equal(
    summaryText(s, true),
    `Disk sda: 8.0 MiB (${8 * MiB} bytes) copied in 0.1 s, average 80.0 MiB/s`,
  );

  // No copy line: from the last count before data moved to the last change.
  const q = new ConversionProgress(["sda"]);
  q.onEvent(sda(0), 0);
  q.onEvent(sda(8 * MiB), 1_000);
  q.finish(true, 1_000);
  const [t] = q.summaries();
  assert.equal(t.seconds, 1);
  assert.equal(t.averageRate, 8 * MiB);
  assert.equal(summaryText(t, false), "Disk sda: 8.0 MiB sent in 1.0 s, average 8.0 MiB/s");

  // A disk nothing was read from has no average at all.
  const e = new ConversionProgress(["sdb"]);
  e.finish(false, 0);
  assert.equal(summaryText(e.summaries()[0], false), "Disk sdb: 0 B sent in 0.0 s");
});

Deno.test("durations: short spans keep their tenths, long ones read as a clock", () => {
  assert.equal(spanText(0.04), "0.0 s");
  assert.equal(spanText(7.25), "7.3 s");
  assert.equal(spanText(83), "1:23");
  assert.equal(formatDuration(3723), "1:02:03");
  assert.equal(formatDuration(59.6), "1:00");
});
