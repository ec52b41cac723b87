import assert from "node:assert/strict";
import { createTextReporter, type TextReporterOptions } from "../src/report/text_reporter.ts";
import { assertTerminalSafe, HOSTILE } from "./helpers/hostile_text.ts";

const MiB = 1024 * 1024;

function reporter(
  t: { now: number },
  verbose = false,
  colours = false,
  config?: TextReporterOptions["config"],
) {
  let out = "";
  const emit = createTextReporter({
    write: (s) => out += s,
    colours,
    verbose,
    progressEveryMs: 10_000,
    now: () => t.now,
    config,
  });
  return { emit, out: () => out };
}

Deno.test("progress lines are throttled; reads before the copy carry no percent", () => {
  const t = { now: 0 };
  const r = reporter(t);
  const at = (bytes: number) => ({
    type: "disk-progress" as const,
    disk: "sda",
    bytesSent: bytes,
    sizeBytes: 100 * MiB,
    dataBytes: 60 * MiB,
  });
  r.emit(at(1 * MiB));
  t.now = 1000;
  r.emit(at(2 * MiB));
  t.now = 11_000;
  r.emit(at(41 * MiB));
  t.now = 12_000;
  r.emit(at(45 * MiB));
  r.emit({ type: "phase", phase: "cleaning-up", message: "Cleaning up ..." });
  assert.equal(
    r.out(),
    "Disk sda: 1.0 MiB read before copy\n" +
      // 39 MiB over the last 10 s window.
      "Disk sda: 41.0 MiB read before copy, 3.9 MiB/s\n" +
      // No copy line: all 45 MiB, from the first count to the last change.
      "Disk sda: 45.0 MiB sent in 0:12, average 3.8 MiB/s\n" +
      "Cleaning up ...\n",
  );
});

Deno.test("the copy counts against the disk's data, ends at 100 %, and its summary times it", () => {
  const t = { now: 0 };
  const r = reporter(t);
  const at = (bytes: number) => ({
    type: "disk-progress" as const,
    disk: "sda",
    bytesSent: bytes,
    sizeBytes: 20_000 * MiB,
    dataBytes: 1000 * MiB,
  });
  r.emit(at(10 * MiB));
  t.now = 60_000;
  r.emit(at(10 * MiB));
  r.emit({ type: "output", line: "[  60.0] Copying disk 1/1" });
  t.now = 70_000;
  r.emit(at(510 * MiB));
  t.now = 79_000;
  r.emit(at(990 * MiB));
  t.now = 80_000;
  r.emit({ type: "output", line: "[  80.0] Creating output metadata" });
  r.emit({ type: "phase", phase: "cleaning-up", message: "Cleaning up ..." });
  assert.deepEqual(r.out().split("\n"), [
    "Disk sda: 10.0 MiB read before copy",
    "[  60.0] Copying disk 1/1",
    // 500 of the disk's 1000 MiB of data, not of its 20000 MiB.
    "Disk sda: 500.0 MiB of 1000.0 MiB copied (50%), 50.0 MiB/s, ETA 0:10",
    // The copy is over when virt-v2v moves on: 100 % of what it read.
    "Disk sda: 980.0 MiB of 980.0 MiB copied (100%)",
    "[  80.0] Creating output metadata",
    // 980 MiB in the 20 s between "Copying disk" and the next phase.
    "Disk sda: 980.0 MiB copied in 0:20, average 49.0 MiB/s (990.0 MiB sent in all)",
    "Cleaning up ...",
    "",
  ]);
});

Deno.test("a disk of unknown data says so, and a sub-second copy has a true average", () => {
  const t = { now: 0 };
  const r = reporter(t);
  const at = (bytes: number) => ({ type: "disk-progress" as const, disk: "sda", bytesSent: bytes });
  r.emit(at(0));
  r.emit({ type: "output", line: "[   1.0] Copying disk 1/1" });
  t.now = 300;
  r.emit(at(8 * MiB));
  r.emit({ type: "output", line: "[   1.3] Creating output metadata" });
  r.emit({ type: "phase", phase: "cleaning-up", message: "Cleaning up ..." });
  assert.deepEqual(r.out().split("\n"), [
    "Disk sda: nothing read yet",
    "[   1.0] Copying disk 1/1",
    // Within the throttle: no line while copying, but the end always has one.
    "Disk sda: 8.0 MiB of 8.0 MiB copied (100%)",
    "[   1.3] Creating output metadata",
    "Disk sda: 8.0 MiB copied in 0.3 s, average 26.7 MiB/s",
    "Cleaning up ...",
    "",
  ]);
});

Deno.test("ANSI colours from virt-v2v are stripped unless colours are on", () => {
  const r = reporter({ now: 0 });
  r.emit({ type: "output", line: "\x1b[1;31mred\x1b[0m text" });
  assert.equal(r.out(), "red text\n");
});

