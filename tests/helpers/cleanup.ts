/**
 * Nothing a test starts or creates outlives the test process, however it ends.
 *
 * Every process a test starts carries OWNER_VAR=<this process's token> in its
 * environment (set here, inherited by every descendant; the test sshd passes
 * it on to the sessions it starts). Every temporary directory is made under
 * one root per test process (`tempDir()`), so whatever runs from there has
 * the root in its command line; TMPDIR points there, for the programs under
 * test and every tool they run. Cleaning up means: kill every process that
 * carries the token or names the root, lazily unmount whatever is mounted
 * under the root, detach the loop devices of files under the root, delete the
 * network namespaces registered there, and remove the root.
 *
 * That happens
 * - when the test process gets SIGINT or SIGTERM: a signal listener cleans up
 *   at once, then lets the signal take its default course (exit 128+signal);
 * - when the test process is gone for any other reason (SIGKILL, or `deno
 *   test` exiting on SIGINT before the listener has finished): a reaper,
 *   started once per test process in a session of its own, waits for it to
 *   die and then cleans up the same way.
 */
import { basename, join } from "node:path";

/** Environment variable naming the test process that owns a process. */
export const OWNER_VAR = "P2V_TEST_OWNER";

/**
 * The owner token of the test process `pid` (while it runs): its pid and
 * boot-relative start time, unique on this boot.
 */
export function tokenOf(pid: number): string {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the parenthesised command name; starttime is field 22.
  return `${pid}.${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`;
}

/** The same in every test file of one process (`--parallel` runs them as threads of one). */
export const TOKEN = tokenOf(Deno.pid);

/** Every temporary file of this test process is under here. */
// Short: Unix socket paths under it (tmux's, NBD's) have room for about 100 bytes.
export const ROOT = ((tmp) =>
  // Another test file of this process has already pointed TMPDIR at it.
  basename(tmp) === `p2v-t.${TOKEN}` ? tmp : join(tmp, `p2v-t.${TOKEN}`))(
    Deno.env.get("TMPDIR") || "/tmp",
  );

const NETNS_DIR = join(ROOT, ".netns");

/**
 * Kill, unmount, delete, remove. POSIX shell: the same text runs in the reaper
 * and, synchronously, in the signal listener. It never kills itself (its
 * environment has an empty OWNER_VAR, its command line does not name the root).
 */
const CLEAN = `
owned() {
  grep -lzxF "$P2V_CLEAN_OWNER=$P2V_CLEAN_TOKEN" /proc/[0-9]*/environ 2>/dev/null
  grep -lzF "$P2V_CLEAN_ROOT/" /proc/[0-9]*/cmdline 2>/dev/null
}
for round in 1 2 3 4 5 6 7 8 9 10; do
  pids=$(owned | cut -d/ -f3 | sort -u | grep -vx -e "$$" -e "$P2V_CLEAN_PID")
  found=
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null && found=1; done
  [ -z "$found" ] && break
  sleep 0.1
done
grep -F " $P2V_CLEAN_ROOT/" /proc/self/mountinfo | cut -d' ' -f5 | sort -r |
  while read -r mnt; do umount -l "$mnt" 2>/dev/null; done
losetup -nO NAME,BACK-FILE 2>/dev/null | while read -r dev file; do
  # Detaching alone would leave the partitions behind, in the way of the next user.
  case "$file" in "$P2V_CLEAN_ROOT"/*) partx -d "$dev" 2>/dev/null; losetup -d "$dev" 2>/dev/null;; esac
done
for ns in "$P2V_CLEAN_ROOT"/.netns/*; do
  [ -e "$ns" ] && ip netns del "\${ns##*/}" 2>/dev/null
done
rm -rf --one-file-system "$P2V_CLEAN_ROOT"
`;

const REAP = `
trap '' INT TERM HUP
while kill -0 "$P2V_CLEAN_PID" 2>/dev/null; do sleep 0.3; done
${CLEAN}`;

function cleanEnv(): Record<string, string> {
  return {
    [OWNER_VAR]: "",
    P2V_CLEAN_OWNER: OWNER_VAR,
    P2V_CLEAN_TOKEN: TOKEN,
    P2V_CLEAN_ROOT: ROOT,
    P2V_CLEAN_PID: String(Deno.pid),
  };
}

/** Clean up now, synchronously: for signal listeners and `unload` handlers. */
export function cleanUpNow(): void {
  new Deno.Command("sh", {
    args: ["-c", CLEAN],
    env: cleanEnv(),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).outputSync();
}

function install(): void {
  Deno.env.set(OWNER_VAR, TOKEN);
  Deno.mkdirSync(ROOT, { recursive: true, mode: 0o755 });
  // World-traversable: the test sshd's user reads its scratch dir under here.
  Deno.chmodSync(ROOT, 0o755);
  // What the programs under test and the tools they run put in TMPDIR goes here too.
  Deno.env.set("TMPDIR", ROOT);
  // One reaper per process, whichever test file gets here first.
  let first = true;
  try {
    Deno.writeTextFileSync(join(ROOT, ".reaper"), "", { createNew: true });
  } catch {
    first = false;
  }
  if (first) {
    // setsid -f: a grandchild in its own session, so neither a terminal's
    // Ctrl-C nor the end of this thread's runtime takes it down.
    new Deno.Command("setsid", {
      args: ["-f", "sh", "-c", REAP],
      env: cleanEnv(),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).outputSync();
  }
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const onSignal = () => {
      cleanUpNow();
      // Let the signal do what it would have done without us.
      Deno.removeSignalListener(signal, onSignal);
      Deno.kill(Deno.pid, signal);
    };
    Deno.addSignalListener(signal, onSignal);
  }
}

install();

/** A new temporary directory under this process's root (Deno.makeTempDir's options). */
export function tempDir(options: { prefix?: string; dir?: string } = {}): Promise<string> {
  return Deno.makeTempDir({ dir: ROOT, ...options });
}

/** A network namespace to delete if the test process dies before it does. */
export function registerNetns(name: string): void {
  Deno.mkdirSync(NETNS_DIR, { recursive: true });
  Deno.writeTextFileSync(join(NETNS_DIR, name), "");
}

/** The namespace has been deleted by its owner. */
export function unregisterNetns(name: string): void {
  try {
    Deno.removeSync(join(NETNS_DIR, name));
  } catch { /* never registered */ }
}
