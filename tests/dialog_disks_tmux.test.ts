/**
 * The disk list in a real terminal (tmux), on this machine's real disks: a
 * disk named on the command line that the machine does not have is "not
 * found" and the conversion does not start while it is ticked; the running
 * system's own disks are listed greyed, with the reason; once unticked, the
 * summary lists only the disk that will be converted.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findDisks } from "../src/collect/disks.ts";
import { tempDir } from "./helpers/cleanup.ts";
import { frame, TmuxSession } from "./helpers/tmux.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const REPO = fileURLToPath(new URL("..", import.meta.url));

Deno.test("dialog: a disk that is not here stops Start; the running system's disks are greyed; the summary lists the rest", async () => {
  const work = await tempDir({ prefix: "p2v-dd." });
  const image = join(work, "a.img");
  await Deno.writeFile(image, new Uint8Array(1024 * 1024));
  const tmux = await TmuxSession.start({
    argv: [
      Deno.execPath(),
      "run",
      "--allow-all",
      "--quiet",
      MAIN,
      `--cmdline=p2v.disks=sdzz9,${image} p2v.name=guest1 p2v.os=/var/tmp ` +
      "p2v.skip_test_connection=1",
    ],
    cwd: REPO,
    env: { TERM: "xterm", NO_COLOR: "1" },
    width: 120,
    height: 50,
  });
  try {
    await tmux.waitFor(/^>Conversion server\s+\[/m);
    await tmux.type("10.0.0.1");
    await tmux.focus(/\[>Next<\]/);
    await tmux.keys("Enter");
    let screen = await tmux.waitFor("Conversion settings");
    assert.match(screen, /\[x\] sdzz9\s+not found/, frame(screen));

    await tmux.focus(/\[>Start conversion<\]/);
    await tmux.keys("Enter");
    screen = await tmux.waitFor("Not on this machine: sdzz9.");
    assert.match(screen, /Conversion settings/, "still on the settings screen");
    assert.match(screen, /Untick it, or attach it and press Refresh disks\./);

    // What this machine runs from, as the program itself finds it.
    const { runningSystem } = await findDisks("/");
    for (const disk of runningSystem) {
      assert.match(
        screen,
        new RegExp(`\\[ \\] ${disk.name}\\s+\\S+ \\S+\\s+holds the running system`),
        frame(screen),
      );
    }
    if (runningSystem.length === 0) console.log("(the root filesystem here is on no disk)");

    // Unticking it takes the reason away; nothing else stands in the way.
    await tmux.focus(/>\[x\] sdzz9/);
    await tmux.keys("Space");
    screen = await tmux.waitFor(/>\[ \] sdzz9/);
    assert.doesNotMatch(screen, /Not on this machine/);

    // Start now leads to the summary: the image with its size, the untested server.
    await tmux.focus(/\[>Start conversion<\]/);
    await tmux.keys("Enter");
    screen = await tmux.waitFor("Conversion summary");
    assert.match(screen, /Server\s+root@10\.0\.0\.1:22\b/, frame(screen));
    assert.match(screen, /virt-v2v\s+not tested: the server is checked when the conversion starts/);
    assert.match(screen, /Name\s+guest1\b/);
    assert.match(screen, /-o\s+local\b/);
    assert.match(screen, /-os\s+\/var\/tmp\b/);
    assert.match(screen, /Fixed disks \(1 disk\)/);
    assert.ok(screen.includes(image), frame(screen));
    assert.match(screen.slice(screen.indexOf(image)), /^\S+\n\s+1\.0 MiB\b/, frame(screen));
    assert.doesNotMatch(screen, /sdzz9/, "the unticked disk is not in the summary");
    // Esc: back to the settings, as they were.
    await tmux.keys("Escape");
    screen = await tmux.waitFor("Conversion settings");
    assert.match(screen, /\[ \] sdzz9/);

    await tmux.keys("C-c");
    await tmux.waitFor("Quit virt-p2v without converting anything?");
    await tmux.keys("y");
    assert.equal(await tmux.exitStatus(), 1);
  } finally {
    await tmux.kill();
    await Deno.remove(work, { recursive: true });
  }
});
