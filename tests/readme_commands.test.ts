/**
 * The README must not drift from the program: every command line in it that
 * runs the program is run here. Lines with options only run as written;
 * conversion lines run against the test sshd, with the example server,
 * user, key and paths swapped for the test's; the kernel command lines of
 * the PXE examples must parse.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeDenseImage, MiB } from "./helpers/images.ts";
import { run, sha256File } from "./helpers/process.ts";
import { leftoverProcesses, startSshd, TEST_USER } from "./helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "./helpers/stub_server.ts";
import { tempDir } from "./helpers/cleanup.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const README = await Deno.readTextFile(join(ROOT, "README.md"));

interface Block {
  lang: string;
  lines: string[];
}

function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let current: Block | undefined;
  for (const line of markdown.split("\n")) {
    const fence = /^```(\S*)/.exec(line);
    if (fence && !current) current = { lang: fence[1], lines: [] };
    else if (fence && current) {
      blocks.push(current);
      current = undefined;
    } else if (current) current.lines.push(line);
  }
  return blocks;
}

/** Shell lines with their `\` continuations joined, comments dropped. */
function shellLines(block: Block): string[] {
  const out: string[] = [];
  let pending = "";
  for (const raw of block.lines) {
    const line = pending + raw;
    if (line.endsWith("\\")) {
      pending = line.slice(0, -1);
      continue;
    }
    pending = "";
    const text = line.replace(/\s+#.*$/, "").trim();
    if (text !== "" && !text.startsWith("#")) out.push(text);
  }
  return out;
}

/**
 * The parts of `a && b && c` that run the program itself, with at least one
 * option (a bare run is the dialog): `deno task start`, the bundle, or the
 * single file (`./virt-p2v` on a live system is `./dist/virt-p2v` here).
 */
const PROGRAM_RUN = /^(deno task start\b|deno run .*dist\/virt-p2v\.js\b|\.\/(dist\/)?virt-p2v\s)/;
const programCommands = codeBlocks(README)
  .filter((b) => b.lang === "sh")
  .flatMap(shellLines)
  .flatMap((l) => l.split("&&").map((p) => p.trim()))
  .filter((p) => PROGRAM_RUN.test(p) && /\s-/.test(p))
  .map((p) => p.replace(/^\.\/virt-p2v\b/, "./dist/virt-p2v"));
const kernelLines = codeBlocks(README)
  .filter((b) => b.lang === "")
  .flatMap((b) => b.lines)
  .filter((l) => /\bp2v\.server=/.test(l))
  .map((l) => l.replace(/^\s*(APPEND|kernel)\s+/, "").replace(/^\S+\s+(?=initrd=)/, "").trim());

Deno.test("README: it shows the program run with options, a conversion, and boot keys", () => {
  assert.ok(programCommands.some((c) => c.includes("--help")), programCommands.join("\n"));
  assert.ok(programCommands.some((c) => c.includes("p2v.server=")), programCommands.join("\n"));
  assert.ok(
    programCommands.some((c) => c.includes("dist/virt-p2v.js")),
    programCommands.join("\n"),
  );
  assert.ok(
    programCommands.some((c) => c.startsWith("./dist/virt-p2v ") && c.includes("p2v.server=")),
    programCommands.join("\n"),
  );
  assert.ok(kernelLines.length >= 2, kernelLines.join("\n"));
});

/** Builds what the README's lines run: the bundle, and the single file if any line runs it. */
async function buildWhatRuns(): Promise<void> {
  if (programCommands.some((c) => c.startsWith("./dist/virt-p2v "))) {
    await run("./build.sh", [], { cwd: ROOT });
  } else if (programCommands.some((c) => c.includes("dist/virt-p2v.js"))) {
    await run("./build.sh", ["bundle"], { cwd: ROOT });
  }
}

Deno.test("README: every options-only command line runs and exits 0", async () => {
  await buildWhatRuns();
  for (const command of programCommands.filter((c) => !c.includes("p2v.server="))) {
    const r = await run("bash", ["-c", command], { cwd: ROOT, check: false });
    assert.equal(r.code, 0, `${command}\n${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stderr, /error/i, command);
    assert.match(r.stdout, /virt-p2v/, command);
  }
});

Deno.test("README: every conversion command line converts, against the test sshd", async () => {
  await buildWhatRuns();
  const sshd = await startSshd();
  const work = await tempDir({ prefix: "p2v-readme." });
  try {
    await installStubVirtV2v(sshd);
    const out = await makeOutputDir(sshd);
    const disk = await makeDenseImage(work, "disk.img", 4 * MiB);
    const conversions = programCommands.filter((c) => c.includes("p2v.server="));
    for (const [i, command] of conversions.entries()) {
      const name = `readme${i}`;
      const adapted = command
        .replace(/p2v\.server=\S+/, `p2v.server=127.0.0.1 p2v.port=${sshd.port}`)
        .replace(/p2v\.username=\S+/, `p2v.username=${TEST_USER}`)
        .replace(/p2v\.identity=\S+/, `p2v.identity=file://${sshd.userKeyPath}`)
        .replace(/p2v\.os=\S+/, `p2v.os=${out} p2v.disks=${disk} p2v.name=${name}`);
      assert.notEqual(adapted, command);
      const r = await run("bash", ["-c", adapted], { cwd: ROOT, check: false });
      assert.equal(r.code, 0, `${adapted}\n${r.stdout}${r.stderr}`);
      assert.equal(await sha256File(join(out, `${name}-sda`)), await sha256File(disk));
    }
    assert.equal(await leftoverProcesses(sshd), "");
  } finally {
    await sshd.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("README: the kernel command lines of the boot examples parse", async () => {
  for (const line of kernelLines) {
    const r = await run(
      "deno",
      ["task", "start", "--", `--cmdline=${line} p2v.dump_config_and_exit`],
      { cwd: ROOT, check: false },
    );
    assert.equal(r.code, 0, `${line}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /warning|error/, line);
    assert.match(r.stdout, /^remote\.server +conv\.example\.com$/m, line);
  }
});
