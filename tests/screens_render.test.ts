/**
 * Every screen rendered at 80×24 (and larger) as plain text and with
 * NO_COLOR: nothing cut off at the right edge, nothing pushed below the
 * bottom, the expected content present, and no colour escapes in mono mode.
 * `P2V_SHOW_SCREENS=1 deno test -A tests/screens_render.test.ts` prints them.
 */
import assert from "node:assert/strict";
import { kernelLine } from "../src/config/kernel_line.ts";
import { overridesFromCmdline } from "../src/config/kernel_keys.ts";
import type { Config } from "../src/config/types.ts";
import { ConnectionScreen } from "../src/screens/connection.ts";
import { FinishedScreen } from "../src/screens/finished.ts";
import type { DialogModel } from "../src/screens/model.ts";
import { NetworkScreen } from "../src/screens/network.ts";
import { chooseColourMode, paintLine } from "../src/screens/paint.ts";
import { type RunningResult, RunningScreen } from "../src/screens/running.ts";
import { SettingsScreen } from "../src/screens/settings.ts";
import { SummaryScreen } from "../src/screens/summary.ts";
import { conversionSummary } from "../src/report/conversion_summary.ts";
import { Display, type Size } from "../src/screens/terminal.ts";
import { type Line, lineText, lineWidth, sanitize, seg } from "../src/screens/text.ts";
import { type LaidOutFrame, wrapHelp } from "../src/screens/page_layout.ts";
import { TextField } from "../src/screens/text_field.ts";
import { parseMachineReadable } from "../src/remote/virt_v2v_probe.ts";
import { assertTerminalSafe, HOSTILE } from "./helpers/hostile_text.ts";
import {
  fakeCtx,
  fakeDeps,
  sampleConfig,
  sampleDetected,
  sampleFacts,
  sampleNetwork,
} from "./helpers/screens_fixtures.ts";

const SIZE: Size = { width: 80, height: 24 };
const GiB = 2 ** 30;

function show(name: string, frame: LaidOutFrame, size = SIZE): void {
  if (!Deno.env.get("P2V_SHOW_SCREENS")) return;
  const bar = "+" + "-".repeat(size.width) + "+";
  console.log(`\n${name} (${size.width}x${size.height})\n${bar}`);
  for (const l of frame.lines) console.log("|" + lineText(l).padEnd(size.width) + "|");
  console.log(bar);
}

/** The render contract: exact height, nothing wider than the terminal, nothing clipped or hidden. */
function assertFits(
  name: string,
  frame: LaidOutFrame,
  size = SIZE,
  opts: { scrolls?: boolean } = {},
): string {
  show(name, frame, size);
  assert.equal(frame.lines.length, size.height, `${name}: wrong number of rows`);
  frame.lines.forEach((l, i) =>
    assert.ok(lineWidth(l) <= size.width, `${name}: row ${i} is ${lineWidth(l)} wide`)
  );
  assert.equal(frame.clipped, 0, `${name}: ${frame.clipped} line(s) cut at the right edge`);
  if (!opts.scrolls) {
    assert.equal(frame.hiddenRows, 0, `${name}: ${frame.hiddenRows} row(s) need scrolling`);
  }
  const text = frame.lines.map(lineText).join("\n");
  // NO_COLOR: bold and reverse video only, no colour codes at all.
  const mono = frame.lines.map((l) => paintLine(l, "mono")).join("\n");
  // deno-lint-ignore no-control-regex
  for (const m of mono.matchAll(/\x1b\[([0-9;]*)m/g)) {
    for (const p of m[1].split(";")) {
      assert.ok(["", "0", "1", "7"].includes(p), `${name}: SGR ${m[1]} in NO_COLOR mode`);
    }
  }
  return text;
}

function model(): DialogModel {
  const facts = sampleFacts();
  return { config: sampleConfig(facts), detected: sampleDetected(facts), facts };
}

Deno.test("NO_COLOR and monochrome terminals choose the mono palette", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assert.equal(chooseColourMode(env({ TERM: "xterm" }), false), "colour");
  assert.equal(chooseColourMode(env({ TERM: "linux" }), false), "colour");
  assert.equal(chooseColourMode(env({ TERM: "xterm", NO_COLOR: "1" }), false), "mono");
  assert.equal(chooseColourMode(env({ TERM: "vt100" }), false), "mono");
  assert.equal(chooseColourMode(env({ TERM: "xterm", NO_COLOR: "" }), false), "colour");
  assert.equal(chooseColourMode(env({ TERM: "vt100", NO_COLOR: "1" }), true), "colour");
});

Deno.test("connection screen fits 80x24: fields, actions, and a test result", () => {
  const m = model();
  const screen = new ConnectionScreen(m, fakeDeps());
  let text = assertFits("connection", screen.layout(SIZE));
  for (
    const label of [
      "Conversion server",
      "SSH port",
      "User name",
      "Password",
      "SSH identity URL",
      "Use sudo when running virt-v2v",
      "[ Test connection ]",
      "[ Network ]",
      "[ Shell ]",
      "[ About ]",
      "( Next )",
      "[ Quit ]",
    ]
  ) assert.ok(text.includes(label), `missing ${label}`);
  assert.match(text, /SSH identity URL\s+\[file:\/\/\/root\/\.ssh\/id_p2v\s*\]/);

  // After a successful test: version, host key, output modes, Next available.
  m.capabilities = {
    version: "2.2.0",
    coloursOption: true,
    inputs: ["libvirtxml"],
    outputs: ["libvirt", "local", "null", "qemu", "openstack", "kubevirt", "rhv", "glance"],
  };
  m.hostKey = "SHA256:CSRksaBx78Y3t4x/dedw+3Ellp+c0erW6zWclfEQ/tI";
  const tested = new ConnectionScreen(m, fakeDeps());
  text = assertFits("connection, tested", tested.layout(SIZE));
  assert.match(text, /virt-v2v 2\.2\.0/);
  assert.ok(text.includes(m.hostKey));
  assert.match(text, /Output modes \(-o\): libvirt local null qemu openstack kubevirt rhv glance/);
  assert.match(text, /\[ Next \]/);
});

