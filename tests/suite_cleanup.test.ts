/**
 * Stopping the test suite leaves nothing behind. A real part of the suite (a
 * conversion over a real sshd with its gigabyte of images, and the dialog in
 * tmux converting over another) runs as a child `deno test`; once its
 * servers are up it gets SIGTERM, or SIGINT as from Ctrl-C, or SIGKILL,
 * which leaves it no time to clean up (its reaper does). Afterwards no
 * process of its tree may remain (sshd and its sessions, tmux, the program,
 * the stub virt-v2v and nbdcopy) and its TMPDIR, a directory of ours, must be
 * empty.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { OWNER_VAR, tempDir, tokenOf } from "./helpers/cleanup.ts";
import { waitFor } from "./helpers/process.ts";

const REPO = new URL("..", import.meta.url).pathname;
const FILES = ["tests/unattended_conversion.test.ts", "tests/dialog_tmux.test.ts"];
const MARK_VAR = "P2V_SUITE_CLEANUP_MARK";

interface Proc {
  pid: number;
  comm: string;
  cmdline: string;
}

/**
 * Every process that belongs to the child's tree: it inherited our mark, or
 * carries the child's owner token (sessions of its sshd), or runs from its
 * TMPDIR (the stub virt-v2v and what it starts).
 */
function treeOf(mark: string, token: string, tmp: string): Proc[] {
  const found: Proc[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    try {
      const environ = Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0");
      const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
      if (
        environ.includes(`${MARK_VAR}=${mark}`) || environ.includes(`${OWNER_VAR}=${token}`) ||
        cmdline.includes(`${tmp}/`)
      ) {
        const comm = Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
        found.push({ pid, comm, cmdline });
      }
    } catch { /* gone, or a kernel thread */ }
  }
  return found;
}

function list(procs: Proc[]): string {
  return procs.map((p) => `${p.pid} ${p.comm}: ${p.cmdline.slice(0, 200)}`).join("\n");
}

async function stopMidRun(signal: "SIGTERM" | "SIGINT" | "SIGKILL"): Promise<void> {
  const base = await tempDir({ prefix: "p2v-sc." });
  // The test sshd's user walks down to its scratch dir.
  await Deno.chmod(base, 0o755);
  // Short: the child makes Unix sockets under it.
  const tmp = join(base, "t");
  await Deno.mkdir(tmp, { mode: 0o755 });
  await Deno.chmod(tmp, 0o755);
  const mark = crypto.randomUUID();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--parallel", ...FILES],
    cwd: REPO,
    env: { TMPDIR: tmp, [MARK_VAR]: mark, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) output = (output + decoder.decode(chunk)).slice(-20_000);
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let token = "";
  try {
    await waitFor(
      () => {
        token = tokenOf(child.pid);
        return true;
      },
      5_000,
      "the child test process",
    );

    // Its servers are up (sshd, tmux, the program in the pane), the
    // unattended conversion's images are there, and a conversion is running.
    let seen: Proc[] = [];
    await waitFor(
      async () => {
        seen = treeOf(mark, token, tmp);
        const names = new Set(seen.map((p) => p.comm));
        const program = seen.some((p) => p.comm === "deno" && p.cmdline.includes("main.ts"));
        let images = false;
        for await (const e of Deno.readDir(tmp)) {
          if (!e.name.startsWith("p2v-t.")) continue;
          for await (const d of Deno.readDir(join(tmp, e.name))) {
            if (d.name.startsWith("p2v-conv.")) images = true;
          }
        }
        // A conversion under way on the server: the stub virt-v2v, run by the test sshd.
        const converting = names.has("virt-v2v");
        return names.has("sshd") && [...names].some((n) => n.startsWith("tmux")) && program &&
          images && converting;
      },
      60_000,
      `sshd, tmux, the program, the images and a conversion in the child's tree:\n${output}`,
      200,
    ).catch((e) => {
      throw new Error(`${e.message}\nseen:\n${list(seen)}`);
    });
    assert.notEqual([...Deno.readDirSync(tmp)].length, 0);
    console.log(
      `${signal} with ${seen.length} processes up: ${seen.map((p) => p.comm).join(", ")}`,
    );

    child.kill(signal);
    const status = await child.status;
    assert.equal(status.success, false, output);

    let left: Proc[] = [];
    await waitFor(
      () => (left = treeOf(mark, token, tmp)).length === 0,
      10_000,
      "the child's processes to be gone",
      100,
    ).catch(() => assert.fail(`still running after ${signal}:\n${list(left)}\n${output}`));
    let files: string[] = [];
    await waitFor(
      () => (files = [...Deno.readDirSync(tmp)].map((e) => e.name)).length === 0,
      10_000,
      "the child's TMPDIR to be empty",
      100,
    ).catch(() => assert.fail(`left in TMPDIR after ${signal}: ${files.join(", ")}`));
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await drained;
    await Deno.remove(base, { recursive: true }).catch(() => {});
  }
}

Deno.test("SIGTERM mid-run: no process of the suite and none of its temporary files remain", () =>
  stopMidRun("SIGTERM"));

Deno.test("SIGINT mid-run: no process of the suite and none of its temporary files remain", () =>
  stopMidRun("SIGINT"));

Deno.test("SIGKILL mid-run: no process of the suite and none of its temporary files remain", () =>
  stopMidRun("SIGKILL"));
