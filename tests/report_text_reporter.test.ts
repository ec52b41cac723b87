import assert from "node:assert/strict";
import { createTextReporter } from "../src/report/text_reporter.ts";

function reporter(t: { now: number }) {
  let out = "";
  const emit = createTextReporter({
    write: (s) => out += s,
    colours: false,
    verbose: false,
    progressEveryMs: 10_000,
    now: () => t.now,
  });
  return { emit, out: () => out };
}

Deno.test("progress lines are throttled, and each disk's final count is printed at the end", () => {
  const t = { now: 0 };
  const r = reporter(t);
  r.emit({ type: "disk-progress", disk: "sda", bytesSent: 1024, sizeBytes: 4096 });
  t.now = 1000;
  r.emit({ type: "disk-progress", disk: "sda", bytesSent: 2048, sizeBytes: 4096 });
  t.now = 2000;
  r.emit({ type: "disk-progress", disk: "sda", bytesSent: 3072, sizeBytes: 4096 });
  r.emit({ type: "phase", phase: "cleaning-up", message: "Cleaning up ..." });
  assert.equal(
    r.out(),
    "Disk sda: 1.0 KiB sent of 4.0 KiB\nDisk sda: 3.0 KiB sent of 4.0 KiB\nCleaning up ...\n",
  );
});

Deno.test("ANSI colours from virt-v2v are stripped unless colours are on", () => {
  const r = reporter({ now: 0 });
  r.emit({ type: "output", line: "\x1b[1;31mred\x1b[0m text" });
  assert.equal(r.out(), "red text\n");
});
