/**
 * The Network screen's hands: read the state with `ip`, run DHCP with
 * `udhcpc` or `dhclient`, set a static address with `ip` and a name server
 * in resolv.conf — using whatever of these the system has, and saying so
 * plainly when a tool is missing.
 */
import type {
  NetworkActionResult,
  NetworkInterfaceStatus,
  NetworkStatus,
  NetworkTools,
} from "../screens/model.ts";
import { describeError } from "../errors.ts";
import { findProgram } from "../system/programs.ts";
import { type Captured, runCaptured } from "../system/run.ts";

/**
 * A network tool's run as the screen needs it: `runCaptured`'s result with
 * "stopped at the bound" and "killed" folded into the status (124, as
 * `timeout` says, and 1), since the screen only shows status and output.
 */
export type ToolResult = Pick<Captured, "stdout" | "stderr"> & { code: number };

export type ToolRunner = (
  cmd: string,
  args: string[],
  opts: { timeoutMs: number },
) => Promise<ToolResult>;

export interface NetworkToolsOptions {
  run?: ToolRunner;
  /** Absolute path of a tool, or undefined when the system does not have it. */
  findTool?: (name: string) => Promise<string | undefined>;
  resolvConf?: string;
  /** Put in front of every command, e.g. `ip netns exec NS` (tests). */
  prefix?: string[];
  dhcpTimeoutMs?: number;
}

/** A tool's output; status 124 (as `timeout` uses) when it was stopped at the bound. */
export const runTool: ToolRunner = async (cmd, args, opts) => {
  const r = await runCaptured(cmd, args, {
    timeoutMs: opts.timeoutMs,
    env: { LANG: "C", LC_ALL: "C" },
    stderr: true,
  });
  if (!r.started) throw new Error(`${cmd} cannot be started: ${r.startError}`);
  return {
    code: r.timedOut ? 124 : r.code ?? 1,
    stdout: r.stdout,
    stderr: r.stderr + (r.timedOut ? `\n(stopped after ${opts.timeoutMs / 1000} s)` : ""),
  };
};

/** `ip -o link show`: name, state and MAC of every interface. */
export function parseIpLink(text: string): NetworkInterfaceStatus[] {
  const out: NetworkInterfaceStatus[] = [];
  for (const line of text.split("\n")) {
    const m = /^\d+:\s+([^:@\s]+)(?:@[^:\s]+)?:/.exec(line);
    if (!m) continue;
    const state = /\bstate\s+(\S+)/.exec(line)?.[1];
    const mac = /link\/ether\s+([0-9a-f:]{17})/i.exec(line)?.[1];
    const entry: NetworkInterfaceStatus = { name: m[1], addresses: [] };
    if (state) entry.state = state;
    if (mac) entry.mac = mac.toLowerCase();
    out.push(entry);
  }
  return out;
}

/** `ip -o addr show`: interface → addresses with prefix. */
export function parseIpAddr(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = /^\d+:\s+([^:@\s]+)\s+inet6?\s+(\S+)/.exec(line);
    if (!m) continue;
    const list = map.get(m[1]) ?? [];
    list.push(m[2]);
    map.set(m[1], list);
  }
  return map;
}

export function parseResolvConf(text: string): string[] {
  return text.split("\n")
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined);
}

