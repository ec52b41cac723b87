/** Helpers of the end-to-end tests: the real virt-v2v on a test sshd, guest inspection, timings. */
import { join } from "node:path";
import { run } from "../helpers/process.ts";
import type { TestSshd } from "../helpers/sshd.ts";

/**
 * libguestfs on the test machines: the direct backend (works for a non-root
 * user, no libvirtd), and TCG — /dev/kvm opens but KVM guests hang.
 */
export const LIBGUESTFS_ENV: Record<string, string> = {
  LIBGUESTFS_BACKEND: "direct",
  LIBGUESTFS_BACKEND_SETTINGS: "force_tcg",
};

/**
 * Puts a `virt-v2v` first on the server's PATH that runs the real
 * /usr/bin/virt-v2v with LIBGUESTFS_ENV: it is what the wrapper script calls
 * for `--version`, `--machine-readable` and the conversion.
 */
export async function installRealVirtV2v(sshd: TestSshd): Promise<void> {
  const target = join(sshd.binDir, "virt-v2v");
  const exports = Object.entries(LIBGUESTFS_ENV).map(([k, v]) => `export ${k}=${v}\n`).join("");
  await Deno.writeTextFile(
    target,
    `#!/bin/sh\n# The real virt-v2v, in the environment the test machine needs.\n${exports}` +
      `exec /usr/bin/virt-v2v "$@"\n`,
  );
  await Deno.chmod(target, 0o755);
}

export interface GuestFacts {
  distro: string;
  majorVersion: string;
  hostname: string;
  etcHostname: string;
  fstab: string;
  /** Contents of /marker.txt on the second disk's filesystem, when there is a second disk. */
  dataMarker: string | undefined;
}

/**
 * What libguestfs inspection sees in a guest whose root is /dev/sda1 (our
 * fixture), read-only, in one appliance launch.
 */
export async function guestFacts(disks: string[], format: "raw" | "qcow2"): Promise<GuestFacts> {
  const root = "/dev/sda1";
  const script = [
    `echo @@distro`,
    `inspect-get-distro ${root}`,
    `echo @@major`,
    `inspect-get-major-version ${root}`,
    `echo @@hostname`,
    `inspect-get-hostname ${root}`,
    `echo @@etc-hostname`,
    `cat /etc/hostname`,
    `echo @@fstab`,
    `cat /etc/fstab`,
    ...(disks.length > 1
      ? [`umount-all`, `mount-ro /dev/sdb /`, `echo @@marker`, `cat /marker.txt`]
      : []),
  ].join("\n") + "\n";
  const args = ["--ro", `--format=${format}`, ...disks.flatMap((d) => ["-a", d]), "-i"];
  const r = await run("guestfish", args, { stdin: script, env: LIBGUESTFS_ENV, check: false });
  if (r.code !== 0) {
    throw new Error(`guestfish ${args.join(" ")} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  }
  const sections = new Map<string, string>();
  let current = "";
  for (const line of r.stdout.replace(/\n$/, "").split("\n")) {
    const m = /^@@(\S+)$/.exec(line);
    if (m) {
      current = m[1];
      sections.set(current, "");
    } else if (current) {
      sections.set(current, sections.get(current)! + line + "\n");
    }
  }
  // guestfish adds a newline after each command's output; cat keeps the file's own.
  const value = (key: string) => (sections.get(key) ?? "").replace(/\n$/, "");
  return {
    distro: value("distro"),
    majorVersion: value("major"),
    hostname: value("hostname"),
    etcHostname: value("etc-hostname"),
    fstab: value("fstab"),
    dataMarker: sections.has("marker") ? value("marker") : undefined,
  };
}

export interface Phase {
  at: number;
  name: string;
  /** Seconds until the next phase (undefined for the last one). */
  seconds?: number;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/**
 * virt-v2v's `[ seconds ] Phase` lines, from its stdout as virt-p2v showed it
 * (the log file also holds the appliance's kernel messages, in the same form).
 */
export function phaseTimings(stdout: string): Phase[] {
  const phases: Phase[] = [];
  for (const raw of stdout.split("\n")) {
    const m = /^\[\s*(\d+\.\d+)\] (.+)$/.exec(raw.replace(ANSI, "").trimEnd());
    if (m) phases.push({ at: Number(m[1]), name: m[2] });
  }
  phases.forEach((p, i) => {
    if (i + 1 < phases.length) p.seconds = phases[i + 1].at - p.at;
  });
  return phases;
}

export function printTimings(label: string, phases: Phase[]): void {
  const lines = phases.map((p) =>
    `  ${p.seconds === undefined ? "     -" : p.seconds.toFixed(1).padStart(6)} s  ` +
    `[${p.at.toFixed(1).padStart(6)}] ${p.name.length > 90 ? p.name.slice(0, 87) + "..." : p.name}`
  );
  console.log(`${label}: virt-v2v phases (duration, start, name)\n${lines.join("\n")}`);
}

/** Bytes of data in an image (allocated, non-zero extents), from `qemu-img map`. */
export async function dataBytes(image: string): Promise<number> {
  const map = JSON.parse((await run("qemu-img", ["map", "--output=json", image])).stdout) as {
    length: number;
    data: boolean;
  }[];
  return map.filter((e) => e.data).reduce((n, e) => n + e.length, 0);
}

/**
 * Watches a running virt-p2v: when each virt-v2v phase line reached us, and
 * how many bytes it had read from files over time — `rchar` of /proc/PID/io
 * of the program (its built-in NBD server reads the disks itself) plus that
 * of its children (a qemu-nbd or nbdkit export with `p2v.nbd=`): the disk
 * data the export served through the SSH session. Socket reads are not in
 * `rchar`.
 */
export class TransferMonitor {
  readonly phaseArrival = new Map<string, number>();
  /** Per sample: when, and bytes read by the program and its children since the first sample. */
  readonly samples: { at: number; read: number }[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Last `rchar` per process: one that has exited keeps its total. */
  #last = new Map<number, number>();
  #baseline: number | undefined;
  /** Command names of the program's children seen while it ran. */
  readonly childCommands = new Set<string>();

  onOutput = (text: string, child: Deno.ChildProcess): void => {
    this.#timer ??= setInterval(() => this.#sample(child.pid), 250);
    for (const m of text.matchAll(/^\[\s*\d+\.\d+\] (.+)$/gm)) {
      if (!this.phaseArrival.has(m[1])) {
        this.phaseArrival.set(m[1], performance.now());
        this.#sample(child.pid);
      }
    }
  };

  #sample(pid: number): void {
    for (const p of [pid, ...childrenOf(pid)]) {
      try {
        if (p !== pid) this.childCommands.add(Deno.readTextFileSync(`/proc/${p}/comm`).trim());
        const m = /^rchar: (\d+)$/m.exec(Deno.readTextFileSync(`/proc/${p}/io`));
        if (m) this.#last.set(p, Number(m[1]));
      } catch { /* exited: keep its last value */ }
    }
    const total = [...this.#last.values()].reduce((a, b) => a + b, 0);
    this.#baseline ??= total;
    this.samples.push({ at: performance.now(), read: total - this.#baseline });
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Bytes read up to time `at` (the last sample at or before it). */
  readAt(at: number): number {
    let read = 0;
    for (const s of this.samples) {
      if (s.at > at) break;
      read = s.read;
    }
    return read;
  }
}

function childrenOf(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const text = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/children`);
      children.push(...text.split(" ").filter((t) => t !== "").map(Number));
    }
  } catch { /* exited */ }
  return children;
}

