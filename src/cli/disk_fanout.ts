/**
 * The program's server side: `virt-p2v --disk-fanout …`, run by the job
 * script on the conversion server from the copy of this file we put there.
 * It serves each disk on the port physical.xml names and spreads virt-v2v's
 * requests over several connections to our forward's socket (see
 * src/nbd/fanout). Not for users: the job script writes its arguments.
 *
 *   --disk-fanout --pid-file FILE --addresses A[,A…] --connections N
 *                 --retry-delay-ms MS --bound-ms MS [--compress zstd|none]
 *                 --disk PORT=SOCKET …
 *
 * It writes FILE once every listener is bound, and ends on SIGTERM/SIGINT
 * or when the job script that started it is gone.
 */
import { type FanoutDisk, startFanout } from "../nbd/fanout/fanout_server.ts";
import { UserError } from "../errors.ts";

export const DISK_FANOUT_FLAG = "--disk-fanout";

export interface FanoutArgs {
  pidFile: string;
  addresses: string[];
  connections: number;
  retryDelayMs: number;
  boundMs: number;
  /** Ask for zstd-packed read replies (default: no). */
  zstd: boolean;
  disks: FanoutDisk[];
}

/** How often we look whether the job script is still there. */
const PARENT_CHECK_MS = 1000;

function positiveInteger(flag: string, value: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(value)) {
    throw new UserError(`${DISK_FANOUT_FLAG}: ${flag} must be a positive integer, not "${value}"`);
  }
  return Number(value);
}

/** Parses what follows `--disk-fanout`; throws a UserError naming the bad argument. */
export function parseFanoutArgs(args: string[]): FanoutArgs {
  const out: Partial<FanoutArgs> & { disks: FanoutDisk[] } = { disks: [], zstd: false };
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i];
    const value = args[i + 1];
    if (value === undefined) throw new UserError(`${DISK_FANOUT_FLAG}: ${flag} needs a value`);
    switch (flag) {
      case "--pid-file":
        out.pidFile = value;
        break;
      case "--addresses":
        out.addresses = value.split(",").filter((a) => a !== "");
        break;
      case "--connections":
        out.connections = positiveInteger(flag, value);
        break;
      case "--retry-delay-ms":
        out.retryDelayMs = positiveInteger(flag, value);
        break;
      case "--bound-ms":
        out.boundMs = positiveInteger(flag, value);
        break;
      case "--compress":
        if (value !== "zstd" && value !== "none") {
          throw new UserError(
            `${DISK_FANOUT_FLAG}: --compress must be zstd or none, not "${value}"`,
          );
        }
        out.zstd = value === "zstd";
        break;
      case "--disk": {
        const m = /^([1-9][0-9]{0,4})=(\/.+)$/.exec(value);
        if (!m || Number(m[1]) > 65535) {
          throw new UserError(`${DISK_FANOUT_FLAG}: --disk must be PORT=/SOCKET, not "${value}"`);
        }
        out.disks.push({ port: Number(m[1]), upstreamSocket: m[2] });
        break;
      }
      default:
        throw new UserError(`${DISK_FANOUT_FLAG}: unknown argument "${flag}"`);
    }
  }
  for (const key of ["pidFile", "addresses", "connections", "retryDelayMs", "boundMs"] as const) {
    if (out[key] === undefined) throw new UserError(`${DISK_FANOUT_FLAG}: ${key} is missing`);
  }
  if (out.disks.length === 0) throw new UserError(`${DISK_FANOUT_FLAG}: no --disk given`);
  if (out.addresses!.length === 0) throw new UserError(`${DISK_FANOUT_FLAG}: no address given`);
  return out as FanoutArgs;
}

/** Serves until told to stop; returns the exit status. */
export async function runDiskFanout(
  args: string[],
  stderr: (text: string) => void,
): Promise<number> {
  const opts = parseFanoutArgs(args);
  const fanout = await startFanout({
    addresses: opts.addresses,
    disks: opts.disks,
    connections: opts.connections,
    retryDelayMs: opts.retryDelayMs,
    boundMs: opts.boundMs,
    zstd: opts.zstd,
    log: (line) => stderr(`${new Date().toISOString()} ${line}\n`),
  });
  const parent = Deno.ppid;
  await Deno.writeTextFile(opts.pidFile, `${Deno.pid}\n`, { mode: 0o600 });
  const reason = await new Promise<string>((resolve) => {
    const onSignal = (name: string) => () => resolve(`${name} received`);
    Deno.addSignalListener("SIGTERM", onSignal("SIGTERM"));
    Deno.addSignalListener("SIGINT", onSignal("SIGINT"));
    // Like nbdkit's --exit-with-parent: the job script's end is ours too.
    setInterval(() => {
      if (Deno.ppid !== parent) resolve("the job that started it ended");
    }, PARENT_CHECK_MS);
  });
  stderr(`${new Date().toISOString()} disk fan-out stopping: ${reason}\n`);
  await fanout.close();
  return 0;
}
