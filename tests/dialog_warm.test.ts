/**
 * A warm conversion in the dialog, driven as a user would (tmux, 80×24,
 * real sshd, the stub virt-v2v reading the staged copy as virt-v2v reads a
 * file disk): the pre-copy chosen in the settings, then a cutover with its
 * keys pre-filled, which says when the machine can be switched off.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "./helpers/cleanup.ts";
import { makeDenseImage, MiB, rewriteExtents } from "./helpers/images.ts";
import { sha256File } from "./helpers/process.ts";
import { leftoverProcesses, startSshd, TEST_USER, type TestSshd } from "./helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir, makeStagingArea } from "./helpers/stub_server.ts";
import { frame, TmuxSession } from "./helpers/tmux.ts";
import { connectToSettings, dialogProgram, REPO } from "./helpers/dialog.ts";

const CHUNK = 256 * 1024;

function serverKeys(sshd: TestSshd, out: string): string {
  return `p2v.port=${sshd.port} p2v.username=${TEST_USER} ` +
    `p2v.identity=file://${sshd.userKeyPath} p2v.os=${out}`;
}

Deno.test("dialog: a pre-copy chosen in the settings, then a cutover that says when to switch off", async () => {
  const work = await tempDir({ prefix: "p2v-dialog-warm." });
  const size = 32 * MiB;
  const image = await makeDenseImage(work, "live.img", size);
  const sshd = await startSshd();
  try {
    // Slow enough that the running screen is seen after the sync is verified.
    await installStubVirtV2v(sshd, { input: "virt-v2v", rate: "48M" });
    const out = await makeOutputDir(sshd);
    const area = await makeStagingArea(sshd);
    const env = { TERM: "linux", VIRT_P2V_TIMEOUTS: '{"connectMs":15000}' };

    // 1. The pre-copy, chosen on the settings screen.
    let tmux = await TmuxSession.start({
      argv: dialogProgram(`${serverKeys(sshd, out)} p2v.disks=${image} p2v.name=warmdlg`),
      cwd: REPO,
      env,
    });
    try {
      await tmux.waitFor(/^>Conversion server\s+\[/m);
      await connectToSettings(tmux);
      let screen = await tmux.focus(/^>Step\s+</m);
      assert.match(screen, /Step\s+< one pass/);
      assert.match(screen, /Staging dir/);
      await tmux.keys("Right");
      await tmux.waitFor(/Step\s+< pre-copy \(from this running machine\)/);
      // No directory yet: Start names the field.
      await tmux.focus(/\[>Start conversion<\]/);
      await tmux.keys("Enter");
      screen = await tmux.waitFor("Name the staging area");
      await tmux.focus(/^>Staging dir/m, "BTab");
      await tmux.type("staging");
      await tmux.focus(/\[>Start conversion<\]/);
      await tmux.keys("Enter");
      await tmux.waitFor("An absolute path on the conversion server");
      await tmux.focus(/^>Staging dir/m, "BTab");
      await tmux.keys("C-u");
      await tmux.type(area);
      await tmux.focus(/\[>Start conversion<\]/);
      await tmux.keys("Enter");

      screen = await tmux.waitFor("Conversion summary");
      assert.match(screen, /Warm conversion/, frame(screen));
      assert.match(screen, /Step\s+pre-copy: the disks are read as they are/, frame(screen));
      await tmux.keys("Enter");
      screen = await tmux.waitFor("Pre-copy finished", 60_000);
      assert.match(screen, /Pre-copy done: 32\.0 MiB staged in/, frame(screen));
      assert.match(screen, /NOT consistent/, frame(screen));
      assert.match(screen, /p2v\.stage=precopy/, "the repeat line keeps the step");
    } finally {
      await tmux.kill();
    }
    const staged = join(area, "warmdlg", "disk-0.img");
    assert.equal(await sha256File(staged), await sha256File(image));

    // 2. The machine changes; the cutover, its keys given on the command line.
    await rewriteExtents(image, size, 2, { chunkBytes: CHUNK });
    tmux = await TmuxSession.start({
      argv: dialogProgram(
        `${serverKeys(sshd, out)} p2v.disks=${image} p2v.name=warmdlg ` +
          `p2v.stage=cutover p2v.stage.dir=${area}`,
      ),
      cwd: REPO,
      env,
    });
    try {
      await tmux.waitFor(/^>Conversion server\s+\[/m);
      await connectToSettings(tmux);
      let screen = await tmux.capture();
      await tmux.focus(/^>Step\s+</m);
      screen = await tmux.capture();
      assert.match(screen, /Step\s+< cutover \(send what changed, convert\)/, frame(screen));
      assert.ok(screen.includes(area), frame(screen));
      await tmux.focus(/\[>Start conversion<\]/);
      await tmux.keys("Enter");
      screen = await tmux.waitFor("Conversion summary");
      assert.match(screen, /Afterwards\s+the staged copy is removed/, frame(screen));
      await tmux.keys("Enter");
      screen = await tmux.waitFor("this machine can be switched off now", 60_000);
      assert.match(screen, /Conversion running/, frame(screen));
      screen = await tmux.waitFor("The conversion was successful.", 60_000);
    } finally {
      await tmux.kill();
    }
    assert.equal(await sha256File(join(out, "warmdlg-sda")), await sha256File(image));
    await assert.rejects(Deno.stat(join(area, "warmdlg")), Deno.errors.NotFound);
    assert.equal(await leftoverProcesses(sshd), "");
  } finally {
    await sshd.stop();
    await Deno.remove(work, { recursive: true });
  }
});
