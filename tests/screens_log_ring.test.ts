/** The running screen's scroll-back: bounded by bytes and lines, oldest dropped first. */
import assert from "node:assert/strict";
import { DEFAULT_LOG_LIMITS, LogRing } from "../src/screens/log_ring.ts";
import { RunningScreen } from "../src/screens/running.ts";
import { fakeDeps, sampleConfig } from "./helpers/screens_fixtures.ts";

Deno.test("log ring: bounded by bytes, newest kept, oldest dropped", () => {
  const ring = new LogRing({ maxBytes: 10_000, maxLines: 1000, maxLineChars: 1000 });
  for (let i = 0; i < 100; i++) ring.push(`${i}`.padEnd(500, "."));
  assert.ok(ring.bytes <= 10_000, `${ring.bytes} bytes kept`);
  assert.ok(ring.length >= 8 && ring.length < 10, `${ring.length} lines kept`);
  assert.ok(ring.at(ring.length - 1).startsWith("99."));
  assert.deepEqual(ring.tail(2).map((l) => l.slice(0, 3)), ["98.", "99."]);
});

Deno.test("log ring: bounded by lines; long lines are cut with a marker", () => {
  const ring = new LogRing({ maxBytes: 1 << 30, maxLines: 5, maxLineChars: 10 });
  for (let i = 0; i < 20; i++) ring.push(`line ${i}`);
  assert.equal(ring.length, 5);
  assert.equal(ring.at(0), "line 15");
  ring.push("y".repeat(100));
  assert.equal(ring.at(4), "yyyyyyyyyy [virt-p2v: line cut after 10 characters]");
});

Deno.test("running screen: a flood of long lines keeps its log within the byte bound", () => {
  const deps = fakeDeps();
  const screen = new RunningScreen({ config: sampleConfig() }, deps);
  const line = "é".repeat(60 * 1024);
  for (let i = 0; i < 200; i++) screen.onEvent({ type: "output", line });
  let chars = 0;
  for (let i = 0; i < screen.log.length; i++) chars += screen.log.at(i).length;
  console.log(`${screen.log.length} lines, ${(chars * 2 / 1048576).toFixed(1)} MiB kept`);
  assert.ok(chars * 2 <= DEFAULT_LOG_LIMITS.maxBytes, `${chars * 2} bytes kept`);
  assert.ok(screen.log.length > 0);
});