Deno.test("connection screen: an http:// identity URL is warned about at once", () => {
  const m = model();
  m.config.auth.identityUrl = "http://keys.example.com/id";
  const text = assertFits(
    "connection, http identity",
    new ConnectionScreen(m, fakeDeps()).layout(SIZE),
  );
  assert.match(
    text.replace(/\s+/g, " "),
    /over http:\/\/ the private key crosses the network unencrypted/,
  );
  m.config.auth.identityUrl = "https://keys.example.com/id";
  const safe = new ConnectionScreen(m, fakeDeps()).layout(SIZE).lines.map(lineText).join("\n");
  assert.doesNotMatch(safe, /unencrypted/);
});

Deno.test("connection screen: a long error wraps instead of being cut", async () => {
  const m = model();
  m.config.remote.server = "conversion-server.example.com";
  const message = 'error opening control connection: authentication failed for user "root": ' +
    "the server did not accept the identity (private key); check the user name and credentials";
  const screen = new ConnectionScreen(
    m,
    fakeDeps({ testConnection: () => Promise.reject(new Error(message)) }),
  );
  screen.start(fakeCtx({ t: 0 }));
  screen.activate(screen.testButton);
  await new Promise((r) => setTimeout(r, 0));
  const text = assertFits("connection, failed test", screen.layout(SIZE));
  assert.match(text, /The test connection failed:/);
  assert.ok(text.replace(/\s+/g, " ").includes(message), "the whole error is on the screen");
});

Deno.test("connection screen: About box and quit question fit", () => {
  const screen = new ConnectionScreen(model(), fakeDeps());
  screen.start(fakeCtx({ t: 0 }));
  screen.activate(screen.aboutButton);
  const about = screen.render(SIZE);
  const text = about.lines.map(lineText).join("\n");
  show("about", { ...about, clipped: 0, hiddenRows: 0 });
  assert.match(text, /virt-p2v 2\.0\.0/);
  assert.match(text, /\[>OK<\]/);
  about.lines.forEach((l) => assert.ok(lineWidth(l) <= 80));
});

Deno.test("settings screen fits 80x24 with two disks, a drive and two interfaces", () => {
  const m = model();
  m.capabilities = {
    version: "2.2.0",
    coloursOption: true,
    inputs: [],
    outputs: ["libvirt", "local", "null", "qemu"],
  };
  m.config.remote.server = "conv.example.com";
  const screen = new SettingsScreen(m, fakeDeps());
  const text = assertFits("settings", screen.layout(SIZE));
  for (
    const s of [
      "Name      [fileserver",
      "vCPUs     [8",
      "Memory    [16G",
      "Copy host CPU topology",
      "Output to (-o)   < local",
      "Connection (-oc)",
      "Storage (-os)    [/var/tmp",
      "Format (-of)",
      "Allocation (-oa) < (default)",
      "Options (-oo)",
      "[x] sda",
      "256.0 GiB  Samsung SSD 860  serial S3Z9NB0K123456",
      "[x] nvme0n1",
      "1.0 TiB  WDC WDS100T2B0C  serial 20123A801234",
      "[x] sr0",
      "HL-DT-ST DVDRAM GH24NSD1",
      "[x] eno1    3c:ec:ef:12:34:56",
      "[x] wlp3s0  a4:c3:f0:aa:bb:cc",
      "network [default",
      "[ Back ]",
      "[ Refresh disks ]",
      "[>Start conversion<]",
    ]
  ) assert.ok(text.includes(s), `missing ${JSON.stringify(s)}`);
});

Deno.test("settings screen: reasons next to the fields, and they fit", () => {
  const m = model();
  const screen = new SettingsScreen(m, fakeDeps());
  screen.name.value = "my guest/1";
  screen.vcpus.value = "0";
  screen.memory.value = "2048";
  screen.oo.value = "compressed,=x";
  for (const d of screen.disks) d.box.checked = false;
  assert.equal(screen.validate(), false);
  // Eight reasons push the last section down: it scrolls (marked "v more").
  const text = assertFits("settings, invalid", screen.layout(SIZE), SIZE, { scrolls: true });
  assert.match(text, /v more/);
  assert.match(text, /use letters, digits and \. _ \+ - only/);
  assert.match(text, /A whole number, 1 or more\./);
  assert.match(text, /A size with a unit, like 2048M or 4G\./);
  assert.match(text, /-oo item "=x": each item is OPTION or\s+OPTION=VALUE/);
  assert.match(text, /Tick at least one fixed disk/);
});

