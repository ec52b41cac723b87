/**
 * A real OpenSSH server on a free loopback port, one per test file, with its
 * own host key, an authorized key, a password user and a private PATH whose
 * first directory holds the test's server-side tools (a stub virt-v2v).
 */
import { join } from "node:path";
import { OWNER_VAR, tempDir, TOKEN } from "./cleanup.ts";
import { freePort, run, waitFor } from "./process.ts";

export const TEST_USER = "p2vtest";
export const TEST_PASSWORD = "p2v-test-password";

export interface SshdOptions {
  allowTcpForwarding?: boolean;
  /** Run inside this network namespace, listening on `listenAddress` (default 127.0.0.1). */
  netns?: string;
  listenAddress?: string;
  /** PATH seen by remote commands; default: the server's bin dir, then the system. */
  path?: (binDir: string) => string;
  extraConfig?: string[];
  /**
   * Contents for /etc/hosts as the server (and every session's process) sees
   * it, in a private mount namespace: this machine's hosts file may lack the
   * `::1 localhost` line that stock Debian and RHEL have.
   */
  hosts?: string;
  /** Let root log in too (with the same authorized key): the conversion as root. */
  rootLogin?: boolean;
}

export interface TestSshd {
  /** Where it listens. */
  address: string;
  port: number;
  /** Scratch dir of this server; world-readable so the test user can use it. */
  dir: string;
  /** First directory on the remote PATH. */
  binDir: string;
  /** Private key (OpenSSH format) authorized for TEST_USER. */
  userKeyPath: string;
  /** A key that is NOT authorized. */
  wrongKeyPath: string;
  hostKeyFingerprint: string;
  logPath: string;
  stop(): Promise<void>;
  /** For `unload` handlers, which cannot await. */
  stopSync(): void;
  /** Stop accepting connections; the sessions already open go on. */
  stopListening(): Promise<void>;
  /** Accept connections again (same port, same keys). */
  listenAgain(): Promise<void>;
  /** The per-connection sshd processes (session and monitor) of every open session; while listening. */
  sessionPids(): Promise<number[]>;
}

let userReady: Promise<void> | undefined;

/** Create TEST_USER once per process (idempotent across processes too). */
export function ensureTestUser(): Promise<void> {
  userReady ??= (async () => {
    const exists = await run("id", ["-u", TEST_USER], { check: false });
    if (exists.code !== 0) {
      const add = await run("useradd", ["-m", "-s", "/bin/bash", TEST_USER], { check: false });
      // Another test process may have created it at the same moment.
      if (add.code !== 0 && (await run("id", ["-u", TEST_USER], { check: false })).code !== 0) {
        throw new Error(`useradd ${TEST_USER} failed: ${add.stderr}`);
      }
    }
    await run("chpasswd", [], { stdin: `${TEST_USER}:${TEST_PASSWORD}\n` });
  })();
  return userReady;
}

