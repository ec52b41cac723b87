/**
 * The interactive dialog driven as a user would: the real program in a real
 * terminal (tmux, 80×24), keys typed with send-keys, the screen read with
 * capture-pane, against a real loopback sshd and the stub virt-v2v.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { overridesFromCmdline } from "../src/config/kernel_keys.ts";
import { makeDenseImage, MiB } from "./helpers/images.ts";
import { p2vArgs, runP2v } from "./helpers/p2v.ts";
import { sha256File, waitFor } from "./helpers/process.ts";
import { leftoverProcesses, startSshd, TEST_USER, type TestSshd } from "./helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir, type StubBehaviour } from "./helpers/stub_server.ts";
import { frame, TmuxSession } from "./helpers/tmux.ts";
import { connectToSettings, dialogProgram, REPO } from "./helpers/dialog.ts";
import { tempDir } from "./helpers/cleanup.ts";

const work = await tempDir({ prefix: "p2v-dialog." });
const diskA = await makeDenseImage(work, "a.img", 64 * MiB);
const diskB = await makeDenseImage(work, "b.img", 16 * MiB);
const sumA = await sha256File(diskA);

/**
 * The stub's nbdcopy, slowed down: the real nbdcopy reads through nbdkit's
 * rate filter (~12 MB/s), so a 64 MiB disk takes seconds and the progress
 * bar can be seen moving — and a cancel lands in the middle of the copy.
 * It first says what virt-v2v 2.x says when a disk's copy starts.
 */
const SLOW_NBDCOPY = `#!/bin/bash
src=$1 dst=$2
port=\${src##*:}
echo "[   2.5] Copying disk 1/1"
exec nbdkit -U - --filter=rate nbd hostname=localhost port="$port" rate=100M \\
  --run "PATH=/usr/bin:/bin nbdcopy \\"\\$uri\\" '$dst'"
`;

async function startServer(behaviour: StubBehaviour): Promise<{ sshd: TestSshd; out: string }> {
  const sshd = await startSshd();
  await installStubVirtV2v(sshd, behaviour);
  const shim = join(sshd.binDir, "nbdcopy");
  await Deno.writeTextFile(shim, SLOW_NBDCOPY);
  await Deno.chmod(shim, 0o755);
  return { sshd, out: await makeOutputDir(sshd) };
}

/** The rows of the `p2v.*` line on a captured screen, from `p2v.server=` to its last row. */
/** The kernel line's rows are the 80-column screen less their two-column indent. */
const LINE_WIDTH = 78;

function kernelLineRows(screen: string): string[] {
  const rows = screen.split("\n").map((r) => r.trim());
  const first = rows.findIndex((r) => r.startsWith("p2v.server="));
  if (first < 0) return [];
  // As the screen says, when it says so: a value cut at the edge (a full row)
  // goes on in the next row; rows of whole words then stop short of the edge.
  // Without the note, a full row is a whole value that happens to fill it
  // (how wide depends on the temporary paths).
  const runsOn = screen.includes("A full row runs on into the next");
  const joined: string[] = [rows[first]];
  for (let i = first + 1; i < rows.length; i++) {
    const previous = rows[i - 1];
    if (runsOn && previous.length === LINE_WIDTH && rows[i] !== "") {
      joined[joined.length - 1] += rows[i];
    } else if (runsOn && previous.length === LINE_WIDTH) {
      continue; // the empty row after a cut word that ends at the edge
    } else if (rows[i].startsWith("p2v.")) joined.push(rows[i]);
    else break;
  }
  return joined;
}

/** The percentage on the progress line of `disk`, or undefined when not shown. */
function percentOf(screen: string, disk: string): number | undefined {
  const m = new RegExp(`^ ${disk.replace(".", "\\.")}\\s+\\[[#.]+\\]\\s+(\\d+)%`, "m").exec(screen);
  return m ? Number(m[1]) : undefined;
}

