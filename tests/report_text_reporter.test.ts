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

Deno.test("progress lines are throttled and carry percent and rate; a summary ends the copy", () => {
  const t = { now: 0 };
  const r = reporter(t);
  r.emit({ type: "disk-progress", disk: "sda", bytesSent: 1 * MiB, sizeBytes: 100 * MiB });
  t.now = 1000;
  r.emit({ type: "disk-progress", disk: "sda", bytesSent: 2 * MiB, sizeBytes: 100 * MiB });
  t.now = 11_000;
  r.emit({ type: "disk-progress", disk: "sda", bytesSent: 41 * MiB, sizeBytes: 100 * MiB });
  t.now = 12_000;
  r.emit({ type: "disk-progress", disk: "sda", bytesSent: 45 * MiB, sizeBytes: 100 * MiB });
  r.emit({ type: "phase", phase: "cleaning-up", message: "Cleaning up ..." });
  assert.equal(
    r.out(),
    "Disk sda: 1.0 MiB sent of 100.0 MiB (1%)\n" +
      // 39 MiB over the last 10 s window.
      "Disk sda: 41.0 MiB sent of 100.0 MiB (41%), 3.9 MiB/s\n" +
      // From the first byte to the last: 44 MiB in 12 s.
      "Disk sda: 45.0 MiB sent in 0:12, average 3.8 MiB/s\n" +
      "Cleaning up ...\n",
  );
});

Deno.test("the disk virt-v2v copies gets an ETA, and its summary times that copy", () => {
  const t = { now: 0 };
  const r = reporter(t);
  r.emit({ type: "disk-progress", disk: "sda", bytesSent: 10 * MiB, sizeBytes: 1000 * MiB });
  t.now = 60_000;
  r.emit({ type: "output", line: "[  60.0] Copying disk 1/1" });
  r.emit({ type: "disk-progress", disk: "sda", bytesSent: 10 * MiB, sizeBytes: 1000 * MiB });
  t.now = 70_000;
  r.emit({ type: "disk-progress", disk: "sda", bytesSent: 510 * MiB, sizeBytes: 1000 * MiB });
  t.now = 80_000;
  r.emit({ type: "output", line: "[  80.0] Creating output metadata" });
  r.emit({ type: "phase", phase: "cleaning-up", message: "Cleaning up ..." });
  const lines = r.out().split("\n");
  assert.equal(lines[2], "Disk sda: 510.0 MiB sent of 1000.0 MiB (51%), 50.0 MiB/s, ETA 0:10");
  // 500 MiB in the 20 s between "Copying disk" and the next phase.
  assert.equal(lines[4], "Disk sda: 510.0 MiB sent in 0:20, average 25.0 MiB/s");
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