Deno.test("debug lines only with --verbose", () => {
  const quiet = reporter({ now: 0 });
  quiet.emit({ type: "debug", message: "NBD client of sda: bad request magic 0x0" });
  assert.equal(quiet.out(), "");
  const loud = reporter({ now: 0 }, true);
  loud.emit({ type: "debug", message: "NBD client of sda: bad request magic 0x0" });
  assert.equal(loud.out(), "virt-p2v: NBD client of sda: bad request magic 0x0\n");
});

Deno.test("a dropped link and the resume are one line each", () => {
  const r = reporter({ now: 0 });
  r.emit({ type: "link-lost", reason: "Keepalive timeout", boundMs: 600_000 });
  r.emit({ type: "reconnecting", attempt: 1, elapsedMs: 0 });
  r.emit({ type: "reconnecting", attempt: 2, elapsedMs: 1_000 });
  r.emit({ type: "link-resumed", attempt: 2, elapsedMs: 3_200 });
  assert.equal(
    r.out(),
    "Connection to the conversion server lost (Keepalive timeout); reconnecting for up to 10:00 ...\n" +
      "Reconnecting (attempt 2, 0:01)\n" +
      "Reconnected after 0:03 (attempt 2); the conversion goes on\n",
  );
});

const PAYLOAD = HOSTILE.map(([, seq]) => seq).join("x");

for (const colours of [false, true]) {
  Deno.test(`colours ${colours ? "on" : "off"}: virt-v2v's lines keep at most their colours`, () => {
    const r = reporter({ now: 0 }, false, colours);
    r.emit({ type: "output", line: `\x1b[1;32mgreen\x1b[0m ${PAYLOAD} end` });
    const lines = r.out().split("\n");
    assert.equal(lines.length, 2, JSON.stringify(r.out()));
    assertTerminalSafe(lines[0], colours, "output");
    assert.ok(lines[0].startsWith(colours ? "\x1b[1;32mgreen\x1b[0m " : "green "), lines[0]);
  });
}

Deno.test("reasons, warnings, debug lines and output modes never carry escapes", () => {
  const r = reporter({ now: 0 }, true, true);
  r.emit({ type: "link-lost", reason: `gone ${PAYLOAD}`, boundMs: 60_000 });
  r.emit({ type: "warning", message: `reconnecting failed: ${PAYLOAD}` });
  r.emit({ type: "debug", message: `NBD client of sda: ${PAYLOAD}` });
  r.emit({
    type: "server",
    capabilities: {
      version: "2.2.0",
      coloursOption: true,
      inputs: [],
      outputs: ["local", `\x1b[31m${PAYLOAD}`],
    },
  });
  const lines = r.out().split("\n").slice(0, -1);
  assert.equal(lines.length, 5, r.out());
  for (const l of lines) assertTerminalSafe(l, false, l);
  assert.match(lines[0], /^Connection to the conversion server lost \(gone /);
  assert.match(lines[1], /^virt-p2v: warning: reconnecting failed: /);
  assert.match(lines[4], /^Output modes: local /);
});

Deno.test("the success line says where the guest went and how long the run took", () => {
  const t = { now: 1_000_000 };
  const r = reporter(t, false, false, {
    guestname: "web01",
    output: { type: "libvirt", storage: "default", misc: [] },
    remote: { server: "conv.example.com", port: 22, hostKeys: [] },
  });
  r.emit({ type: "phase", phase: "connecting", message: "Connecting ..." });
  t.now += 3_725_000;
  r.emit({ type: "finished", remoteDir: "/tmp/virt-p2v-20261204-abcdefgh" });
  assert.equal(
    r.out().split("\n")[1],
    "Conversion finished successfully in 1:02:05: " +
      'virt-v2v wrote the guest "web01" with -o libvirt to default on conv.example.com. ' +
      "The log is in /tmp/virt-p2v-20261204-abcdefgh on the server.",
  );
});

Deno.test("the success line shows a hostile guest name or storage as text only", () => {
  for (const [guestname, storage] of [[`g${PAYLOAD}`, "/var/tmp"], ["g", `/var/tmp/${PAYLOAD}`]]) {
    const t = { now: 0 };
    const r = reporter(t, false, true, {
      guestname,
      output: { type: "local", storage, misc: [] },
      remote: { server: "conv.example.com", port: 22, hostKeys: [] },
    });
    t.now = 42_000;
    r.emit({ type: "finished", remoteDir: "/tmp/virt-p2v-20261204-abcdefgh" });
    const lines = r.out().split("\n").slice(0, -1);
    assert.equal(lines.length, 1, r.out());
    assertTerminalSafe(lines[0], false, "success line");
    assert.match(
      lines[0],
      /^Conversion finished successfully in 0:42: virt-v2v wrote the guest "g/,
    );
  }
  const r = reporter({ now: 0 }, false, true, {
    guestname: "\x1b[2Jweb\x0701",
    output: { type: "local", storage: "/var/\x1b]0;x\x07tmp", misc: [] },
    remote: { server: "conv.example.com", port: 22, hostKeys: [] },
  });
  r.emit({ type: "finished", remoteDir: "/tmp/d" });
  assert.match(r.out(), /the guest "web01" with -o local to \/var\/tmp on conv\.example\.com\./);
});