export async function startSshd(options: SshdOptions = {}): Promise<TestSshd> {
  await ensureTestUser();
  const dir = await tempDir({ prefix: "p2v-sshd." });
  await Deno.chmod(dir, 0o755);
  const binDir = join(dir, "bin");
  await Deno.mkdir(binDir, { mode: 0o755 });
  await Deno.chmod(binDir, 0o755);

  const hostKey = join(dir, "host_key");
  const userKeyPath = join(dir, "user_key");
  const wrongKeyPath = join(dir, "wrong_key");
  for (const key of [hostKey, userKeyPath, wrongKeyPath]) {
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "p2v-test", "-f", key]);
  }
  const authorized = join(dir, "authorized_keys");
  await Deno.copyFile(`${userKeyPath}.pub`, authorized);
  await Deno.chmod(authorized, 0o644);
  const fp = await run("ssh-keygen", ["-l", "-E", "sha256", "-f", `${hostKey}.pub`]);
  const hostKeyFingerprint = fp.stdout.split(/\s+/)[1];

  const port = freePort();
  const logPath = join(dir, "sshd.log");
  const pidFile = join(dir, "sshd.pid");
  const remotePath = options.path?.(binDir) ?? `${binDir}:/usr/local/bin:/usr/bin:/bin`;
  const config = [
    `Port ${port}`,
    `ListenAddress ${options.listenAddress ?? "127.0.0.1"}`,
    `HostKey ${hostKey}`,
    `PidFile ${pidFile}`,
    `AuthorizedKeysFile ${authorized}`,
    "StrictModes no",
    "UsePAM no",
    "PubkeyAuthentication yes",
    "PasswordAuthentication yes",
    "KbdInteractiveAuthentication yes",
    `AllowTcpForwarding ${options.allowTcpForwarding === false ? "no" : "yes"}`,
    `AllowUsers ${TEST_USER}${options.rootLogin ? " root" : ""}`,
    `PermitRootLogin ${options.rootLogin ? "prohibit-password" : "no"}`,
    // Sessions do not inherit the listener's environment: the owner mark is passed on.
    `SetEnv PATH=${remotePath} ${OWNER_VAR}=${TOKEN}`,
    "Subsystem sftp internal-sftp",
    ...(options.extraConfig ?? []),
  ].join("\n") + "\n";
  const configPath = join(dir, "sshd_config");
  await Deno.writeTextFile(configPath, config);
  await Deno.mkdir("/run/sshd", { recursive: true });

  const address = options.listenAddress ?? "127.0.0.1";
  let sshdCommand = ["/usr/sbin/sshd", "-f", configPath, "-E", logPath];
  if (options.hosts !== undefined) {
    const hostsPath = join(dir, "hosts");
    await Deno.writeTextFile(hostsPath, options.hosts, { mode: 0o644 });
    sshdCommand = [
      "unshare",
      "--mount",
      "--propagation=private",
      "--",
      "sh",
      "-c",
      'mount --bind "$0" /etc/hosts && exec "$@"',
      hostsPath,
      ...sshdCommand,
    ];
  }
  const listen = async () => {
    const [cmd, ...args] = options.netns
      ? ["ip", "netns", "exec", options.netns, ...sshdCommand]
      : sshdCommand;
    await run(cmd, args);
    await waitFor(
      async () => {
        try {
          const conn = await Deno.connect({ hostname: address, port });
          conn.close();
          return true;
        } catch {
          return false;
        }
      },
      10_000,
      "sshd to listen",
    );
  };
  await listen();
  const listenerPid = () => {
    try {
      return Number(Deno.readTextFileSync(pidFile).trim());
    } catch {
      return 0;
    }
  };
  const children = async (pid: number) =>
    (await run("pgrep", ["-P", String(pid)], { check: false })).stdout
      .split("\n").filter((l) => l !== "").map(Number);
  // The privileged monitor of each connection, and its unprivileged session child.
  const sessionPids = async () => {
    const monitors = await children(listenerPid());
    const sessions = (await Promise.all(monitors.map(children))).flat();
    return [...sessions, ...monitors];
  };

  const server: TestSshd = {
    address,
    port,
    dir,
    binDir,
    userKeyPath,
    wrongKeyPath,
    hostKeyFingerprint,
    logPath,
    stop() {
      server.stopSync();
      return Promise.resolve();
    },
    async stopListening() {
      const pid = listenerPid();
      if (pid > 0) Deno.kill(pid, "SIGTERM");
      await waitFor(
        async () => {
          try {
            (await Deno.connect({ hostname: address, port })).close();
            return false;
          } catch {
            return true;
          }
        },
        10_000,
        "sshd to stop listening",
      );
    },
    listenAgain: listen,
    sessionPids,
    stopSync() {
      let pid = 0;
      try {
        pid = Number(Deno.readTextFileSync(pidFile).trim());
      } catch { /* never started */ }
      if (pid > 0) {
        try {
          Deno.kill(pid, "SIGTERM");
        } catch { /* already gone */ }
      }
      // Session processes of the test user that belong to this server die with their sessions.
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already removed */ }
    },
  };
  return server;
}

/**
 * Our processes still running on a test server: anything whose command line
 * mentions its scratch dir (stub virt-v2v, nbdcopy, the stub's sleep), except
 * the sshd listener, whose config path is there too. Empty when none.
 */
export async function leftoverProcesses(sshd: TestSshd): Promise<string> {
  const r = await run("pgrep", ["-a", "-f", sshd.dir], { check: false });
  return r.stdout.split("\n").filter((l) => l !== "" && !l.includes("sshd")).join("\n");
}
