/**
 * A hostile conversion server against the operator's terminal: the program
 * runs on a pseudo-terminal (as on the console of a booted machine), a real
 * sshd runs a virt-v2v that prints every escape sequence it can think of, and
 * the test reads the raw bytes that reached the terminal. Before
 * authentication, a fake SSH server disconnects with escapes in its reason.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { HOSTILE, terminalProblems } from "./helpers/hostile_text.ts";
import { startSshd, type TestSshd } from "./helpers/sshd.ts";
import { serverKeys } from "./helpers/server_keys.ts";
import { makeOutputDir } from "./helpers/stub_server.ts";
import { shQuote } from "./helpers/tmux.ts";
import { tempDir } from "./helpers/cleanup.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

const work = await tempDir({ prefix: "p2v-hostile." });
const disk = join(work, "disk.img");
await Deno.writeFile(disk, new Uint8Array(0));
await Deno.truncate(disk, 16 * 1024 * 1024);
addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));

const GREEN = "\x1b[1;32mgreen\x1b[0m";
const LAST_LINE = "end of the hostile output";

/** A virt-v2v that answers the test connection and "converts" by printing `output` and reading the disk. */
async function installHostileVirtV2v(
  sshd: TestSshd,
  files: { machineReadable?: string; output?: string },
): Promise<void> {
  const machineReadable = files.machineReadable ??
    "virt-v2v\nlibguestfs-rewrite\ncolours-option\ninput:libvirtxml\noutput:local\noutput:null\n";
  await Deno.writeTextFile(join(sshd.binDir, "machine-readable"), machineReadable);
  await Deno.writeTextFile(join(sshd.binDir, "conversion-output"), files.output ?? "");
  const target = join(sshd.binDir, "virt-v2v");
  await Deno.writeTextFile(
    target,
    [
      "#!/bin/bash -",
      'here=$(dirname "$(readlink -f "$0")")',
      'case "${1:-}" in',
      '  --version) echo "virt-v2v 2.2.0"; exit 0 ;;',
      '  --machine-readable) cat "$here/machine-readable"; exit 0 ;;',
      "esac",
      'cat "$here/conversion-output"',
      // Read the disk, as any conversion does (a success that read nothing is suspicious).
      `port=$(sed -n 's/.*port="\\([0-9]*\\)".*/\\1/p' "\${@: -1}" | head -n 1)`,
      'nbdcopy "nbd://localhost:$port" null: || exit 1',
      "exit 0",
    ].join("\n") + "\n",
  );
  await Deno.chmod(target, 0o755);
}

/** Every hostile sequence inside a line of virt-v2v output, then one coloured line. */
function hostileOutput(): string {
  const lines = HOSTILE.map(([name, seq], i) => `line ${i} (${name}): ${seq} rest of line ${i}`);
  return [...lines, `${GREEN} is a colour`, LAST_LINE].join("\n") + "\n";
}

