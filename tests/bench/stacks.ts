/**
 * The two stacks the benchmarks compare, run against a test sshd, either
 * directly or through another address in front of it (a WAN link emulator):
 *   the original's — OpenSSH `ssh -R` forwarding an `nbdkit -r file` export,
 *     as Debian's virt-p2v 1.42.3 sets up each disk;
 *   ours — our program, unattended (`--cmdline`).
 */
import { join } from "node:path";
import { tempDir } from "../helpers/cleanup.ts";
import { run, waitFor } from "../helpers/process.ts";
import { TEST_USER, type TestSshd } from "../helpers/sshd.ts";
import { childPids, cpuSecondsOrNaN, parseStat, peakRssKb } from "./proc_stats.ts";

/** Where the SSH clients connect: the sshd itself, or something in front of it. */
export interface Endpoint {
  hostname: string;
  port: number;
}

function endpointOf(sshd: TestSshd, via?: Endpoint): Endpoint {
  return via ?? { hostname: "127.0.0.1", port: sshd.port };
}

/** The OpenSSH client options for a test server (ssh and scp alike). */
function sshOptions(sshd: TestSshd): string[] {
  return [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-i",
    sshd.userKeyPath,
  ];
}

/** OpenSSH client arguments up to the destination, as the original runs ssh. */
function sshArgs(sshd: TestSshd, via: Endpoint | undefined, extra: string[]): string[] {
  const { hostname, port } = endpointOf(sshd, via);
  return [...extra, ...sshOptions(sshd), "-p", String(port), `${TEST_USER}@${hostname}`];
}

export interface OriginalForward {
  /** The port on the server that reaches the disk. */
  remotePort: number;
  /** ssh and nbdkit. */
  pids: number[];
  stop(): Promise<void>;
}

/**
 * One disk served as the original serves it: `nbdkit -r file` on a local
 * port, and an OpenSSH data connection (`ssh -N -R 0:localhost:PORT`) whose
 * allocated port on the server reaches it.
 */