Deno.test("settings: the fields become the config on Start", () => {
  const m = model();
  const screen = new SettingsScreen(m, fakeDeps());
  screen.name.value = "guest-7";
  screen.memory.value = "3G";
  screen.output.value = "qemu";
  screen.os.value = "/srv/images";
  screen.oa.value = "preallocated";
  screen.oo.value = "a=1,b=2";
  screen.disks[1].box.checked = false;
  screen.removable[0].box.checked = false;
  screen.interfaces[0].network.value = "ovirtmgmt";
  screen.interfaces[1].box.checked = false;
  assert.ok(screen.validate());
  screen.apply();
  const c = m.config;
  assert.equal(c.guestname, "guest-7");
  assert.equal(c.memory, 3 * GiB);
  assert.equal(c.output.type, "qemu");
  assert.equal(c.output.storage, "/srv/images");
  assert.equal(c.output.allocation, "preallocated");
  assert.deepEqual(c.output.misc, ["a=1", "b=2"]);
  assert.deepEqual(c.disks, ["sda"]);
  assert.deepEqual(c.removable, []);
  assert.deepEqual(c.interfaces, ["eno1"]);
  assert.deepEqual(c.networkMap, [{ iface: "eno1", target: "ovirtmgmt" }]);
});

Deno.test("placeholders are bracketed, painted without colour the same, and never the value", () => {
  const m = model();
  m.config.output.connection = undefined;
  m.config.output.format = undefined;
  m.config.output.misc = [];
  const screen = new SettingsScreen(m, fakeDeps());
  const frame = screen.layout(SIZE);
  const text = assertFits("settings, placeholders", frame);
  assert.match(text, /Connection \(-oc\)\s+\[<none>\s*\]/);
  assert.match(text, /Format \(-of\)\s+\[<e\.g\. raw or qcow2>\s*\]/);
  assert.match(text, /Options \(-oo\)\s+\[<e\.g\. OPTION=VALUE,\.\.\.>\s*\]/);
  // NO_COLOR paints dim as nothing: the brackets alone tell a hint from a value.
  const mono = frame.lines.map((l) => paintLine(l, "mono")).join("\n");
  assert.match(mono, /\[<none>\s*\]/);
  screen.name.value = "guest-1";
  assert.ok(screen.validate());
  screen.apply();
  assert.equal(m.config.output.connection, undefined);
  assert.equal(m.config.output.format, undefined);
  assert.deepEqual(m.config.output.misc, []);
  // A value that reads like a hint is shown as typed, without brackets.
  screen.oc.value = "none";
  screen.oc.layout(20);
  assert.match(lineText(screen.oc.render(false).segs), /^\[none\s*\]$/);
  // Focused and empty, the hint stays (the cursor on its first column); a
  // long one is shortened inside its brackets.
  const focused = new TextField("x", "", { placeholder: "optional: a very long hint indeed" });
  focused.layout(16);
  const r = focused.render(true);
  assert.equal(lineText(r.segs), "[<optional: a~>]");
  assert.equal(r.cursor, 1);
  assert.equal(focused.value, "");
});