Deno.test("dialog: fill in, wrong key then right key, untick a disk, change -o, convert", async () => {
  const { sshd, out } = await startServer({});
  const tmux = await TmuxSession.start({
    argv: dialogProgram(`p2v.disks=${diskA},${diskB} p2v.name=dialog1 p2v.os=${out}`),
    cwd: REPO,
    env: { TERM: "linux", VIRT_P2V_TIMEOUTS: '{"connectMs":15000}' },
  });
  try {
    // Connection screen: empty server, focus on it.
    await tmux.waitFor(/^>Conversion server\s+\[/m);
    await tmux.type("127.0.0.1");
    await tmux.keys("Tab", "C-u");
    await tmux.type(String(sshd.port));
    await tmux.keys("Tab", "C-u");
    await tmux.type(TEST_USER);
    await tmux.keys("Tab", "Tab");
    await tmux.type(`file://${sshd.wrongKeyPath}`);
    await tmux.focus(/\[>Test connection<\]/);
    await tmux.keys("Enter");
    let screen = await tmux.waitFor("The test connection failed:");
    assert.match(screen, /authentication failed for user "p2vtest"/);
    assert.match(screen, /\( Next \)/, "Next must stay unavailable after a failed test");

    // The Network screen shows this machine's state (read only) and comes back.
    await tmux.focus(/\[>Network<\]/);
    await tmux.keys("Enter");
    screen = await tmux.waitFor(/Default route: /);
    assert.match(screen, /^ {3}lo\s/m);
    await tmux.keys("Escape");
    await tmux.waitFor("Connect to the conversion server");

    // The right key.
    await tmux.focus(/^>SSH identity URL/m, "BTab");
    await tmux.keys("C-u");
    await tmux.type(`file://${sshd.userKeyPath}`);
    await tmux.focus(/\[>Test connection<\]/);
    await tmux.keys("Enter");
    screen = await tmux.waitFor("Connected to the conversion server: virt-v2v 2.2.0.");
    assert.ok(
      screen.includes(`Server host key: ${sshd.hostKeyFingerprint}`),
      `host key not shown:\n${frame(screen)}`,
    );
    assert.match(screen, /\[>Next<\]/, "after a good test the focus goes to Next");
    await tmux.keys("Enter");

    // Settings: both disks ticked from p2v.disks; untick b.img, -o local → qemu.
    screen = await tmux.waitFor("Conversion settings");
    assert.match(screen, /\[x\] \S*a\.img/);
    assert.match(screen, /\[x\] \S*b\.img/);
    await tmux.focus(/^>\[x\] \S*b\.img/m, "BTab");
    await tmux.keys("Space");
    await tmux.waitFor(/^>\[ \] \S*b\.img/m);
    await tmux.focus(/>Output to \(-o\)/, "BTab");
    assert.match(await tmux.capture(), /Output to \(-o\)\s+< local\s*>/);
    await tmux.keys("Right");
    await tmux.waitFor(/Output to \(-o\)\s+< null\s*>/);
    await tmux.keys("Right");
    await tmux.waitFor(/Output to \(-o\)\s+< qemu\s*>/);
    await tmux.focus(/\[>Start conversion<\]/);
    await tmux.keys("Enter");

    // The summary: what goes where, as chosen; Start is focused.
    screen = await tmux.waitFor("Conversion summary");
    assert.match(screen, new RegExp(`Server\\s+${TEST_USER}@127\\.0\\.0\\.1:${sshd.port}\\b`));
    assert.match(screen, /virt-v2v\s+2\.2\.0/, frame(screen));
    assert.ok(screen.includes(sshd.hostKeyFingerprint), frame(screen));
    assert.match(screen, /Name\s+dialog1\b/);
    assert.match(screen, /-o\s+qemu\b/);
    assert.match(screen, new RegExp(`-os\\s+${out.replaceAll(".", "\\.")}$`, "m"), frame(screen));
    assert.match(screen, /\[ Back to settings \]\s+\[>Start conversion<\]/);
    // The image's path is wider than the label column: the size goes on the row under it.
    assert.match(screen, /Fixed disks \(1 disk\)/, frame(screen));
    const row = screen.indexOf(diskA);
    assert.ok(row >= 0, `a.img is not in the summary:\n${frame(screen)}`);
    assert.match(screen.slice(row), /^\S+\n\s+64\.0 MiB\b/, frame(screen));
    assert.ok(!screen.includes(diskB), `b.img must not be in the summary:\n${frame(screen)}`);
    await tmux.keys("Enter");

    // Running: the bar of a.img moves; b.img is not there.
    await tmux.waitFor("Conversion running");
    const seen = new Set<number>();
    let sawRate = false;
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      screen = await tmux.capture();
      const pct = percentOf(screen, "a.img");
      if (pct !== undefined) seen.add(pct);
      if (/\d MiB\/s\s+ETA \d+:\d\d/.test(screen)) sawRate = true;
      if (screen.includes("Conversion finished") || screen.includes("Conversion failed")) break;
      assert.ok(!/b\.img \[/.test(screen), `b.img must not be converted:\n${frame(screen)}`);
      await new Promise((r) => setTimeout(r, 150));
    }
    const between = [...seen].filter((p) => p > 0 && p < 100);
    assert.ok(between.length >= 2, `progress did not move: saw ${[...seen].join(", ")}%`);
    assert.ok(sawRate, "a rate and an ETA were never shown");

    screen = await tmux.waitFor("The conversion was successful.", 60_000);
    const dir = /(\/tmp\/virt-p2v-\d{8}-[a-z0-9]{8})\/virt-v2v-conversion-log\.txt/.exec(screen);
    assert.ok(dir, `no log path on the finished screen:\n${frame(screen)}`);
    assert.match(screen, /\( Power off \)\s+\( Reboot \)\s+\[>Exit<\]/, "no --iso: only Exit");

    // What reached the server: one disk, -o qemu.
    const argv = (await Deno.readTextFile(join(dir[1], "stub-argv"))).split("\0");
    assert.equal(argv[argv.indexOf("-o") + 1], "qemu");
    const xml = await Deno.readTextFile(join(dir[1], "physical.xml"));
    assert.equal(xml.match(/device="disk"/g)?.length, 1);
    assert.equal(await sha256File(join(out, "dialog1-sda")), sumA);
    await assert.rejects(Deno.stat(join(out, "dialog1-sdb")));

    // The kernel line that repeats this conversion, as copied from the screen
    // (newlines and all): the settings typed in and chosen, the host key seen.
    const line = kernelLineRows(screen);
    assert.ok(line.length >= 2, `no wrapped p2v.* line on the finished screen:\n${frame(screen)}`);
    assert.doesNotMatch(screen, /v more/, `the line does not fit at 80x24:\n${frame(screen)}`);
    const repeat = line.join("\n");
    const { overrides, warnings } = overridesFromCmdline(repeat);
    assert.deepEqual(warnings, []);
    assert.deepEqual(overrides, {
      server: "127.0.0.1",
      port: sshd.port,
      hostKeys: [sshd.hostKeyFingerprint],
      username: TEST_USER,
      identityUrl: `file://${sshd.userKeyPath}`,
      guestname: "dialog1",
      disks: [diskA],
      outputType: "qemu",
      outputStorage: out,
    });

    await tmux.keys("Enter");
    assert.equal(await tmux.exitStatus(), 0);

    // Booted with that line, the next machine converts unattended.
    await Deno.remove(join(out, "dialog1-sda"));
    const again = await runP2v(p2vArgs(repeat));
    assert.equal(again.code, 0, `exit ${again.code}\n${again.stdout}\n${again.stderr}`);
    assert.equal(await sha256File(join(out, "dialog1-sda")), sumA);
  } finally {
    await tmux.kill();
    await sshd.stop();
  }
});

Deno.test("dialog: shell and back, cancel mid-copy, nothing left on the server, power off", async () => {
  const { sshd, out } = await startServer({ hang: true });
  const marker = join(work, "poweroff-ran");
  const tmux = await TmuxSession.start({
    argv: dialogProgram(
      `p2v.port=${sshd.port} p2v.username=${TEST_USER} p2v.identity=file://${sshd.userKeyPath} ` +
        `p2v.disks=${diskA} p2v.name=dialog2 p2v.os=${out}`,
      ["--iso"],
    ),
    cwd: REPO,
    env: {
      TERM: "vt100",
      NO_COLOR: "1",
      SHELL: "/bin/sh",
      VIRT_P2V_POWEROFF_COMMAND: `touch ${marker}`,
      VIRT_P2V_REBOOT_COMMAND: `touch ${marker}-reboot`,
      VIRT_P2V_TIMEOUTS: '{"connectMs":15000,"cancelGraceMs":10000}',
    },
  });
  try {
    // Pre-filled from the command line.
    let screen = await tmux.waitFor(/^>Conversion server\s+\[/m);
    assert.match(screen, new RegExp(`SSH port\\s+\\[${sshd.port}\\s*\\]`));
    assert.match(screen, /User name\s+\[p2vtest\s*\]/);

    // Shell: the terminal goes to a shell and comes back in raw mode.
    await tmux.focus(/\[>Shell<\]/);
    await tmux.keys("Enter");
    await tmux.waitFor('Type "exit" to return');
    await tmux.type("echo shell-$((6*7))");
    await tmux.keys("Enter");
    await tmux.waitFor(/^shell-42$/m);
    await tmux.type("exit");
    await tmux.keys("Enter");
    await tmux.waitFor(/\[>Shell<\]/);

    await connectToSettings(tmux);
    await tmux.focus(/\[>Start conversion<\]/);
    await tmux.keys("Enter");
    await tmux.waitFor("Conversion summary");
    await tmux.keys("Enter");

    // Cancel while the disk is being copied.
    await tmux.waitFor("Conversion running");
    const deadline = Date.now() + 60_000;
    let pct: number | undefined;
    while (Date.now() < deadline) {
      screen = await tmux.capture();
      pct = percentOf(screen, "a.img");
      if (pct !== undefined && pct >= 5) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(pct !== undefined && pct >= 5 && pct < 100, `not mid-copy:\n${frame(screen)}`);
    assert.match(screen, /\[>Cancel conversion<\]/);
    await tmux.keys("Enter");
    screen = await tmux.waitFor("Really cancel the conversion?");
    assert.match(screen, /\[>No, continue<\]/, "the safe answer is the default");
    await tmux.keys("Left", "Enter");
    screen = await tmux.waitFor("The conversion was cancelled.", 30_000);
    assert.match(screen, /virt-v2v-conversion-log\.txt/);
    await waitFor(
      async () => (await leftoverProcesses(sshd)) === "",
      15_000,
      "remote processes to end",
    );

    // --iso: Power off is offered; here it runs the injected command.
    assert.match(screen, /\[ Power off \]\s+\[ Reboot \]\s+\[>Exit<\]/);
    await tmux.focus(/\[>Power off<\]/, "BTab");
    await tmux.keys("Enter");
    assert.equal(await tmux.exitStatus(), 1, "a cancelled conversion exits 1");
    await Deno.stat(marker);
    await assert.rejects(Deno.stat(`${marker}-reboot`));
  } finally {
    await tmux.kill();
    await sshd.stop();
  }
});

Deno.test("dialog: a failed conversion names virt-v2v's error at 80x24, the log scrolls", async () => {
  const { sshd, out } = await startServer({ exitCode: 3 });
  const tmux = await TmuxSession.start({
    argv: dialogProgram(
      `p2v.port=${sshd.port} p2v.username=${TEST_USER} p2v.identity=file://${sshd.userKeyPath} ` +
        `p2v.disks=${diskB} p2v.name=dialog3 p2v.os=${out}`,
    ),
    cwd: REPO,
    env: { TERM: "linux", VIRT_P2V_TIMEOUTS: '{"connectMs":15000}' },
  });
  try {
    await tmux.waitFor(/^>Conversion server\s+\[/m);
    await connectToSettings(tmux);
    await tmux.focus(/\[>Start conversion<\]/);
    await tmux.keys("Enter");
    await tmux.waitFor("Conversion summary");
    await tmux.keys("Enter");

    let screen = await tmux.waitFor("The conversion FAILED.", 90_000);
    // The cause, not only the status, without scrolling anything.
    assert.match(
      screen.replace(/\s+/g, " "),
      /virt-v2v exited with status 3: stub conversion failure requested; the full log is/,
      frame(screen),
    );
    screen = await tmux.waitFor(/Last lines of the log \(PgUp: scroll up\)/);
    assert.doesNotMatch(screen, /\*\*\* virt-v2v command failed \*\*\*/, frame(screen));
    // The wrapper's banner is further up the log: PgUp brings it into the pane.
    for (let i = 0; i < 12 && !/\*\*\* virt-v2v command failed/.test(screen); i++) {
      await tmux.keys("PageUp");
      screen = await tmux.waitFor(/Last lines of the log \(up \d+/);
    }
    assert.match(screen, /\*\*\* virt-v2v command failed \*\*\*/, frame(screen));
    await tmux.keys("End");
    await tmux.waitFor(/Last lines of the log \(PgUp: scroll up\)/);

    await tmux.focus(/\[>Exit<\]/);
    await tmux.keys("Enter");
    assert.equal(await tmux.exitStatus(), 1, "a failed conversion exits 1");
  } finally {
    await tmux.kill();
    await sshd.stop();
  }
});

addEventListener("unload", () => {
  Deno.removeSync(work, { recursive: true });
});