const MB = 1e6;

/**
 * Copy speed of each disk, two ways: the data that landed in output disk N
 * over the duration of virt-v2v's `Copying disk N/M` phase (virt-v2v's clock;
 * blocks read earlier, during inspection and conversion, may already be
 * cached on the server), and what our export read from the source disks
 * while that phase ran (our clock; virt-v2v copies one disk at a time).
 */
export function copyRates(phases: Phase[], monitor: TransferMonitor, dataBytes: number[]): void {
  for (const [i, bytes] of dataBytes.entries()) {
    const index = phases.findIndex((p) => new RegExp(`^Copying disk ${i + 1}/`).test(p.name));
    const phase = phases[index];
    if (phase?.seconds === undefined) {
      console.log(`  copy of disk ${i + 1}: no phase timing`);
      continue;
    }
    let ours = "";
    const t0 = monitor.phaseArrival.get(phase.name);
    const t1 = monitor.phaseArrival.get(phases[index + 1].name);
    if (t0 !== undefined && t1 !== undefined && t1 > t0) {
      const read = monitor.readAt(t1) - monitor.readAt(t0);
      ours = `; our export read ${(read / MB).toFixed(0)} MB meanwhile = ${
        (read / MB / ((t1 - t0) / 1000)).toFixed(1)
      } MB/s`;
    }
    console.log(
      `  copy of disk ${i + 1}: ${(bytes / MB).toFixed(0)} MB of data in ${
        phase.seconds.toFixed(1)
      } s = ${(bytes / MB / Math.max(phase.seconds, 0.1)).toFixed(1)} MB/s${ours}`,
    );
  }
  const end = monitor.samples.at(-1);
  if (end) {
    console.log(
      `  our export read ${(end.read / MB).toFixed(0)} MB from the disks in total; ` +
        `peak ${peakRate(monitor).toFixed(1)} MB/s over 1 s`,
    );
  }
}

function peakRate(monitor: TransferMonitor): number {
  let peak = 0;
  const s = monitor.samples;
  for (let i = 0, j = 0; i < s.length; i++) {
    while (j < i && s[i].at - s[j].at > 1000) j++;
    const span = s[i].at - s[j].at;
    if (span >= 500) peak = Math.max(peak, (s[i].read - s[j].read) / MB / (span / 1000));
  }
  return peak;
}

/**
 * Boots a converted disk the way its metadata says (virtio disk and NIC)
 * under TCG, on a throwaway snapshot, and waits for the guest's login prompt
 * on the serial console (the fixture's grub sends the console there).
 * Returns the seconds it took.
 */
export async function bootToLogin(
  disk: string,
  format: "raw" | "qcow2",
  hostname: string,
  timeoutMs = 300_000,
): Promise<number> {
  const started = performance.now();
  const child = new Deno.Command("qemu-system-x86_64", {
    args: [
      ...["-machine", "accel=tcg", "-m", "1024", "-smp", "2"],
      ...["-display", "none", "-no-user-config", "-nodefaults", "-serial", "stdio"],
      ...["-drive", `file=${disk},format=${format},if=virtio,snapshot=on`],
      ...["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"],
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  let console_ = "";
  const prompt = `${hostname} login:`;
  const decoder = new TextDecoder();
  try {
    for await (const chunk of child.stdout) {
      console_ += decoder.decode(chunk, { stream: true });
      if (console_.includes(prompt)) break;
    }
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await child.stderr.cancel().catch(() => {});
  }
  if (!console_.includes(prompt)) {
    // deno-lint-ignore no-control-regex
    const tail = console_.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").split("\n").slice(-40);
    throw new Error(`no "${prompt}" on the serial console; its end:\n${tail.join("\n")}`);
  }
  return (performance.now() - started) / 1000;
}
