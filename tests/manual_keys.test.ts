/**
 * The manual (docs/virt-p2v.1) must not drift from the program: every key
 * the kernel command line parser knows is documented there with its alias
 * and its default, and every key the manual documents is one the parser
 * knows. The same for the options, the environment variables the program
 * reads and the files it puts on the conversion server. The lists come from
 * the program's own tables (and, for the environment, its source), never
 * from a copy kept here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { longOptionList, shortOptionList, usageText } from "../src/config/cli.ts";
import { KERNEL_KEYS, overridesFromCmdline } from "../src/config/kernel_keys.ts";
import * as remoteDir from "../src/remote/remote_dir.ts";
import { buildRemoteFiles } from "../src/remote/upload_files.ts";
import { DIAGNOSTIC_COMMANDS } from "../src/collect/diagnostics.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MANUAL_PATH = join(ROOT, "docs", "virt-p2v.1");
const MANUAL = await Deno.readTextFile(MANUAL_PATH);

/** Plain text of a troff line: font changes, `\-`, `\&` and quotes removed. */
function plain(line: string): string {
  return line
    .replace(/\\f[BIRP]/g, "")
    .replace(/\\f\[[A-Z]*\]/g, "")
    .replace(/\\-/g, "-")
    .replace(/\\&/g, "")
    .replace(/\\\(../g, "")
    .replace(/^\.(B|I|BR|IR|RB|IB|BI|RI)\s+/, "")
    .replace(/"/g, "");
}

/** The lines of one `.SH` section, without the heading. */
function section(name: string): string[] {
  const lines = MANUAL.split("\n");
  const start = lines.indexOf(`.SH ${name}`);
  assert.notEqual(start, -1, `the manual has no section ${name}`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith(".SH "));
  return end < 0 ? rest : rest.slice(0, end);
}

interface Item {
  /** The tag lines (after `.TP` and each `.TQ`), as plain text. */
  tags: string[];
  /** The paragraph under them, as plain text. */
  body: string;
}

/** The `.TP` items of a section. */
function items(lines: string[]): Item[] {
  const out: Item[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== ".TP") continue;
    const tags = [plain(lines[++i])];
    while (lines[i + 1] === ".TQ") {
      i += 2;
      tags.push(plain(lines[i]));
    }
    const body: string[] = [];
    while (i + 1 < lines.length && !/^\.(TP|PP|SS|SH|IP)\b/.test(lines[i + 1])) {
      body.push(plain(lines[++i]));
    }
    out.push({ tags, body: body.join(" ") });
  }
  return out;
}

const KEY = /p2v\.[a-z_]+(?:\.[a-z_]+)*/g;

const keyItems = items(section("KERNEL COMMAND LINE KEYS"))
  .filter((item) => item.tags.some((t) => t.startsWith("p2v.")));

/** Every key named in a tag, with the tag it is in. */
const documented = new Map<string, string>();
for (const item of keyItems) {
  for (const tag of item.tags) {
    for (const key of tag.match(KEY) ?? []) documented.set(key, tag);
  }
}

Deno.test("manual: every key of the parser is documented, with its alias beside it", () => {
  assert.ok(KERNEL_KEYS.length >= 30, `only ${KERNEL_KEYS.length} keys in the parser's table`);
  for (const spec of KERNEL_KEYS) {
    const tag = documented.get(spec.key);
    assert.ok(tag !== undefined, `${spec.key} is not documented in docs/virt-p2v.1`);
    if (spec.alias !== undefined) {
      assert.ok(
        (tag.match(KEY) ?? [] as string[]).includes(spec.alias),
        `${spec.key}: its alias ${spec.alias} is not in its heading (${tag})`,
      );
    }
  }
});

Deno.test("manual: every key it documents is known to the parser", () => {
  const known = new Set(KERNEL_KEYS.flatMap((s) => s.alias ? [s.key, s.alias] : [s.key]));
  assert.ok(documented.size >= known.size, `only ${documented.size} keys documented`);
  for (const [key, tag] of documented) {
    assert.ok(
      known.has(key),
      `the manual documents ${key} (${tag}), which the parser does not know`,
    );
  }
});

Deno.test("manual: every key's entry gives its default", () => {
  for (const item of keyItems) {
    assert.match(item.body, /Default/, `no default for ${item.tags.join(", ")}`);
  }
});

Deno.test("manual: the key lines of its examples parse without a warning", () => {
  const lines = MANUAL.split("\n");
  const examples: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== ".EX") continue;
    while (lines[++i] !== ".EE") {
      const text = plain(lines[i]);
      if (!text.includes("p2v.")) continue;
      // A program command line gives its keys in --cmdline="…".
      const cmdline = /--cmdline=(.*)$/.exec(text)?.[1] ?? text;
      examples.push(cmdline.replace(/^\s*(APPEND|kernel)\s+/, ""));
    }
  }
  assert.ok(examples.length >= 5, examples.join("\n"));
  assert.ok(examples.some((e) => /\bp2v\.disks=sda\b/.test(e)), examples.join("\n"));
  for (const example of examples) {
    const { warnings } = overridesFromCmdline(example);
    assert.deepEqual(warnings, [], example);
  }
});

