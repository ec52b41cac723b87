/**
 * The dialog's machinery without a real terminal: key decoding, text
 * editing, the row-diffing display (checked through a tiny VT emulator),
 * the pull-based keyboard, and the whole screen flow with
 * fake engine functions.
 */
import assert from "node:assert/strict";
import type { ConversionOutcome } from "../src/engine/outcome.ts";
import type { EventSink } from "../src/engine/events.ts";
import { runDialog } from "../src/screens/dialog.ts";
import { decodeKeys, type Key, Keyboard } from "../src/screens/keys.ts";
import type { ConvertRequest, DialogModel } from "../src/screens/model.ts";
import { Display, type TerminalIo } from "../src/screens/terminal.ts";
import { seg } from "../src/screens/text.ts";
import { Ui } from "../src/screens/ui.ts";
import { TextField } from "../src/screens/text_field.ts";
import { fakeDeps, sampleConfig, sampleDetected, sampleFacts } from "./helpers/screens_fixtures.ts";

/** Enough of a VT100 to check what the display draws: cursor moves, text, erases. */
class VirtualScreen {
  rows: string[][];
  row = 0;
  col = 0;
  writes: string[] = [];
  constructor(readonly width = 80, readonly height = 24) {
    this.rows = Array.from({ length: height }, () => Array(width).fill(" "));
  }
  write(text: string): void {
    this.writes.push(text);
    // deno-lint-ignore no-control-regex
    const re = /\x1b\[([?0-9;]*)([A-Za-z])|([^\x1b])/gu;
    for (const m of text.matchAll(re)) {
      if (m[3] !== undefined) {
        if (this.col < this.width) this.rows[this.row][this.col] = m[3];
        this.col = Math.min(this.col + 1, this.width - 1);
        continue;
      }
      const [params, final] = [m[1], m[2]];
      if (final === "H") {
        const [r, c] = params.split(";").map((n) => Number(n || "1"));
        this.row = (r || 1) - 1;
        this.col = (c || 1) - 1;
      } else if (final === "K") {
        for (let c = this.col; c < this.width; c++) this.rows[this.row][c] = " ";
      } else if (final === "J" && params === "2") {
        for (const r of this.rows) r.fill(" ");
      }
    }
  }
  text(): string {
    return this.rows.map((r) => r.join("").trimEnd()).join("\n");
  }
}

/** A terminal whose keys come from the test and whose output lands on a VirtualScreen. */
class FakeTerminal implements TerminalIo {
  screen: VirtualScreen;
  constructor(readonly columns = 80, readonly rows = 24) {
    this.screen = new VirtualScreen(columns, rows);
  }
  raw = false;
  rawLog: boolean[] = [];
  #pending: Uint8Array[] = [];
  #waiter: (() => void) | undefined;
  reads = 0;
  keys = {
    read: async (buffer: Uint8Array): Promise<number | null> => {
      this.reads++;
      while (this.#pending.length === 0) await new Promise<void>((r) => this.#waiter = r);
      const chunk = this.#pending.shift()!;
      buffer.set(chunk);
      return chunk.length;
    },
  };
  size() {
    return { columns: this.columns, rows: this.rows };
  }
  write(text: string) {
    this.screen.write(text);
  }
  setRaw(on: boolean) {
    this.raw = on;
    this.rawLog.push(on);
  }
  onResize() {
    return () => {};
  }
  press(text: string) {
    this.#pending.push(new TextEncoder().encode(text));
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}

const KEY = {
  tab: "\t",
  backtab: "\x1b[Z",
  enter: "\r",
  up: "\x1b[A",
  down: "\x1b[B",
  right: "\x1b[C",
  left: "\x1b[D",
  space: " ",
};

async function until(
  term: FakeTerminal,
  pattern: RegExp | string,
  timeoutMs = 3000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = term.screen.text();
    if (typeof pattern === "string" ? text.includes(pattern) : pattern.test(text)) return text;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${pattern}:\n${term.screen.text()}`);
}

/** Press `key` until the screen matches `focused`. */
async function focus(term: FakeTerminal, focused: RegExp, key = KEY.tab): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if (focused.test(term.screen.text())) return;
    term.press(key);
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`focus never reached ${focused}:\n${term.screen.text()}`);
}

Deno.test("keys: VT100, xterm and Linux console sequences", () => {
  const names = (s: string) => decodeKeys(s).map((k: Key) => k.ch ? `${k.name}:${k.ch}` : k.name);
  assert.deepEqual(names("\x1b[A\x1bOB\x1b[C\x1bOD"), ["up", "down", "right", "left"]);
  assert.deepEqual(names("\x1b[H\x1b[F\x1b[1~\x1b[4~\x1bOH\x1b[7~"), [
    "home",
    "end",
    "home",
    "end",
    "home",
    "home",
  ]);
  assert.deepEqual(names("\x1b[3~\x1b[5~\x1b[6~\x1b[Z"), [
    "delete",
    "pageup",
    "pagedown",
    "backtab",
  ]);
  assert.deepEqual(names("\x1bOP\x1b[[A\x1b[21~"), ["f:1", "f:1", "f:10"]);
  assert.deepEqual(names("\r\r\n\n\t\x7f\x08"), [
    "enter",
    "enter",
    "enter",
    "tab",
    "backspace",
    "backspace",
  ]);
  assert.deepEqual(names("\x03\x15\x1bx\x1b"), ["ctrl:c", "ctrl:u", "alt:x", "escape"]);
  assert.deepEqual(names("aé€"), ["char:a", "char:é", "char:€"]);
  assert.deepEqual(names("\x1b[1;5C"), ["right"]);
});

Deno.test("text field: editing keys, masking, scrolling", () => {
  const f = new TextField("Server", "host");
  const press = (...ks: Key[]) => ks.forEach((k) => f.key(k));
  press({ name: "char", ch: "1" }, { name: "home" }, { name: "char", ch: "x" });
  assert.equal(f.value, "xhost1");
  press({ name: "delete" }, { name: "end" }, { name: "backspace" });
  assert.equal(f.value, "xost");
  press({ name: "left" }, { name: "left" }, { name: "ctrl", ch: "k" });
  assert.equal(f.value, "xo");
  f.value = "one two";
  press({ name: "ctrl", ch: "w" });
  assert.equal(f.value, "one ");
  press({ name: "ctrl", ch: "u" });
  assert.equal(f.value, "");

  const p = new TextField("Password", "secret", { masked: true });
  p.layout(10);
  assert.equal(p.render(false).segs.map((s) => s.text).join(""), "[******  ]");

  const long = new TextField("URL", "file:///very/long/path/to/the/key");
  // Focused: the end (where the cursor is) is visible, `<` says there is more.
  long.layout(12);
  const focused = long.render(true);
  assert.equal(focused.segs.map((s) => s.text).join(""), "<o/the/key ]");
  assert.equal(focused.cursor, 10);
  // Unfocused: the beginning, `>` says there is more.
  assert.equal(long.render(false).segs.map((s) => s.text).join(""), "[file:///ve>");
});

Deno.test("keyboard: reads only when asked, never behind the dialog's back", async () => {
  const term = new FakeTerminal();
  const kb = new Keyboard(term.keys);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(term.reads, 0, "no read before wait()");
  assert.equal(kb.take(), undefined);
  assert.equal(term.reads, 0, "take() never reads");
  const waiting = kb.wait();
  assert.equal(kb.reading, true);
  term.press("ab");
  await waiting;
  assert.equal(kb.reading, false, "nothing in flight once the keys are in");
  assert.deepEqual([kb.take(), kb.take(), kb.take()], [
    { name: "char", ch: "a" },
    { name: "char", ch: "b" },
    undefined,
  ]);
  assert.equal(term.reads, 1);
});

Deno.test("display: repaints only changed rows, and keeps the last column", () => {
  const term = new FakeTerminal();
  const display = new Display(term, "plain");
  const lines = Array.from({ length: 24 }, (_, i) => [seg(`row ${i}`)]);
  lines[5] = [seg("x".repeat(79) + "E")];
  display.draw({ lines });
  assert.equal(term.screen.text().split("\n")[5], "x".repeat(79) + "E");
  term.screen.writes = [];
  const changed = [...lines];
  changed[7] = [seg("row 7 changed")];
  display.draw({ lines: changed });
  const out = term.screen.writes.join("");
  // deno-lint-ignore no-control-regex
  assert.equal(out.match(/\x1b\[\d+;1H/g)?.length, 1, "only row 8 is rewritten");
  // deno-lint-ignore no-control-regex
  assert.match(out, /\x1b\[8;1Hrow 7 changed\x1b\[K/);
  assert.equal(term.screen.text().split("\n")[7], "row 7 changed");
  assert.equal(term.screen.text().split("\n")[5], "x".repeat(79) + "E", "last column kept");
});

function dialogModel(): DialogModel {
  const facts = sampleFacts();
  return { config: sampleConfig(facts), detected: sampleDetected(facts), facts };
}

Deno.test("dialog flow: test, next, untick a disk, change -o, run, finish", async () => {
  const term = new FakeTerminal();
  const ui = new Ui(term, "plain", { frameMs: 5 });
  const model = dialogModel();
  let requested: ConvertRequest | undefined;
  let conversions = 0;
  const deps = fakeDeps({
    testConnection(config, emit) {
      assert.equal(config.remote.server, "conv.example.com");
      emit({ type: "host-key", fingerprint: "SHA256:abc" });
      return Promise.resolve({
        version: "2.2.0",
        coloursOption: true,
        inputs: [],
        outputs: ["local", "null"],
      });
    },
    async convert(req, emit: EventSink) {
      requested = req;
      conversions++;
      emit({ type: "remote-dir", path: "/tmp/virt-p2v-20260101-abcdefgh" });
      emit({ type: "phase", phase: "converting", message: "Doing conversion ..." });
      emit({ type: "disk-progress", disk: "sda", bytesSent: 2 ** 30, sizeBytes: 256 * 2 ** 30 });
      emit({ type: "output", line: "\x1b[1;34m[   2.0] Copying disk 1/1\x1b[0m" });
      await new Promise((r) => setTimeout(r, 50));
      return {
        kind: "succeeded",
        remoteDir: "/tmp/virt-p2v-20260101-abcdefgh",
        logFile: "/tmp/virt-p2v-20260101-abcdefgh/virt-v2v-conversion-log.txt",
      };
    },
  });
  ui.open();
  const done = runDialog(ui, model, deps);
  await until(term, /^>Conversion server/m);
  term.press("conv.example.com");
  await focus(term, /\[>Test connection<\]/);
  term.press(KEY.enter);
  await until(term, "Server host key: SHA256:abc");
  term.press(KEY.enter); // the focus moved to Next
  await until(term, "Conversion settings");
  await focus(term, /^>\[x\] nvme0n1/m, KEY.backtab);
  term.press(KEY.space);
  await focus(term, />Output to \(-o\)/, KEY.backtab);
  term.press(KEY.right);
  await until(term, /Output to \(-o\)\s+< null/);
  // -o null takes no -os: the default one goes with the choice, as unattended.
  await until(term, /Storage \(-os\)\s+\[\s+\]/);
  await focus(term, /\[>Start conversion<\]/);
  term.press(KEY.enter);
  // The summary first: what goes where; Esc goes back with nothing started.
  let summary = await until(term, "Conversion summary");
  assert.match(summary, /Server\s+root@conv\.example\.com:22/);
  assert.match(summary, /virt-v2v\s+2\.2\.0/);
  assert.match(summary, /-o\s+null/);
  assert.match(summary, /^\s+sda\s+256\.0 GiB\s+Samsung SSD 860/m);
  assert.doesNotMatch(summary, /nvme0n1/, "the unticked disk is not in the summary");
  term.press("\x1b");
  await until(term, "Conversion settings");
  assert.equal(conversions, 0, "nothing was started");
  await focus(term, /\[>Start conversion<\]/);
  term.press(KEY.enter);
  summary = await until(term, "Conversion summary");
  assert.match(summary, /\[ Back to settings \]\s+\[>Start conversion<\]/);
  term.press(KEY.enter);
  const finished = await until(term, "The conversion was successful.");
  assert.match(finished, /\/tmp\/virt-p2v-20260101-abcdefgh\/virt-v2v-conversion-log\.txt/);
  term.press(KEY.enter);
  const result = await done;
  ui.close();
  assert.deepEqual(result, {
    kind: "converted",
    outcome: {
      kind: "succeeded",
      remoteDir: "/tmp/virt-p2v-20260101-abcdefgh",
      logFile: "/tmp/virt-p2v-20260101-abcdefgh/virt-v2v-conversion-log.txt",
    },
    config: requested!.config,
  });
  assert.equal(conversions, 1);
  assert.deepEqual(requested?.config.disks, ["sda"]);
  assert.equal(requested?.config.output.type, "null");
  assert.equal(requested?.config.output.storage, "");
  assert.equal(requested?.hostKey, "SHA256:abc");
  assert.equal(requested?.capabilities?.version, "2.2.0");
  assert.deepEqual(term.rawLog, [true, false], "raw mode on for the dialog, off at the end");
  assert.ok(!term.screen.writes.join("").includes("\x1b[1;34m"), "remote escapes never reach us");
});

Deno.test("dialog flow: Back keeps the settings; the shell runs with raw mode off", async () => {
  const term = new FakeTerminal();
  const ui = new Ui(term, "plain", { frameMs: 5 });
  const model = dialogModel();
  model.config.skipTestConnection = true;
  let shellSawRaw: boolean | undefined;
  let shellSawRead: boolean | undefined;
  let shellRan: () => void = () => {};
  const shellDone = new Promise<void>((r) => shellRan = r);
  const deps = fakeDeps({
    runShell() {
      shellSawRaw = term.raw;
      shellSawRead = ui.readingKeys;
      shellRan();
      return Promise.resolve();
    },
  });
  ui.open();
  const done = runDialog(ui, model, deps);
  await until(term, /^>Conversion server/m);
  term.press("s1");
  await focus(term, /\[>Shell<\]/);
  term.press(KEY.enter);
  await shellDone;
  assert.equal(shellSawRaw, false, "the shell gets a cooked terminal");
  assert.equal(shellSawRead, false, "no read of ours competes with the shell");
  // skip_test_connection: Next without a test.
  await focus(term, /\[>Next<\]/);
  term.press(KEY.enter);
  await until(term, "Conversion settings");
  await focus(term, /^>Name/m, KEY.backtab);
  term.press("\x15guest-b");
  await focus(term, /\[>Back<\]/);
  term.press(KEY.enter);
  await until(term, "Connect to the conversion server");
  await focus(term, /\[>Next<\]/);
  term.press(KEY.enter);
  await until(term, /Name\s+\[guest-b/);
  term.press("\x03");
  await until(term, "Quit virt-p2v without converting anything?");
  term.press("y");
  assert.deepEqual(await done, { kind: "quit" });
  ui.close();
  assert.deepEqual(term.rawLog, [true, false, true, false]);
});

Deno.test("dialog flow: cancel asks first, then aborts the engine", async () => {
  const term = new FakeTerminal();
  const ui = new Ui(term, "plain", { frameMs: 5 });
  const model = dialogModel();
  model.config.skipTestConnection = true;
  let signal: AbortSignal | undefined;
  const deps = fakeDeps({
    convert(_req, emit, s): Promise<ConversionOutcome> {
      signal = s;
      emit({ type: "remote-dir", path: "/tmp/virt-p2v-20260101-cancel01" });
      return new Promise((resolve) =>
        s.addEventListener("abort", () => resolve({ kind: "cancelled", remoteDir: "/tmp/x" }))
      );
    },
  });
  ui.open();
  const done = runDialog(ui, model, deps);
  await until(term, /^>Conversion server/m);
  term.press("s1");
  await focus(term, /\[>Next<\]/);
  term.press(KEY.enter);
  await until(term, "Conversion settings");
  await focus(term, /\[>Start conversion<\]/);
  term.press(KEY.enter);
  await until(term, "Conversion summary");
  term.press(KEY.enter);
  await until(term, "/tmp/virt-p2v-20260101-cancel01");
  term.press(KEY.enter);
  await until(term, "Really cancel the conversion?");
  term.press(KEY.enter); // the default answer is No
  await until(term, /\[>Cancel conversion<\]/);
  assert.equal(signal?.aborted, false);
  term.press("\x03"); // Ctrl-C asks the same question
  await until(term, "Really cancel the conversion?");
  term.press(KEY.left + KEY.enter);
  await until(term, "The conversion was cancelled.");
  assert.equal(signal?.aborted, true);
  term.press(KEY.enter);
  const result = await done;
  ui.close();
  assert.equal(result.kind, "converted");
  assert.equal(result.kind === "converted" && result.outcome.kind, "cancelled");
});

Deno.test("dialog flow: after a failure, Back to settings, fix a value, convert again", async () => {
  const term = new FakeTerminal();
  const ui = new Ui(term, "plain", { frameMs: 5 });
  const model = dialogModel();
  model.config.skipTestConnection = true;
  const runs: string[] = [];
  const deps = fakeDeps({
    convert(req): Promise<ConversionOutcome> {
      runs.push(req.config.guestname);
      const dir = `/tmp/virt-p2v-20260101-retry00${runs.length}`;
      return Promise.resolve(
        req.config.guestname === "bad-name"
          ? {
            kind: "failed",
            stage: "conversion",
            message: "virt-v2v exited with status 1",
            remoteDir: dir,
            logFile: `${dir}/virt-v2v-conversion-log.txt`,
          }
          : { kind: "succeeded", remoteDir: dir, logFile: `${dir}/virt-v2v-conversion-log.txt` },
      );
    },
  });
  ui.open();
  const done = runDialog(ui, model, deps);
  await until(term, /^>Conversion server/m);
  term.press("s1");
  await focus(term, /\[>Next<\]/);
  term.press(KEY.enter);
  await until(term, "Conversion settings");
  await focus(term, /^>Name/m, KEY.backtab);
  term.press("\x15bad-name");
  await focus(term, /\[>Start conversion<\]/);
  term.press(KEY.enter);
  await until(term, /Name\s+bad-name/);
  term.press(KEY.enter);
  await until(term, "The conversion FAILED.");
  await until(term, /\[>Back to settings<\]/);
  term.press(KEY.enter);
  // The settings as they were, to change what was wrong.
  await until(term, /Name\s+\[bad-name/);
  await focus(term, /^>Name/m, KEY.backtab);
  term.press("\x15good-name");
  await focus(term, /\[>Start conversion<\]/);
  term.press(KEY.enter);
  // The summary is made afresh from the settings as they are now.
  await until(term, /Name\s+good-name/);
  term.press(KEY.enter);
  await until(term, "The conversion was successful.");
  term.press(KEY.enter);
  const result = await done;
  ui.close();
  assert.deepEqual(runs, ["bad-name", "good-name"]);
  assert.equal(result.kind === "converted" && result.outcome.kind, "succeeded");
  assert.equal(result.kind === "converted" && result.config.guestname, "good-name");
});

Deno.test("a terminal smaller than 80x24 gets a message, and keys do nothing blindly", async () => {
  const term = new FakeTerminal(60, 20);
  const ui = new Ui(term, "plain", { frameMs: 5 });
  const model = dialogModel();
  ui.open();
  const done = runDialog(ui, model, fakeDeps());
  await until(term, "The terminal is 60x20; virt-p2v needs at least 80x24.");
  term.press("typed-blind");
  await new Promise((r) => setTimeout(r, 50));
  term.press("\x03"); // no question that could not be seen: Ctrl-C quits
  assert.deepEqual(await done, { kind: "quit" });
  ui.close();
  assert.equal(model.config.remote.server, undefined, "nothing was typed into a field");
});
