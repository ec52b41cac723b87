import assert from "node:assert/strict";
import type { Config, OutputAllocation } from "../src/config/types.ts";
import { controlCommand } from "../src/remote/remote_commands.ts";
import { CONVERSION_LOG, WRAPPER_SCRIPT } from "../src/remote/remote_dir.ts";
import { buildWrapperScript, virtV2vArguments } from "../src/remote/wrapper_script.ts";
import { tempDir } from "./helpers/cleanup.ts";

// --- fixtures ---------------------------------------------------------------

function makeConfig(patch: Partial<Config> = {}): Config {
  return {
    remote: { server: "conv.example.com", port: 22, hostKeys: [] },
    auth: { username: "root", sudo: false },
    guestname: "physbox",
    vcpu: { physTopo: false, cores: 2 },
    memory: 2 * 1024 ** 3,
    cpu: { acpi: true, apic: true, pae: true },
    rtc: { basis: "utc", offset: 0 },
    disks: ["sda"],
    removable: [],
    interfaces: [],
    networkMap: [],
    output: { type: "local", storage: "/var/tmp", misc: [] },
    skipTestConnection: false,
    dumpConfigAndExit: false,
    nbd: ["builtin"],
    reconnectSeconds: 600,
    channels: 0,
    bandwidthMbit: 0,
    compress: true,
    stage: { step: "none", dir: undefined, keep: false },
    ...patch,
  };
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

const STUB_VIRT_V2V = `#!/bin/bash
rec="$STUB_RECORD_DIR"
if [ "$#" -eq 1 ] && [ "$1" = "--version" ]; then
    echo "virt-v2v 2.2.0"
    exit 0
fi
: > "$rec/argv"
for a in "$@"; do printf '%s\\0' "$a" >> "$rec/argv"; done
cat status > "$rec/status-at-start"
readlink /proc/self/fd/0 > "$rec/stdin"
pwd > "$rec/cwd"
echo "stdout line 1"
echo "stderr line 1" >&2
echo "stdout line 2"
echo "stderr line 2" >&2
for ((i = 1; i <= \${STUB_NOISE:-0}; i++)); do echo "noise $i" >&2; done
exit "\${STUB_EXIT:-0}"
`;

const STUB_SUDO = `#!/bin/bash
printf '%s %s\\n' "$1" "$2" >> "$STUB_RECORD_DIR/sudo"
if [ "$1" != "-n" ]; then echo "stub sudo: expected -n" >&2; exit 1; fi
shift
exec "$@"
`;

interface Sandbox {
  root: string;
  bin: string;
  remoteDir: string;
  records: string;
  absCanary: string;
}

async function makeSandbox(): Promise<Sandbox> {
  const root = await tempDir({ prefix: "p2v-wrapper-" });
  const sb: Sandbox = {
    root,
    bin: `${root}/bin`,
    remoteDir: `${root}/virt-p2v-20240101-abcd1234`,
    records: `${root}/records`,
    absCanary: `${root}/ABS_CANARY`,
  };
  for (const d of [sb.bin, sb.remoteDir, sb.records]) await Deno.mkdir(d);
  await Deno.writeTextFile(`${sb.bin}/virt-v2v`, STUB_VIRT_V2V, { mode: 0o755 });
  await Deno.writeTextFile(`${sb.bin}/sudo`, STUB_SUDO, { mode: 0o755 });
  return sb;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Values aimed at every way a shell word could be broken out of. */
function hostileOutput(sb: Sandbox): Config["output"] {
  const abs = sb.absCanary;
  return {
    type: `$(touch CANARY)$(touch ${abs})`,
    allocation: "`touch CANARY``touch " + abs + "`" as OutputAllocation,
    format: `"; touch CANARY; touch ${abs}; "`,
    storage: `/var/tmp/it's a dir\\with\\back slashes\\`,
    connection: `qemu+ssh://root@host/system?x=$HOME&y=!!\n touch CANARY\n$(touch ${abs})\n`,
    misc: [
      "a=$(touch CANARY)",
      "b=`touch CANARY`",
      `c="; touch CANARY; touch ${abs}; "`,
      "d='",
      "e='; touch CANARY; '",
      "f=\\",
      "g=trailing\\",
      "h=line1\nline2\n",
      "i=$HOME ${HOME} $((1+1)) $1 $@ $$",
      "j=!! !$ !-1 !touch",
      "k=  spaces  and\ttabs ",
      // Breaks plain double quoting under Big5: the last byte of 中 plus the
      // escaping backslash read as one character.
      'l=中"; touch CANARY; echo 中"',
      "m=café € 😀 \x1b[31m",
      "n=* ? [a] ~ {x,y}",
      "-oo",
      "",
    ],
  };
}

function expectedArgv(output: Config["output"], colours: boolean): string[] {
  return [
    "-v",
    "-x",
    ...(colours ? ["--colours"] : []),
    "-i",
    "libvirtxml",
    "-o",
    output.type,
    "-oa",
    output.allocation ?? "",
    "-of",
    output.format ?? "",
    "-os",
    output.storage,
    ...output.misc.filter((m) => m !== "").flatMap((m) => ["-oo", m]),
    "-oc",
    output.connection ?? "",
    "--root",
    "first",
    "physical.xml",
  ];
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Upload the script into the sandbox's remote dir and run the control command with bash. */
async function runWrapper(
  sb: Sandbox,
  config: Config,
  opts: { colours: boolean; exit: number; noise?: number; env?: Record<string, string> },
): Promise<RunResult> {
  const script = buildWrapperScript(config, sb.remoteDir, { colours: opts.colours });
  await Deno.writeTextFile(`${sb.remoteDir}/${WRAPPER_SCRIPT}`, script, { mode: 0o755 });
  // A log from an earlier run must be removed, not appended to.
  await Deno.writeTextFile(`${sb.remoteDir}/${CONVERSION_LOG}`, "OLD LOG CONTENT\n");
  const out = await new Deno.Command("bash", {
    args: ["-c", controlCommand(sb.remoteDir)],
    cwd: sb.root,
    env: {
      PATH: `${sb.bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      HOME: "/home/nobody-here",
      STUB_RECORD_DIR: sb.records,
      STUB_EXIT: String(opts.exit),
      STUB_NOISE: String(opts.noise ?? 0),
      ...opts.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

async function assertNoCanary(sb: Sandbox): Promise<void> {
  for (const p of [sb.absCanary, `${sb.remoteDir}/CANARY`, `${sb.root}/CANARY`]) {
    assert.equal(await exists(p), false, `${p} was created: a value was executed`);
  }
}

/** The argv the stub virt-v2v saw, byte for byte, against the expected strings. */
async function assertArgv(sb: Sandbox, expected: string[]): Promise<void> {
  const raw = await Deno.readFile(`${sb.records}/argv`);
  const want = encoder.encode(expected.map((a) => a + "\0").join(""));
  assert.deepEqual(raw, want);
  // The same, readable on failure.
  assert.deepEqual(decoder.decode(raw).split("\0").slice(0, -1), expected);
}

// --- running the script for real -----------------------------------------------

Deno.test("wrapper: success run with hostile values, no sudo, --colours", async () => {
  const sb = await makeSandbox();
  try {
    const output = hostileOutput(sb);
    const config = makeConfig({ output });
    const r = await runWrapper(sb, config, { colours: true, exit: 0 });

    assert.equal(r.code, 0, r.stderr);
    await assertNoCanary(sb);
    await assertArgv(sb, expectedArgv(output, true));

    const dir = sb.remoteDir;
    assert.equal(await Deno.readTextFile(`${dir}/status`), "0\n");
    assert.equal((await Deno.readTextFile(`${sb.records}/status-at-start`)).trim(), "99");
    assert.equal((await Deno.readTextFile(`${sb.records}/stdin`)).trim(), "/dev/null");
    assert.equal((await Deno.readTextFile(`${sb.records}/cwd`)).trim(), await Deno.realPath(dir));

    assert.equal(r.stdout, "stdout line 1\nstdout line 2\n");
    assert.equal(r.stderr, "");

    const log = await Deno.readTextFile(`${dir}/${CONVERSION_LOG}`);
    for (const line of ["stdout line 1", "stdout line 2", "stderr line 1", "stderr line 2"]) {
      assert.ok(log.includes(line + "\n"), `log lacks ${line}`);
    }
    assert.ok(!log.includes("OLD LOG CONTENT"));

    assert.equal(await Deno.readTextFile(`${dir}/v2v-version`), "virt-v2v 2.2.0\n");
    const env = await Deno.readTextFile(`${dir}/environment`);
    assert.ok(env.includes(`STUB_RECORD_DIR=${sb.records}\n`));
    assert.equal(await exists(`${sb.records}/sudo`), false, "sudo used without auth.sudo");
  } finally {
    await Deno.remove(sb.root, { recursive: true });
  }
});

Deno.test("wrapper: failure run through sudo -n: status, banner, log path, last 50 lines", async () => {
  const sb = await makeSandbox();
  try {
    const output = hostileOutput(sb);
    const config = makeConfig({ output, auth: { sudo: true } });
    const r = await runWrapper(sb, config, { colours: false, exit: 3, noise: 70 });

    assert.equal(r.code, 3, r.stderr);
    await assertNoCanary(sb);
    await assertArgv(sb, expectedArgv(output, false));
    assert.equal(await Deno.readTextFile(`${sb.remoteDir}/status`), "3\n");

    // Both virt-v2v calls went through `sudo -n`.
    assert.deepEqual((await Deno.readTextFile(`${sb.records}/sudo`)).split("\n"), [
      "-n virt-v2v",
      "-n virt-v2v",
      "",
    ]);
    assert.equal(await Deno.readTextFile(`${sb.remoteDir}/v2v-version`), "virt-v2v 2.2.0\n");
    assert.ok(await exists(`${sb.remoteDir}/environment`));

    const out = r.stdout;
    assert.ok(out.startsWith("stdout line 1\nstdout line 2\n"));
    assert.ok(out.includes("\x1b[1;31m"), "no red");
    assert.ok(out.includes("*** virt-v2v command failed ***"));
    assert.ok(out.includes(`${sb.remoteDir}/${CONVERSION_LOG}\n`), "no log path");
    assert.ok(out.includes("\x1b[0m"), "colour not reset");

    // After the banner: exactly the last 50 lines of the log.
    const log = await Deno.readTextFile(`${sb.remoteDir}/${CONVERSION_LOG}`);
    const logLines = log.split("\n").slice(0, -1);
    assert.equal(logLines.length, 2 + 2 + 70);
    const tail = out.slice(out.indexOf("\x1b[0m") + "\x1b[0m".length).replace(/^\n\n\n/, "");
    assert.equal(tail, logLines.slice(-50).join("\n") + "\n");
    assert.ok(tail.includes("noise 70\n"));
    assert.ok(!out.includes("noise 1\n"));
  } finally {
    await Deno.remove(sb.root, { recursive: true });
  }
});

Deno.test("wrapper: the status is virt-v2v's, not tee's, for several exit codes", async () => {
  const sb = await makeSandbox();
  try {
    for (const exit of [0, 1, 3, 42, 255]) {
      const r = await runWrapper(sb, makeConfig(), { colours: false, exit });
      assert.equal(r.code, exit);
      assert.equal(await Deno.readTextFile(`${sb.remoteDir}/status`), `${exit}\n`);
      assert.equal(r.stdout.includes("virt-v2v command failed"), exit !== 0);
    }
    await assertArgv(sb, [
      "-v",
      "-x",
      "-i",
      "libvirtxml",
      "-o",
      "local",
      "-os",
      "/var/tmp",
      "--root",
      "first",
      "physical.xml",
    ]);
  } finally {
    await Deno.remove(sb.root, { recursive: true });
  }
});

/** Compile a Big5 locale into `dir`, or return false when the tools are missing. */
async function makeBig5Locale(dir: string): Promise<boolean> {
  try {
    const r = await new Deno.Command("localedef", {
      args: ["-f", "BIG5", "-i", "zh_TW", `${dir}/zh_TW.BIG5`],
      stdout: "null",
      stderr: "null",
    }).output();
    return r.code === 0 && await exists(`${dir}/zh_TW.BIG5`);
  } catch {
    return false;
  }
}

Deno.test("wrapper: hostile values stay inert when the server's bash uses a Big5 locale", async (t) => {
  const sb = await makeSandbox();
  try {
    const locales = `${sb.root}/locales`;
    await Deno.mkdir(locales);
    // setup.sh installs `locales` (localedef and the charmaps).
    assert.ok(
      await makeBig5Locale(locales),
      "localedef or the Big5 charmap is missing: run ./setup.sh",
    );
    await t.step("run", async () => {
      const output = hostileOutput(sb);
      const r = await runWrapper(sb, makeConfig({ output }), {
        colours: true,
        exit: 0,
        env: { LOCPATH: locales, LC_ALL: "zh_TW.BIG5" },
      });
      assert.equal(r.code, 0, r.stderr);
      await assertNoCanary(sb);
      await assertArgv(sb, expectedArgv(output, true));
    });
  } finally {
    await Deno.remove(sb.root, { recursive: true });
  }
});

// --- the script text ---------------------------------------------------------------

Deno.test("wrapper text: layout and options in order", () => {
  const script = buildWrapperScript(
    makeConfig({
      output: {
        type: "libvirt",
        allocation: "preallocated",
        format: "qcow2",
        storage: "default",
        connection: "qemu:///system",
        misc: ["a=1", "b=2"],
      },
    }),
    "/tmp/virt-p2v-20240101-abcd1234",
    { colours: true },
  );
  assert.ok(script.startsWith("#!/bin/bash -\n"));
  assert.ok(script.includes("\ncd /tmp/virt-p2v-20240101-abcd1234 || exit 1\n"));
  assert.ok(script.includes("\nvirt-v2v --version > v2v-version\n"));
  assert.ok(script.includes("\nprintenv > environment\n"));
  assert.ok(
    script.includes(
      '\nvirt-v2v -v -x --colours -i libvirtxml -o "libvirt" -oa "preallocated" -of "qcow2"' +
        ' -os "default" -oo "a=1" -oo "b=2" -oc "qemu:///system" --root first physical.xml' +
        ' </dev/null 2>>"$log" | tee -a "$log"\n',
    ),
  );
  assert.ok(!script.includes("sudo"));
  // 99 is written before anything else can fail, and the log is removed after.
  const i99 = script.indexOf("echo 99 > status");
  const iRm = script.indexOf('rm -f "$log"');
  const iEnv = script.indexOf("printenv > environment");
  const iVer = script.indexOf("--version > v2v-version");
  const iRun = script.indexOf("virt-v2v -v -x");
  assert.ok(0 < i99 && i99 < iRm && iRm < iEnv && iEnv < iVer && iVer < iRun);
  assert.ok(script.includes("tail -n 50"));
  assert.ok(script.includes("/tmp/virt-p2v-20240101-abcd1234/virt-v2v-conversion-log.txt"));
});

Deno.test("wrapper text: sudo -n prefixes both virt-v2v calls", () => {
  const script = buildWrapperScript(makeConfig({ auth: { sudo: true } }), "/tmp/d", {
    colours: false,
  });
  assert.ok(script.includes("\nsudo -n virt-v2v --version > v2v-version\n"));
  assert.ok(script.includes("\nsudo -n virt-v2v -v -x -i libvirtxml "));
  assert.ok(!script.includes("--colours"));
});

Deno.test("wrapper text: unset and empty options are left out", () => {
  const args = virtV2vArguments(
    makeConfig({ output: { type: "", storage: "", misc: ["", "x=y", ""], format: "" } }),
    { colours: false },
  );
  assert.deepEqual(args, [
    "-v",
    "-x",
    "-i",
    "libvirtxml",
    "-oo",
    '"x=y"',
    "--root",
    "first",
    "physical.xml",
  ]);
});

Deno.test("wrapper text: a NUL byte in a value is refused", () => {
  assert.throws(
    () =>
      buildWrapperScript(
        makeConfig({ output: { type: "local", storage: "/var\0/tmp", misc: [] } }),
        "/tmp/d",
        { colours: false },
      ),
    /NUL byte/,
  );
});

Deno.test("controlCommand: runs the wrapper in bash, then exits with its status", () => {
  assert.equal(
    controlCommand("/tmp/virt-p2v-20240101-abcd1234"),
    "LANG=C exec bash --noediting --noprofile --norc -c " +
      "'umask 077\n/tmp/virt-p2v-20240101-abcd1234/virt-v2v-wrapper.sh; " +
      "exit $(< /tmp/virt-p2v-20240101-abcd1234/status)'",
  );
  // A directory that needs quoting gets quoted.
  assert.equal(
    controlCommand("/tmp/a b"),
    "LANG=C exec bash --noediting --noprofile --norc -c " +
      `'umask 077\n"/tmp/a b"/virt-v2v-wrapper.sh; exit $(< "/tmp/a b"/status)'`,
  );
});