Deno.test("manual: every option of the program is documented", () => {
  const text = section("OPTIONS").map(plain).join("\n");
  for (const option of [...longOptionList(), ...shortOptionList()]) {
    assert.ok(text.includes(option), `${option} is not in the manual's OPTIONS`);
  }
});

/** Names of the environment variables the program's source reads. */
async function environmentRead(): Promise<Set<string>> {
  const names = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) {
        const source = await Deno.readTextFile(path);
        for (const m of source.matchAll(/\benv(?:\.get)?\(\s*"([A-Z_][A-Z0-9_]*)"\s*\)/g)) {
          names.add(m[1]);
        }
      }
    }
  };
  await walk(join(ROOT, "src"));
  return names;
}

Deno.test("manual: every environment variable the program reads is documented", async () => {
  const read = await environmentRead();
  for (const expected of ["NO_COLOR", "VIRT_P2V_TIMEOUTS", "PATH"]) {
    assert.ok(read.has(expected), `the source scan missed ${expected}: ${[...read].join(" ")}`);
  }
  const tags = items(section("ENVIRONMENT")).flatMap((i) => i.tags);
  for (const name of read) {
    assert.ok(tags.includes(name), `${name} is read by the program but not in ENVIRONMENT`);
  }
});

Deno.test("manual: every file put on the conversion server is documented", () => {
  const uploaded = buildRemoteFiles({
    guestname: "g",
    physicalXml: "<domain/>",
    wrapperScript: "#!/bin/bash\n",
    jobScript: "#!/bin/bash\n",
    diagnostics: Object.fromEntries(DIAGNOSTIC_COMMANDS.map(([name]) => [name, "x"])),
    secrets: [],
  }).map((f) => f.name);
  const made = (Object.values(remoteDir) as unknown[]).filter((v): v is string =>
    typeof v === "string"
  );
  const socket = remoteDir.diskSocketPath("/d", 0).slice("/d/".length).replace("0", "N");
  const text = section("FILES").map(plain).join("\n");
  for (const name of [...uploaded, ...made, socket]) {
    assert.match(text, new RegExp(`(^|[ ,])${name.replace(/\./g, "\\.")}($|[ ,])`, "m"), name);
  }
});

Deno.test("manual: --help points to it, and it is where --help says", async () => {
  const help = usageText();
  assert.match(help, /\bman virt-p2v\b/);
  assert.match(help, /\bman \.\/docs\/virt-p2v\.1\b/);
  assert.match(help, /Examples:/);
  assert.ok((await Deno.stat(MANUAL_PATH)).isFile);
  assert.match(MANUAL, /^\.TH VIRT-P2V 1 /m);
  assert.match(section("SEE ALSO").join("\n"), /virt\\-v2v \(1\)/);
});

Deno.test("manual: it is valid man(7) for groff, without warnings", async () => {
  let groff: Deno.CommandOutput;
  try {
    groff = await new Deno.Command("groff", {
      args: ["-man", "-ww", "-z", MANUAL_PATH],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return; // no groff here: the other tests still ran
    throw err;
  }
  const stderr = new TextDecoder().decode(groff.stderr);
  assert.equal(groff.code, 0, stderr);
  assert.equal(stderr, "");
});