export async function startOriginalForward(
  sshd: TestSshd,
  imagePath: string,
  options: { sshArgs?: string[]; via?: Endpoint } = {},
): Promise<OriginalForward> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const nbdPort = listener.addr.port;
  listener.close();
  const nbdkit = new Deno.Command("nbdkit", {
    args: ["-r", "-f", "-i", "127.0.0.1", "-p", String(nbdPort), "file", imagePath],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const ssh = new Deno.Command("ssh", {
    args: sshArgs(sshd, options.via, [
      "-N",
      ...(options.sshArgs ?? []),
      // ssh prints the allocated port at this level and above.
      "-o",
      "LogLevel=INFO",
      "-o",
      "ExitOnForwardFailure=yes",
      "-R",
      `0:localhost:${nbdPort}`,
    ]),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stop = async () => {
    for (const child of [ssh, nbdkit]) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.all([ssh.status, nbdkit.status]);
  };
  try {
    let stderr = "";
    const reader = ssh.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let remotePort = 0;
    await waitFor(
      async () => {
        const { value, done } = await reader.read();
        if (done) throw new Error(`ssh exited: ${stderr}`);
        stderr += value;
        const m = /Allocated port (\d+) for remote forward/.exec(stderr);
        if (m) remotePort = Number(m[1]);
        return remotePort > 0;
      },
      20_000,
      "ssh to allocate the remote port",
    );
    // Keep draining: a full pipe would stall ssh.
    (async () => {
      while (!(await reader.read()).done) { /* discard */ }
    })().catch(() => {});
    return { remotePort, pids: [ssh.pid, nbdkit.pid], stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * A libvirt XML with one network disk, enough for the stub virt-v2v; the
 * original writes its physical.xml the same way, one such element per disk.
 */
function physicalXml(name: string, remotePort: number): string {
  return `<domain type="physical">
  <name>${name}</name>
  <devices>
    <disk type="network" device="disk">
      <driver name="qemu" type="raw"/>
      <source protocol="nbd">
        <host name="localhost" port="${remotePort}"/>
      </source>
      <target dev="sda"/>
    </disk>
  </devices>
</domain>
`;
}

export interface ConversionTimes {
  /** From start to the end of everything the client side ran. */
  wallSeconds: number;
  /** The stub virt-v2v's time reading the disk (OS/NAME-sda.seconds; needs copyToNull). */
  copySeconds: number;
  /**
   * The fixed cost: from start until the stub virt-v2v begins reading the
   * disk (OS/NAME-sda.start, same clock); NaN after a real virt-v2v.
   */
  firstByteSeconds: number;
}

/**
 * A whole conversion of one disk as the original (1.42.3) makes it, each
 * step in its order and over its own SSH connection: the test connection
 * (`virt-v2v --version`, then `--machine-readable`), the disk's data
 * connection, the control connection (`mkdir` of the remote directory,
 * `date > time`), an scp of the files it writes there, then virt-v2v run
 * over the control connection. The original drives an interactive shell on
 * a PTY and first synchronises with its prompt, a round trip or two more
 * per interactive connection than the shell read here through a pipe.
 */
export async function originalConversion(
  sshd: TestSshd,
  options: { via?: Endpoint; imagePath: string; out: string; name: string },
): Promise<ConversionTimes> {
  const local = await tempDir({ prefix: "p2v-bench-original." });
  // Under -os: writable by the test user, and removed with the test server.
  const remoteDir = join(options.out, `${options.name}.d`);
  try {
    const started = performance.now();
    const startedEpoch = Date.now() / 1000;
    const test = RemoteShell.open(sshd, options.via);
    try {
      await test.command("virt-v2v --version");
      await test.command("virt-v2v --machine-readable");
      await test.close();
    } finally {
      await test.kill();
    }
    const forward = await startOriginalForward(sshd, options.imagePath, { via: options.via });
    const control = RemoteShell.open(sshd, options.via);
    try {
      await control.command(`mkdir '${remoteDir}'`);
      await control.command(`date > '${remoteDir}/time'`);
      await Deno.writeTextFile(join(local, "name"), `${options.name}\n`);
      await Deno.writeTextFile(
        join(local, "physical.xml"),
        physicalXml(options.name, forward.remotePort),
      );
      const { hostname, port } = endpointOf(sshd, options.via);
      await run("scp", [
        ...sshOptions(sshd),
        "-P",
        String(port),
        join(local, "name"),
        join(local, "physical.xml"),
        `${TEST_USER}@${hostname}:${remoteDir}/`,
      ]);
      await control.command(
        `cd '${remoteDir}' && virt-v2v -v -x -i libvirtxml -o local -os '${options.out}' physical.xml`,
      );
      await control.close();
    } finally {
      await control.kill();
      await forward.stop();
    }
    const wallSeconds = (performance.now() - started) / 1000;
    return {
      wallSeconds,
      copySeconds: await stubFigure(options.out, options.name, "seconds"),
      firstByteSeconds: await stubFigure(options.out, options.name, "start") - startedEpoch,
    };
  } finally {
    await Deno.remove(local, { recursive: true });
  }
}

/**
 * A shell on the server read through a pipe, one command at a time: each
 * waits for its own end marker, as the original waits for its prompt.
 */
class RemoteShell {
  #lines: string[] = [];
  #partial = "";
  #ended = false;
  #wake: (() => void) | undefined;
  #stderr = "";
  #count = 0;

  private constructor(
    private readonly child: Deno.ChildProcess,
    private readonly writer: WritableStreamDefaultWriter<Uint8Array>,
  ) {
    (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        const text = this.#partial + decoder.decode(chunk, { stream: true });
        const lines = text.split("\n");
        this.#partial = lines.pop()!;
        this.#lines.push(...lines);
        this.#wake?.();
      }
      this.#ended = true;
      this.#wake?.();
    })();
    (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) {
        // Only the end matters, for an error message.
        this.#stderr = (this.#stderr + decoder.decode(chunk, { stream: true })).slice(-4000);
      }
    })();
  }

  static open(sshd: TestSshd, via?: Endpoint): RemoteShell {
    const child = new Deno.Command("ssh", {
      // No terminal: the shell reads commands from the pipe. Not a login shell,
      // whose profile would reset the PATH the test server sets.
      args: [...sshArgs(sshd, via, []), "exec bash --noprofile --norc"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new RemoteShell(child, child.stdin.getWriter());
  }

  /** Runs `command` and waits for it to end; it must succeed. */
  async command(command: string): Promise<void> {
    const status = await this.status(command);
    if (status !== 0) throw new Error(`"${command}" exited ${status}: ${this.#stderr}`);
  }

  /** Runs `command` and waits for it to end; its exit status. */
  async status(command: string): Promise<number> {
    const mark = `@@p2v-bench-${++this.#count}`;
    await this.writer.write(new TextEncoder().encode(`${command}\necho "${mark} $?"\n`));
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) {
        if (line.startsWith(`${mark} `)) return Number(line.slice(mark.length + 1));
        continue;
      }
      if (this.#ended) throw new Error(`ssh ended during "${command}": ${this.#stderr}`);
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  /** Ends ssh if it still runs (after a failure). */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    await this.child.status;
  }

  async close(): Promise<void> {
    await this.writer.write(new TextEncoder().encode("exit\n"));
    await this.writer.close();
    const status = await this.child.status;
    if (!status.success) throw new Error(`ssh exited ${status.code}: ${this.#stderr}`);
  }
}

/**
 * A number the stub wrote for disk sda: `start` (epoch seconds its copy
 * began) or `seconds` (its copy time); NaN after a real virt-v2v, which
 * writes neither.
 */
async function stubFigure(out: string, name: string, what: "start" | "seconds"): Promise<number> {
  try {
    return Number(await Deno.readTextFile(join(out, `${name}-sda.${what}`)));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return NaN;
    throw err;
  }
}

export interface OurRun extends ConversionTimes {
  /** CPU seconds of our program and its children while the disk was copied. */
  copyCpu: number;
  /** CPU seconds of our program from start to exit, children included. */
  wholeCpu: number;
  rssMb: number;
}

/**
 * Our program, unattended, through a small shell that prints its own
 * accounting of waited-for children once the program has exited: that is the
 * program's whole CPU time, its children (lscpu, dmesg …) included.
 */
export async function runOurs(
  sshd: TestSshd,
  options: {
    via?: Endpoint;
    imagePath: string;
    out: string;
    name: string;
    /** main.ts of the checkout to run. */
    main: string;
    backend: "qemu-nbd" | "builtin";
    env?: Record<string, string>;
    /** More kernel-command-line keys. */
    keys?: string;
  },
): Promise<OurRun> {
  const { hostname, port } = endpointOf(sshd, options.via);
  const statFile = await Deno.makeTempFile({ prefix: "p2v-bench-stat." });
  const cmdline = `p2v.server=${hostname} p2v.port=${port} p2v.username=${TEST_USER} ` +
    `p2v.identity=file://${sshd.userKeyPath} p2v.disks=${options.imagePath} ` +
    `p2v.os=${options.out} p2v.name=${options.name} p2v.post= p2v.nbd=${options.backend} ` +
    (options.keys ?? "");
  const started = performance.now();
  const startedEpoch = Date.now() / 1000;
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      '"$@"; rc=$?; cat /proc/$$/stat > "$P2V_BENCH_STAT"; exit $rc',
      "sh",
      Deno.execPath(),
      "run",
      "--allow-all",
      "--quiet",
      // The same V8 flag as `deno task start`.
      "--v8-flags=--max-semi-space-size=1",
      options.main,
      `--cmdline=${cmdline}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", P2V_BENCH_STAT: statFile, ...options.env },
  }).spawn();
  let programPid = 0;
  let rssKb = 0;
  let copyStartCpu = NaN;
  let copyEndCpu = NaN;
  const sample = () => {
    if (programPid === 0) programPid = childPids(child.pid)[0] ?? 0;
    if (programPid !== 0) rssKb = Math.max(rssKb, peakRssKb(programPid));
  };
  const sampler = setInterval(sample, 200);
  let stdout = "";
  const watchStdout = async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      stdout += decoder.decode(chunk, { stream: true });
      sample();
      if (Number.isNaN(copyStartCpu) && stdout.includes("Copying disk")) {
        copyStartCpu = treeCpu(programPid);
      }
      if (Number.isNaN(copyEndCpu) && stdout.includes("Finishing off")) {
        copyEndCpu = treeCpu(programPid);
      }
    }
  };
  const stderrText = new Response(child.stderr).text();
  await watchStdout();
  const status = await child.status;
  const wallSeconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const stderr = await stderrText;
  try {
    if (status.code !== 0) throw new Error(`our run failed:\n${stdout}\n${stderr}`);
    return {
      wallSeconds,
      copySeconds: await stubFigure(options.out, options.name, "seconds"),
      firstByteSeconds: await stubFigure(options.out, options.name, "start") - startedEpoch,
      copyCpu: copyEndCpu - copyStartCpu,
      wholeCpu: parseStat(await Deno.readTextFile(statFile)).children,
      rssMb: rssKb / 1024,
    };
  } finally {
    await Deno.remove(statFile);
  }
}

/** CPU seconds of a process and of its running children (our program and its qemu-nbd). */
function treeCpu(pid: number): number {
  return childPids(pid).reduce((sum, child) => sum + cpuSecondsOrNaN(child), cpuSecondsOrNaN(pid));
}