export function createNetworkTools(opts: NetworkToolsOptions = {}): NetworkTools {
  const run = opts.run ?? runTool;
  const find = opts.findTool ?? ((name: string) => Promise.resolve(findProgram(name)));
  const resolvConf = opts.resolvConf ?? "/etc/resolv.conf";
  const prefix = opts.prefix ?? [];
  const dhcpTimeoutMs = opts.dhcpTimeoutMs ?? 60_000;

  /** Run one tool; `[cmd, ...args]` after the prefix. */
  const exec = (path: string, args: string[], timeoutMs = 15_000) =>
    prefix.length > 0
      ? run(prefix[0], [...prefix.slice(1), path, ...args], { timeoutMs })
      : run(path, args, { timeoutMs });

  /** Run a step and add it to the log; false when it failed. */
  const step = async (log: string[], path: string, args: string[], timeoutMs?: number) => {
    const name = path.slice(path.lastIndexOf("/") + 1);
    log.push(`$ ${name} ${args.join(" ")}`);
    let r: ToolResult;
    try {
      r = await exec(path, args, timeoutMs);
    } catch (err) {
      log.push(`cannot run ${name}: ${describeError(err)}`);
      return false;
    }
    const text = (r.stdout + "\n" + r.stderr).split("\n").map((l) => l.trimEnd()).filter((l) => l);
    log.push(...text.slice(-8));
    if (r.code !== 0) log.push(`${name} exited with status ${r.code}`);
    return r.code === 0;
  };

  const dhcpClient = async (): Promise<[string, string] | undefined> => {
    for (const name of ["udhcpc", "dhclient"]) {
      const path = await find(name);
      if (path) return [name, path];
    }
    return undefined;
  };

  return {
    async status(): Promise<NetworkStatus> {
      const problems: string[] = [];
      const ip = await find("ip");
      const client = await dhcpClient();
      let dns: string[] = [];
      try {
        dns = parseResolvConf(await Deno.readTextFile(resolvConf));
      } catch {
        problems.push(`${resolvConf} cannot be read: no name servers are known.`);
      }
      if (!ip) {
        return {
          interfaces: [],
          defaultRoutes: [],
          dns,
          hasIp: false,
          dhcpClient: client?.[0],
          problems,
        };
      }
      const links = await exec(ip, ["-o", "link", "show"]);
      if (links.code !== 0) problems.push(`ip link failed: ${links.stderr.trim()}`);
      const interfaces = parseIpLink(links.stdout);
      const addrs = parseIpAddr((await exec(ip, ["-o", "addr", "show"])).stdout);
      for (const i of interfaces) i.addresses = addrs.get(i.name) ?? [];
      const defaultRoutes: string[] = [];
      for (const family of [["-4"], ["-6"]]) {
        const r = await exec(ip, [...family, "route", "show", "default"]);
        defaultRoutes.push(...r.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== ""));
      }
      return { interfaces, defaultRoutes, dns, hasIp: true, dhcpClient: client?.[0], problems };
    },

    async dhcp(iface: string): Promise<NetworkActionResult> {
      const log: string[] = [];
      const ip = await find("ip");
      const client = await dhcpClient();
      if (!client) {
        return {
          ok: false,
          log: ["No DHCP client: neither udhcpc nor dhclient is installed on this system."],
        };
      }
      if (ip && !(await step(log, ip, ["link", "set", "dev", iface, "up"]))) {
        return { ok: false, log };
      }
      const [name, path] = client;
      const args = name === "udhcpc"
        ? ["-i", iface, "-n", "-q", "-f", "-t", "5", "-T", "3"]
        : ["-1", "-v", iface];
      const ok = await step(log, path, args, dhcpTimeoutMs);
      return { ok, log };
    },

    async setStatic(req): Promise<NetworkActionResult> {
      const log: string[] = [];
      const ip = await find("ip");
      if (!ip) {
        return { ok: false, log: ["The ip command is not installed: cannot set an address."] };
      }
      const steps: string[][] = [
        ["link", "set", "dev", req.iface, "up"],
        ["addr", "replace", req.address, "dev", req.iface],
      ];
      if (req.gateway) {
        steps.push(["route", "replace", "default", "via", req.gateway, "dev", req.iface]);
      }
      for (const args of steps) {
        if (!(await step(log, ip, args))) return { ok: false, log };
      }
      if (req.dns) {
        try {
          let old = "";
          try {
            old = await Deno.readTextFile(resolvConf);
          } catch { /* a new file */ }
          const kept = old.split("\n").filter((l) =>
            l.trim() !== "" && l.trim() !== `nameserver ${req.dns}`
          );
          await Deno.writeTextFile(
            resolvConf,
            [`nameserver ${req.dns}`, ...kept].join("\n") + "\n",
          );
          log.push(`${resolvConf}: nameserver ${req.dns} added first`);
        } catch (err) {
          log.push(`cannot write ${resolvConf}: ${describeError(err)}`);
          return { ok: false, log };
        }
      }
      return { ok: true, log };
    },
  };
}
