/**
 * The follower, the command each connection of ours runs on the server to
 * read the detached job's output: it ends an earlier connection's sshd only
 * when that is really the one recorded (not a process that inherited its
 * pid), and it leaves once a newer connection follows.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { followCommand } from "../src/remote/remote_commands.ts";
import { FOLLOWER_FILE, JOB_PID_FILE, OUTPUT_FILE } from "../src/remote/remote_dir.ts";
import { waitFor } from "./helpers/process.ts";
import { tempDir } from "./helpers/cleanup.ts";

/** A long-running process whose name (/proc/PID/comm) is `sshd`. */
async function fakeSshd(dir: string): Promise<Deno.ChildProcess> {
  const binary = join(dir, "sshd");
  try {
    await Deno.stat(binary);
  } catch {
    await Deno.copyFile("/bin/sleep", binary);
    await Deno.chmod(binary, 0o755);
  }
  return new Deno.Command(binary, { args: ["300"], stdout: "null", stderr: "null" }).spawn();
}

function startTime(pid: number): string {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(") ") + 2).split(" ")[19];
}

function alive(pid: number): boolean {
  try {
    const state = /^State:\s+(\S)/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return state !== null && state[1] !== "Z";
  } catch {
    return false;
  }
}

async function withJob(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir({ prefix: "p2v-follow." });
  const job = new Deno.Command("sleep", { args: ["300"] }).spawn();
  try {
    await Deno.writeTextFile(join(dir, JOB_PID_FILE), `${job.pid}\n`);
    await Deno.writeTextFile(join(dir, OUTPUT_FILE), "line\n");
    await body(dir);
  } finally {
    job.kill("SIGKILL");
    await job.status;
    await Deno.remove(dir, { recursive: true });
  }
}

interface Follower {
  /** Its exit status, once it has left. */
  status: Promise<number>;
  /** Ends it and everything it started (tail, the heartbeat reader). */
  stop(): Promise<void>;
}

/**
 * The follower under a shell of its own (standing for the connection's
 * sshd), in a process group of its own so that nothing it starts outlives
 * the test.
 */
function follow(dir: string): Follower {
  const exitFile = join(dir, `exit-${crypto.randomUUID()}`);
  const child = new Deno.Command("setsid", {
    args: ["sh", "-c", `(${followCommand(dir, 0)}) < /dev/null; echo $? > ${exitFile}`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Killed by the test, it leaves no status: -1.
  const status = child.status.then(() => Deno.readTextFile(exitFile)).then(Number, () => -1);
  return {
    status,
    async stop() {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

Deno.test("follower: an sshd that only inherited the recorded pid is left alone; the recorded one is ended", async () => {
  await withJob(async (dir) => {
    const other = await fakeSshd(dir);
    const stale = await fakeSshd(dir);
    const followers: Follower[] = [];
    try {
      // A pid alone, or with a start time that says it is another process now.
      await Deno.writeTextFile(join(dir, FOLLOWER_FILE), `${other.pid}\n`);
      followers.push(follow(dir));
      await waitFor(
        () =>
          Promise.resolve(
            !Deno.readTextFileSync(join(dir, FOLLOWER_FILE)).startsWith(`${other.pid}\n`),
          ),
        10_000,
        "the follower to record itself",
      );
      assert.ok(alive(other.pid), "a process that merely has the recorded pid was killed");
      await Deno.writeTextFile(join(dir, FOLLOWER_FILE), `${other.pid} 1\n`);
      followers.push(follow(dir));
      await waitFor(
        () =>
          Promise.resolve(
            !Deno.readTextFileSync(join(dir, FOLLOWER_FILE)).startsWith(`${other.pid} `),
          ),
        10_000,
        "the follower to record itself",
      );
      assert.ok(alive(other.pid), "a process that merely has the recorded pid was killed");

      // The recorded sshd of an earlier connection, still there: it goes.
      await Deno.writeTextFile(join(dir, FOLLOWER_FILE), `${stale.pid} ${startTime(stale.pid)}\n`);
      followers.push(follow(dir));
      await waitFor(() => Promise.resolve(!alive(stale.pid)), 10_000, "the stale sshd to be ended");
      assert.ok(alive(other.pid));
    } finally {
      for (const p of [other, stale]) {
        try {
          p.kill("SIGKILL");
        } catch { /* gone */ }
        await p.status;
      }
      for (const f of followers) await f.stop();
    }
  });
});

Deno.test("follower: once a newer connection follows, the earlier follower leaves", async () => {
  await withJob(async (dir) => {
    const first = follow(dir);
    try {
      await waitFor(
        () => Deno.stat(join(dir, FOLLOWER_FILE)).then(() => true, () => false),
        10_000,
        "the follower to record itself",
      );
      // A newer connection records itself (its sshd's pid and start time).
      await Deno.writeTextFile(join(dir, FOLLOWER_FILE), `${Deno.pid} ${startTime(Deno.pid)}\n`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const status = await Promise.race([
        first.status,
        new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), 10_000)),
      ]);
      clearTimeout(timer);
      assert.equal(status, 96, "the earlier follower still runs while the job does");
    } finally {
      await first.stop();
    }
  });
});