/** Run the program on a pseudo-terminal; the raw bytes it wrote there, and its exit status. */
async function runOnTerminal(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; bytes: Uint8Array; text: string }> {
  const command = [Deno.execPath(), "run", "--allow-all", "--quiet", MAIN, ...args]
    .map(shQuote).join(" ");
  const childEnv: Record<string, string> = { ...Deno.env.toObject(), TERM: "xterm-256color" };
  delete childEnv.NO_COLOR;
  const child = new Deno.Command("script", {
    args: ["-qfec", command, "/dev/null"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: { ...childEnv, ...env },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  try {
    const out = await child.output();
    return { code: out.code, bytes: out.stdout, text: new TextDecoder().decode(out.stdout) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Lines as the terminal got them (the PTY ends each with CR LF), each checked
 * for escapes other than SGR colours (`colours`) and for controls.
 */
function terminalLines(run: { bytes: Uint8Array; text: string }, colours: boolean): string[] {
  const problems: string[] = [];
  for (let i = 0; i + 1 < run.bytes.length; i++) {
    if (run.bytes[i] === 0xc2 && run.bytes[i + 1] >= 0x80 && run.bytes[i + 1] <= 0x9f) {
      problems.push(`8-bit control C2 ${run.bytes[i + 1].toString(16)} at byte ${i}`);
    }
  }
  const lines = run.text.replaceAll("\r\n", "\n").split("\n");
  for (const l of lines) problems.push(...terminalProblems(l, colours));
  assert.deepEqual(problems, [], "on the terminal");
  return lines;
}

function cmdline(sshd: TestSshd, outDir: string, extra = ""): string {
  return [
    ...serverKeys(sshd, { outDir }),
    "p2v.name=hostile",
    `p2v.disks=${disk}`,
    extra,
  ].join(" ");
}

for (const colours of [true, false]) {
  const how = colours ? "colours on" : "NO_COLOR";
  Deno.test(`unattended on a terminal (${how}): virt-v2v's escapes arrive as text`, async () => {
    const sshd = await startSshd();
    try {
      await installHostileVirtV2v(sshd, { output: hostileOutput() });
      const out = await makeOutputDir(sshd);
      const r = await runOnTerminal(
        [`--cmdline=${cmdline(sshd, out)}`],
        colours ? {} : { NO_COLOR: "1" },
      );
      const lines = terminalLines(r, colours);
      assert.equal(r.code, 0, r.text);
      assert.ok(lines.includes(LAST_LINE), r.text);
      assert.ok(lines.includes("line 0 (OSC 0 title (BEL)):  rest of line 0"), r.text);
      assert.ok(
        lines.includes(`${colours ? GREEN : "green"} is a colour`),
        `the colour line: ${JSON.stringify(r.text)}`,
      );
      assert.ok(lines.some((l) => l.startsWith("Conversion finished successfully")), r.text);
      // The line that repeats a conversion is the dialog's: this run was started by one.
      assert.ok(!lines.some((l) => /^p2v\.server=/.test(l)), r.text);
    } finally {
      await sshd.stop();
    }
  });
}

Deno.test("--verbose on a terminal: the server's output modes arrive as text", async () => {
  const sshd = await startSshd();
  try {
    const hostile = HOSTILE.map(([, seq]) => `output:null${seq}`).join("\n");
    await installHostileVirtV2v(sshd, {
      machineReadable: `virt-v2v\nlibguestfs-rewrite\noutput:local\n${hostile}\n` +
        "output:\x1b]0;title\x07qemu\n",
    });
    const out = await makeOutputDir(sshd);
    const r = await runOnTerminal([`--cmdline=${cmdline(sshd, out)}`, "--verbose"]);
    const lines = terminalLines(r, true);
    assert.equal(r.code, 0, r.text);
    const modes = lines.find((l) => l.startsWith("Output modes: "));
    assert.ok(modes, r.text);
    assert.ok(!modes.includes("\x1b"), JSON.stringify(modes));
    assert.match(modes, /^Output modes: local null\S* .*qemu$/);
  } finally {
    await sshd.stop();
  }
});

/** An SSH_MSG_DISCONNECT packet, unencrypted as before the key exchange. */
function disconnectPacket(description: string): Uint8Array {
  const text = new TextEncoder().encode(description);
  const payload = new Uint8Array(1 + 4 + 4 + text.length + 4);
  const view = new DataView(payload.buffer);
  payload[0] = 1; // SSH_MSG_DISCONNECT
  view.setUint32(1, 2); // SSH_DISCONNECT_PROTOCOL_ERROR
  view.setUint32(5, text.length);
  payload.set(text, 9);
  view.setUint32(9 + text.length, 0); // no language tag
  // packet_length, padding_length, payload and padding: a multiple of 8, 4+ bytes of padding.
  let padding = 8 - ((4 + 1 + payload.length) % 8);
  if (padding < 4) padding += 8;
  const packet = new Uint8Array(4 + 1 + payload.length + padding);
  new DataView(packet.buffer).setUint32(0, 1 + payload.length + padding);
  packet[4] = padding;
  packet.set(payload, 5);
  return packet;
}

Deno.test("before authentication: a server's disconnect reason arrives as text", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const description = "go away " + HOSTILE.map(([, seq]) => seq + "x").join("") + " done";
  const served = (async () => {
    for await (const conn of listener) {
      try {
        await conn.write(new TextEncoder().encode("SSH-2.0-OpenSSH_9.2p1\r\n"));
        await conn.write(disconnectPacket(description));
        // Let the client read it before the connection closes.
        await conn.read(new Uint8Array(4096)).catch(() => null);
        await new Promise((r) => setTimeout(r, 200));
      } finally {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    }
  })();
  try {
    const r = await runOnTerminal([
      `--cmdline=p2v.server=127.0.0.1 p2v.port=${port} p2v.username=root ` +
      `p2v.password=secret p2v.name=hostile p2v.disks=${disk} p2v.os=/var/tmp`,
    ]);
    const lines = terminalLines(r, true);
    assert.equal(r.code, 1, r.text);
    const error = lines.find((l) => l.startsWith("virt-p2v: error"));
    assert.ok(error, r.text);
    assert.ok(!error.includes("\x1b"), JSON.stringify(error));
    assert.match(error, /go away/, "the reason is still told");
  } finally {
    listener.close();
    await served.catch(() => {});
  }
});
