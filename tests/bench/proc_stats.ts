/**
 * CPU time and peak memory of processes, read from the kernel's own
 * accounting (Linux /proc), for the benchmarks. Clock ticks are USER_HZ,
 * which is 100 on every Linux architecture Deno runs on.
 */

const TICKS_PER_SECOND = 100;

export interface CpuTimes {
  /** user + system seconds of the process itself. */
  self: number;
  /** user + system seconds of its children that it has waited for. */
  children: number;
}

/** CPU seconds of `pid` (or this process) so far; throws if it is gone. */
export function cpuTimes(pid: number | "self"): CpuTimes {
  return parseStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
}

/** The CPU fields of a /proc/PID/stat line. */
export function parseStat(stat: string): CpuTimes {
  // Fields after "(comm) ": state is [0], utime [11], stime [12], cutime [13], cstime [14].
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  return {
    self: (f[11] + f[12]) / TICKS_PER_SECOND,
    children: (f[13] + f[14]) / TICKS_PER_SECOND,
  };
}

/** CPU seconds of `pid` itself, or NaN once it has gone. */
export function cpuSecondsOrNaN(pid: number | "self"): number {
  try {
    return cpuTimes(pid).self;
  } catch {
    return NaN;
  }
}

/** Peak resident set size (VmHWM) of `pid` in kB, or 0 if it has gone. */
export function peakRssKb(pid: number | "self"): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The direct children of `pid` (Linux 3.5+ `children` file of its main thread). */
export function childPids(pid: number): number[] {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
    return text === "" ? [] : text.split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

/** The load averages, as `uptime` prints them. */
export function loadAverage(): string {
  const [one, five, fifteen] = Deno.readTextFileSync("/proc/loadavg").split(" ");
  return `load average ${one}, ${five}, ${fifteen}`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