Deno.test("running screen fits: phase, log dir, bars with rate and ETA, live output", () => {
  const m = model();
  m.config.remote.server = "conv.example.com";
  m.config.disks = ["sda", "/var/lib/images/old-server-disk2.img"];
  const clock = { t: 0 };
  const screen = new RunningScreen({ config: m.config }, fakeDeps());
  screen.start(fakeCtx(clock));
  try {
    screen.onEvent({ type: "remote-dir", path: "/tmp/virt-p2v-20261126-ab12cd34" });
    screen.onEvent({ type: "phase", phase: "converting", message: "Doing conversion ..." });
    for (let i = 0; i < 30; i++) {
      screen.onEvent({
        type: "output",
        line:
          `[  ${
            (i * 0.7).toFixed(1).padStart(5)
          }] libguestfs: trace: v2v: a fairly long debug line ` +
          `number ${i} that is wider than the terminal and must wrap, not be cut off`,
      });
    }
    screen.onEvent({ type: "output", line: "[  21.0] Copying disk 1/2" });
    for (const [t, a, b] of [[1000, 10, 0], [5000, 2058, 0]]) {
      clock.t = t;
      screen.onEvent({
        type: "disk-progress",
        disk: "sda",
        bytesSent: a * 2 ** 20,
        sizeBytes: 20 * GiB,
        dataBytes: 8 * GiB,
      });
      screen.onEvent({
        type: "disk-progress",
        disk: "/var/lib/images/old-server-disk2.img",
        bytesSent: b,
        sizeBytes: 40 * GiB,
      });
    }
    clock.t = 83_000;
    const text = assertFits("running", screen.layout(SIZE));
    assert.match(text, /Log directory on the server: \/tmp\/virt-p2v-20261126-ab12cd34/);
    assert.match(text, /Phase: Doing conversion \.\.\./);
    assert.match(text, /virt-v2v: \[ {2}21\.0\] Copying disk 1\/2/);
    assert.match(text, /Elapsed 1:23/);
    assert.match(
      text,
      /^ sda\s+\[#+\.+\]\s+25%\s+2\.0 GiB of 8\.0 GiB copied\s+512\.0 MiB\/s\s+ETA 0:12/m,
    );
    // No data extents (a block device) and nothing read: no percent to show.
    assert.match(text, /^ old-server-~ \[\.+\]\s+nothing read yet\s+waiting/m);
    assert.match(text, /must wrap, not be cut off/);
    assert.match(text, /\[>Cancel conversion<\]/);

    // Once virt-v2v has moved past the copy, no ETA (the NBD count is not a copy position).
    // A dropped link: the phase says so, the bars stay.
    screen.onEvent({ type: "link-lost", reason: "Keepalive timeout", boundMs: 600_000 });
    screen.onEvent({ type: "reconnecting", attempt: 3, elapsedMs: 42_000 });
    let lost = assertFits("running, reconnecting", screen.layout(SIZE));
    assert.match(lost, /Phase: Connection lost — reconnecting \(attempt 3, 0:42\)/);
    assert.match(lost, /^ sda\s+\[#+\.+\]\s+25%\s+2\.0 GiB of 8\.0 GiB copied/m);
    assert.match(lost, /connection lost: Keepalive timeout/);
    screen.onEvent({ type: "link-resumed", attempt: 3, elapsedMs: 44_000 });
    lost = lineTextOf(screen);
    assert.match(lost, /Phase: Doing conversion \.\.\./);
    assert.match(lost, /reconnected after 0:44; the conversion goes on/);

    // virt-v2v moved on: the copy of sda is over, at 100 % of what it read.
    screen.onEvent({ type: "output", line: "[  40.0] Creating output metadata" });
    const copied = lineTextOf(screen);
    assert.doesNotMatch(copied, /ETA/);
    assert.match(copied, /^ sda\s+\[#+\]\s+100%\s+2\.0 GiB of 2\.0 GiB copied\s+done/m);

    screen.activate(screen.cancelButton);
    const confirm = screen.render(SIZE).lines.map(lineText).join("\n");
    show("running, cancel question", {
      lines: screen.render(SIZE).lines,
      clipped: 0,
      hiddenRows: 0,
    });
    assert.match(confirm, /Really cancel the conversion\?/);
    assert.match(confirm, /\[ Yes, cancel \]\s+\[>No, continue<\]/);
  } finally {
    screen.stop();
  }
});

function lineTextOf(screen: RunningScreen): string {
  return screen.layout(SIZE).lines.map(lineText).join("\n");
}

function finishedScreen(result: RunningResult, iso = false, edit = (_c: Config) => {}) {
  const m = model();
  m.config.remote.server = "conv.example.com";
  m.config.output.storage = "/var/lib/libvirt/images";
  edit(m.config);
  const repeat = kernelLine({ config: m.config, detected: m.detected });
  return new FinishedScreen(result, m.config, fakeDeps({ iso }), repeat);
}

function finished(result: RunningResult, iso = false): string {
  const screen = finishedScreen(result, iso);
  return assertFits(`finished, ${result.outcome.kind}${iso ? ", --iso" : ""}`, screen.layout(SIZE));
}

/** The rows of `text` from the one starting with `p2v.server=` to the last `p2v.` row after it. */
function kernelRows(text: string): string[] {
  const rows = text.split("\n").map((r) => r.trim());
  const first = rows.findIndex((r) => r.startsWith("p2v.server="));
  if (first < 0) return [];
  let last = first;
  while (last + 1 < rows.length && rows[last + 1].startsWith("p2v.")) last++;
  return rows.slice(first, last + 1);
}

Deno.test("finished screen: after a success, the p2v.* line that repeats it, copyable as is", () => {
  const dir = "/tmp/virt-p2v-20261126-ab12cd34";
  const success: RunningResult = {
    outcome: { kind: "succeeded", remoteDir: dir, logFile: `${dir}/virt-v2v-conversion-log.txt` },
    logTail: [],
    elapsedMs: 754_000,
    disks: [],
  };
  for (const size of [SIZE, { width: 52, height: 40 }]) {
    // --iso at 52 columns: the hint about Power off is a footer line of 76 columns.
    const screen = finishedScreen(success, size.width < 80, (c) => {
      c.auth.password = "hunter2-secret";
      c.disks = ["nvme0n1"];
      c.guestname = "file server";
    });
    const text = assertFits(`finished, line at ${size.width}`, screen.layout(size), size);
    assert.match(
      text.replace(/\s+/g, " "),
      /To repeat this conversion unattended on other machines, boot them with:/,
    );
    const rows = kernelRows(text);
    assert.ok(rows.length >= 2, `the line is not wrapped at ${size.width}:\n${text}`);
    // Copied with its newlines, it reads back as the settings of this conversion.
    const { overrides, warnings } = overridesFromCmdline(rows.join("\n"));
    assert.deepEqual(warnings, []);
    assert.equal(overrides.server, "conv.example.com");
    assert.equal(overrides.guestname, "file server");
    assert.deepEqual(overrides.disks, ["nvme0n1"]);
    assert.equal(overrides.outputStorage, "/var/lib/libvirt/images");
    assert.equal(overrides.identityUrl, "file:///root/.ssh/id_p2v");
    assert.ok(!text.includes("hunter2"), "the password is on the screen");
    assert.match(text.replace(/\s+/g, " "), /The password is not included/);
  }
});

Deno.test("finished screen: a line taller than the terminal scrolls with PgDn and PgUp", () => {
  const dir = "/tmp/virt-p2v-20261126-ab12cd34";
  const screen = finishedScreen(
    {
      outcome: { kind: "succeeded", remoteDir: dir, logFile: `${dir}/virt-v2v-conversion-log.txt` },
      logTail: [],
      elapsedMs: 1_000,
      disks: [],
    },
    true,
    (c) => c.output.misc = Array.from({ length: 12 }, (_, i) => `option${i}=value${i}`),
  );
  const short = { width: 40, height: 16 };
  const top = assertFits("finished, scrolled to the top", screen.layout(short), short, {
    scrolls: true,
  });
  assert.match(top, /v more/);
  assert.doesNotMatch(top, /p2v\.oo=/);
  for (let i = 0; i < 6; i++) screen.screenKey({ name: "pagedown" });
  const bottom = assertFits("finished, scrolled down", screen.layout(short), short, {
    scrolls: true,
  });
  assert.match(bottom, /\^ more/);
  assert.doesNotMatch(bottom, /v more/);
  assert.match(bottom, /option11=value11/);
  for (let i = 0; i < 6; i++) screen.screenKey({ name: "pageup" });
  assert.equal(lineTextOfFrame(screen.layout(short)), top);
});

function lineTextOfFrame(frame: LaidOutFrame): string {
  return frame.lines.map(lineText).join("\n");
}

Deno.test("finished screens fit: success, failure with the log tail, cancel", () => {
  const dir = "/tmp/virt-p2v-20261126-ab12cd34";
  let text = finished({
    outcome: { kind: "succeeded", remoteDir: dir, logFile: `${dir}/virt-v2v-conversion-log.txt` },
    logTail: [],
    elapsedMs: 754_000,
    disks: [],
  }, true);
  assert.match(text, /The conversion was successful\./);
  assert.ok(text.includes(`${dir}/virt-v2v-conversion-log.txt`));
  assert.match(text, /Time taken: 12:34/);
  assert.match(text, /\[ Power off \]\s+\[ Reboot \]\s+\[>Exit<\]/);
  assert.ok(kernelRows(text).length > 0, `no kernel line after a success:\n${text}`);

  const tail = Array.from({ length: 60 }, (_, i) => `log line ${i}`);
  tail.push("virt-v2v: error: inspection could not detect the source guest (or physical machine).");
  text = finished({
    outcome: {
      kind: "failed",
      stage: "conversion",
      remoteDir: dir,
      logFile: `${dir}/virt-v2v-conversion-log.txt`,
      message:
        `virt-v2v exited with status 1; the full log is ${dir}/virt-v2v-conversion-log.txt ` +
        "on the conversion server",
    },
    logTail: tail,
    elapsedMs: 61_000,
    disks: [],
  });
  assert.match(text, /The conversion FAILED\./);
  assert.match(text, /virt-v2v exited with status 1/);
  assert.match(text, /Last lines of the log/);
  assert.match(text, /inspection could not detect the source guest/);
  // After a failure the focus is on trying again.
  assert.match(text, /\[>Back to settings<\]\s+\( Power off \)\s+\( Reboot \)\s+\[ Exit \]/);
  // A failed conversion is not one to repeat on a fleet.
  assert.deepEqual(kernelRows(text), []);

  text = finished({
    outcome: { kind: "cancelled", remoteDir: dir },
    logTail: ["stub: hanging"],
    elapsedMs: 9_000,
    disks: [],
  });
  assert.match(text, /The conversion was cancelled\./);
});

Deno.test("running screen at 80x24: the log pane scrolls back, holds still, and follows again", () => {
  const m = model();
  m.config.remote.server = "conv.example.com";
  const screen = new RunningScreen({ config: m.config }, fakeDeps());
  screen.start(fakeCtx({ t: 0 }));
  try {
    for (let i = 0; i < 100; i++) screen.onEvent({ type: "output", line: `output line ${i}` });
    const shown = () => {
      const text = assertFits("running, log", screen.layout(SIZE));
      return text.split("\n").flatMap((l) => /^ output line (\d+)$/.exec(l)?.[1] ?? []).map(Number);
    };
    let rows = shown();
    assert.equal(rows.at(-1), 99, "the newest line is shown");
    assert.ok(rows.length >= 6, `only ${rows.length} log rows at 80x24`);
    assert.ok(screen.screenKey({ name: "pageup" }));
    rows = shown();
    assert.equal(rows.at(-1), 89);
    assert.match(lineTextOf(screen), /scrolled up 10 lines; End follows/);
    // New output does not move what the user is reading.
    screen.onEvent({ type: "output", line: "output line 100" });
    assert.equal(shown().at(-1), 89);
    assert.ok(screen.screenKey({ name: "pagedown" }));
    assert.equal(shown().at(-1), 99);
    for (let i = 0; i < 30; i++) screen.screenKey({ name: "pageup" });
    assert.equal(shown()[0], 0, "it stops at the oldest line");
    assert.ok(screen.screenKey({ name: "end" }));
    assert.equal(shown().at(-1), 100);
  } finally {
    screen.stop();
  }
});

Deno.test("finished screen at 80x24: virt-v2v's error in the reason, the log pane scrolls", () => {
  const dir = "/tmp/virt-p2v-20261126-ab12cd34";
  const tail = Array.from({ length: 40 }, (_, i) => `log line ${i}`);
  // As the running screen keeps it: sanitised, colours gone.
  tail.push(sanitize("\x1b[1;31mvirt-v2v: error: cannot find libvirt pool 'default'\x1b[0m"));
  tail.push(...Array.from({ length: 30 }, (_, i) => `after ${i}`));
  const m = model();
  m.config.remote.server = "conv.example.com";
  const screen = new FinishedScreen(
    {
      outcome: {
        kind: "failed",
        stage: "conversion",
        remoteDir: dir,
        logFile: `${dir}/virt-v2v-conversion-log.txt`,
        message: `virt-v2v exited with status 1: cannot find libvirt pool 'default'; the full ` +
          `log is ${dir}/virt-v2v-conversion-log.txt on the conversion server`,
      },
      logTail: tail,
      elapsedMs: 61_000,
      disks: [],
    },
    m.config,
    fakeDeps(),
    { words: [], notes: [] },
  );
  const show = () => assertFits("finished, failed, scrolled", screen.layout(SIZE));
  let text = show();
  // The cause is on screen at once, in the reason, though the pane shows the newest lines.
  assert.match(text, /status 1: cannot find libvirt pool 'default'; the full/);
  assert.match(text, /after 29/);
  assert.match(text, /Last lines of the log \(PgUp: scroll up\)/);
  const rows = (t: string) => t.split("\n").filter((l) => /^ {2}(after|log line) \d+$/.test(l));
  const pane = rows(text).length;
  assert.ok(pane >= 4, `the pane shows ${pane} rows:\n${text}`);
  // PgUp until the error line itself is in the pane, coloured as an error.
  let presses = 0;
  while (!/^ {2}virt-v2v: error: cannot find/m.test(text) && presses < 20) {
    assert.ok(screen.screenKey({ name: "pageup" }));
    text = show();
    presses++;
  }
  assert.match(text, /^ {2}virt-v2v: error: cannot find libvirt pool 'default'$/m);
  assert.match(text, /Last lines of the log \(up \d+; PgDn\/End: newest\)/);
  const errorLine = screen.layout(SIZE).lines.find((l) => lineText(l).includes("virt-v2v: error"))!;
  assert.ok(errorLine.some((s) => s.style === "error" && s.text.includes("cannot find")));
  // It stops at the oldest line, and End goes back to the newest.
  for (let i = 0; i < 40; i++) screen.screenKey({ name: "pageup" });
  text = show();
  assert.match(text, /^ {2}log line 0$/m);
  assert.doesNotMatch(text, /after 29/);
  screen.screenKey({ name: "end" });
  text = show();
  assert.match(text, /after 29/);
  screen.screenKey({ name: "pageup" });
  screen.screenKey({ name: "pagedown" });
  assert.match(show(), /after 29/);
});

Deno.test("network screen fits, and says plainly what is missing", () => {
  const screen = new NetworkScreen(fakeDeps());
  screen.setStatus(sampleNetwork());
  let text = assertFits("network", screen.layout(SIZE));
  assert.match(text, /eno1\s+UP\s+192\.168\.10\.23\/24/);
  assert.match(text, /Default route: default via 192\.168\.10\.1 dev eno1/);
  assert.match(text, /DNS servers: 192\.168\.10\.1/);
  assert.match(text, /\[ Run DHCP \(dhclient\) \]/);
  assert.match(text, /\[ Set static address \]/);

  screen.setStatus({ ...sampleNetwork(), dhcpClient: undefined });
  text = assertFits("network, no DHCP client", screen.layout(SIZE));
  assert.match(text, /No DHCP client: neither udhcpc nor dhclient is installed\./);
  assert.match(text, /\( Run DHCP \)/);

  screen.setStatus({
    interfaces: [],
    defaultRoutes: [],
    dns: [],
    hasIp: false,
    problems: ["/etc/resolv.conf cannot be read: no name servers are known."],
  });
  text = assertFits("network, no ip", screen.layout(SIZE));
  assert.match(text, /The ip command is not installed on this system/);
  assert.match(text, /\( Set static address \)/);
});

Deno.test("larger terminals: every screen still fits", () => {
  for (const size of [{ width: 100, height: 30 }, { width: 132, height: 43 }]) {
    const m = model();
    m.config.remote.server = "conv.example.com";
    assertFits("connection", new ConnectionScreen(m, fakeDeps()).layout(size), size);
    assertFits("settings", new SettingsScreen(m, fakeDeps()).layout(size), size);
    const net = new NetworkScreen(fakeDeps());
    net.setStatus(sampleNetwork());
    assertFits("network", net.layout(size), size);
    // The summary of the sample machine needs no scrolling once the screen is 43 rows.
    const summary = new SummaryScreen(conversionSummary(m), "2.0.0");
    assertFits("summary", summary.layout(size), size, { scrolls: size.height < 43 });
  }
});

Deno.test("summary screen fits 80x24: it scrolls, every section is there, plain with NO_COLOR", () => {
  const m = model();
  m.config.remote.server = "conv.example.com";
  m.capabilities = { version: "2.2.0", coloursOption: true, inputs: [], outputs: ["local"] };
  m.hostKey = "SHA256:CSRksaBx78Y3t4x/dedw+3Ellp+c0erW6zWclfEQ/tI";
  const screen = new SummaryScreen(conversionSummary(m), "2.0.0");
  let text = assertFits("summary", screen.layout(SIZE), SIZE, { scrolls: true });
  for (
    const part of ["Conversion server", "Target guest", "virt-v2v output", "Fixed disks"]
  ) assert.ok(text.includes(`-- ${part}`), `missing ${part}`);
  screen.key({ name: "end" }, fakeCtx({ t: 0 }));
  text = assertFits("summary, end", screen.layout(SIZE), SIZE, { scrolls: true });
  for (const part of ["Removable media", "Network interfaces"]) {
    assert.ok(text.includes(`-- ${part}`), `missing ${part}`);
  }
});

/** Where the box `[...]` after `label` starts and ends on the screen, in columns. */
function boxOf(text: string, label: string): { from: number; to: number } {
  for (const row of text.split("\n")) {
    const at = row.indexOf(label);
    if (at < 0) continue;
    const from = row.indexOf("[", at);
    const to = row.indexOf("]", from);
    if (from >= 0 && to > from) return { from, to: to + 1 };
  }
  throw new Error(`no field after ${label}:\n${text}`);
}

Deno.test("fields are as wide as the terminal allows, at 80 and at 132 columns", () => {
  const m = model();
  m.config.remote.server = "conv.example.com";
  const wide = { width: 132, height: 43 };
  const at80 = {
    connection: assertFits("connection", new ConnectionScreen(m, fakeDeps()).layout(SIZE)),
    settings: assertFits("settings", new SettingsScreen(m, fakeDeps()).layout(SIZE)),
  };
  const at132 = {
    connection: assertFits("connection", new ConnectionScreen(m, fakeDeps()).layout(wide), wide),
    settings: assertFits("settings", new SettingsScreen(m, fakeDeps()).layout(wide), wide),
  };
  for (const [size, screens] of [[SIZE, at80], [wide, at132]] as const) {
    // Text fields end at the right edge, less at most one column.
    for (const label of ["Conversion server", "User name", "SSH identity URL"]) {
      const box = boxOf(screens.connection, label);
      assert.ok(box.to >= size.width - 1, `${label} at ${size.width}: ends at ${box.to}`);
    }
    for (const label of ["Connection (-oc)", "Storage (-os)", "Format (-of)", "Options (-oo)"]) {
      const box = boxOf(screens.settings, label);
      assert.ok(box.to >= size.width - 1, `${label} at ${size.width}: ends at ${box.to}`);
    }
    // A path like /var/lib/libvirt/images fits in -os without scrolling.
    const os = boxOf(screens.settings, "Storage (-os)");
    assert.ok(os.to - os.from - 2 >= "/var/lib/libvirt/images".length, `-os at ${size.width}`);
    // The port holds five digits: its box stays small.
    const port = boxOf(screens.connection, "SSH port");
    assert.ok(port.to - port.from <= 8, `the port box is ${port.to - port.from} wide`);
  }
  const os80 = boxOf(at80.settings, "Storage (-os)");
  const os132 = boxOf(at132.settings, "Storage (-os)");
  assert.ok(os132.to - os132.from >= os80.to - os80.from + 25, "-os grows with the terminal");
  const name80 = boxOf(at80.settings, "Name");
  const name132 = boxOf(at132.settings, "Name");
  assert.ok(name132.to - name132.from > name80.to - name80.from, "so does the name");
});

Deno.test("every screen with text fields says Ctrl-U clears one, at 80 and 132 columns", () => {
  for (const size of [SIZE, { width: 132, height: 43 }]) {
    const m = model();
    const net = new NetworkScreen(fakeDeps());
    net.setStatus(sampleNetwork());
    const screens = {
      connection: new ConnectionScreen(m, fakeDeps()).layout(size),
      settings: new SettingsScreen(m, fakeDeps()).layout(size),
      network: net.layout(size),
    };
    for (const [name, frame] of Object.entries(screens)) {
      const text = assertFits(name, frame, size);
      const help = text.split("\n").at(-1)!;
      assert.match(help, /Ctrl-U: clear field/, `${name} at ${size.width}: ${help}`);
    }
  }
});

Deno.test("key help wraps between its entries instead of being cut", () => {
  const help = "Tab/arrows: move  Enter: press  Space: tick  Ctrl-U: clear field  Ctrl-C: quit";
  assert.deepEqual(wrapHelp(help, 79), [help]);
  assert.deepEqual(wrapHelp(help, 40), [
    "Tab/arrows: move  Enter: press",
    "Space: tick  Ctrl-U: clear field",
    "Ctrl-C: quit",
  ]);
  // An entry wider than the line is word-wrapped; nothing is lost.
  const lines = wrapHelp("Esc: back  F1: a very long explanation of a key", 20);
  assert.ok(lines.every((l) => l.length <= 20), JSON.stringify(lines));
  assert.equal(
    lines.join(" ").replace(/\s+/g, " "),
    "Esc: back F1: a very long explanation of a key",
  );
});

Deno.test("reasons under the fields wrap at 80 columns instead of being cut", () => {
  const m = model();
  m.config.remote.server = "conv.example.com";
  m.config.auth.identityUrl = undefined;
  const connection = new ConnectionScreen(m, fakeDeps());
  connection.start(fakeCtx({ t: 0 }));
  connection.identity.value = "id_rsa";
  connection.activate(connection.testButton);
  assert.ok(connection.identity.error, "a relative key file name is refused");
  const text = assertFits("connection, identity refused", connection.layout(SIZE));
  const rows = text.split("\n").filter((r) => r.startsWith(" ".repeat(20)) && r.trim() !== "");
  assert.ok(rows.length >= 2, `the reason takes two rows:\n${text}`);
  assert.ok(
    text.replace(/\s+/g, " ").includes(connection.identity.error),
    `the whole reason is on the screen:\n${text}`,
  );

  const settings = new SettingsScreen(m, fakeDeps());
  settings.interfaces[0].network.value = "";
  assert.equal(settings.validate(), false);
  settings.interfaces[0].network.error = "Name the target network: the libvirt or oVirt " +
    "network this interface joins on the conversion server (e.g. default).";
  // 80 columns, rows enough to see the interfaces without scrolling.
  const tall = { width: 80, height: 40 };
  const s = assertFits("settings, long reason", settings.layout(tall), tall);
  assert.ok(s.replace(/\s+/g, " ").includes(settings.interfaces[0].network.error), s);
});

Deno.test("connection: a plain key path is taken as its file:// URL, as p2v.identity takes it", async () => {
  const m = model();
  m.config.remote.server = "conv.example.com";
  const tested: string[] = [];
  const screen = new ConnectionScreen(
    m,
    fakeDeps({
      testConnection: (config) => {
        tested.push(config.auth.identityUrl ?? "");
        return Promise.reject(new Error("no server here"));
      },
    }),
  );
  screen.start(fakeCtx({ t: 0 }));
  screen.identity.value = "/root/.ssh/id_rsa";
  screen.activate(screen.testButton);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(screen.identity.error, undefined);
  assert.deepEqual(tested, ["file:///root/.ssh/id_rsa"]);
  assert.equal(m.config.auth.identityUrl, "file:///root/.ssh/id_rsa");
  // The empty field's hint says a path will do.
  screen.identity.value = "";
  screen.identity.layout(60);
  assert.match(lineText(screen.identity.render(false).segs), /<optional: \/path\/to\/key/);
});

Deno.test("settings screen: more vCPUs or memory than KVM supports is a warning, not an error", () => {
  const m = model();
  m.config.vcpu.cores = 200;
  m.config.memory = 5000 * GiB;
  const screen = new SettingsScreen(m, fakeDeps());
  const text = assertFits("settings, over KVM limits", screen.layout(SIZE), SIZE, {
    scrolls: true,
  });
  assert.match(text, /More than KVM supports \(160\)/);
  assert.match(text, /More than KVM supports \(4000G\)/);
  assert.equal(screen.validate(), true, "a warning does not stop the conversion");
});

Deno.test("settings: Refresh disks keeps the ticks of disks still there and ticks new ones", async () => {
  const m = model();
  const refreshed = sampleFacts();
  refreshed.disks = [refreshed.disks[1], { name: "sdc", sizeBytes: 32 * GiB, model: "USB DISK" }];
  const screen = new SettingsScreen(
    m,
    fakeDeps({ refreshFacts: () => Promise.resolve(refreshed) }),
  );
  screen.start(fakeCtx({ t: 0 }));
  screen.disks[1].box.checked = false; // nvme0n1 unticked by the user
  screen.activate(screen.refreshButton);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(
    screen.disks.map((d) => [d.name, d.box.checked]),
    [["nvme0n1", false], ["sdc", true]],
  );
  const text = assertFits("settings, refreshed", screen.layout(SIZE), SIZE, { scrolls: true });
  assert.match(text, /Found 2 fixed disk\(s\), 1 removable drive\(s\)\./);
  assert.match(text, /\[x\] sdc\s+32\.0 GiB {2}USB DISK/);
});

/** What the display writes to the terminal for one full frame, in colour. */
function drawnBytes(lines: Line[]): string {
  let out = "";
  const display = new Display({
    size: () => ({ columns: SIZE.width, rows: SIZE.height }),
    write: (text) => out += text,
    setRaw: () => {},
    keys: { read: () => Promise.resolve(null) },
    onResize: () => () => {},
  }, "colour");
  display.draw({ lines });
  return out;
}

/** Only the display's own sequences: colours, cursor moves, erases, cursor on/off. */
function assertOnlyOwnSequences(out: string, what: string): void {
  // deno-lint-ignore no-control-regex
  const own = /\x1b\[(?:[0-9;]*[mHK]|2J|\?25[hl])/g;
  // deno-lint-ignore no-control-regex
  assert.equal(out.match(/\x1b\[2J/g)?.length, 1, `${what}: the screen was cleared twice`);
  assertTerminalSafe(out.replace(own, ""), false, what);
}

Deno.test("settings screen: the server's -o names are painted as text, never as escapes", () => {
  const m = model();
  const hostile = HOSTILE.map(([, seq], i) => `output:o${i}${seq}`).join("\n");
  m.capabilities = {
    version: "2.2.0",
    ...parseMachineReadable(`virt-v2v\nlibguestfs-rewrite\noutput:local\n${hostile}\n`),
  };
  const screen = new SettingsScreen(m, fakeDeps());
  // The names are filtered where the server's answer is parsed…
  assert.ok(screen.output.options.includes("o0"), screen.output.options.join(" "));
  for (const o of screen.output.options) assertTerminalSafe(o, false, JSON.stringify(o));
  // …and the painter would catch what got past that.
  for (let i = 0; i < screen.output.options.length; i++) {
    screen.output.index = i;
    const frame = screen.layout(SIZE);
    assertOnlyOwnSequences(drawnBytes(frame.lines), `-o ${JSON.stringify(screen.output.value)}`);
  }
});

Deno.test("display: text that reaches the painter unfiltered is still painted as text", () => {
  const lines: Line[] = HOSTILE.map(([name, seq]) => [
    seg(`${name}: `, "heading"),
    seg(`a${seq}b`),
    seg(seq, "error"),
  ]);
  assertOnlyOwnSequences(drawnBytes(lines), "frame");
});
