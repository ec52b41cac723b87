/**
 * `deno task bench:wan`: whole unattended conversions of one dense disk over
 * an emulated wide-area link (tests/helpers/wan_link.ts) between the
 * converted machine's side and the test sshd, at several round-trip times,
 * for our program and for the original's stack, alternated A/B.
 *
 * Over a long path a single SSH channel carries at most one channel window
 * per round trip (OpenSSH's sshd advertises 2 MiB), so this is where the
 * number of channels per disk shows.
 *
 * The stub virt-v2v reads each disk as virt-v2v 2.x does: one shared
 * connection through `nbdkit --filter=cow nbd ... shared=true`, nbdcopy
 * behind it. Stacks:
 *   original — as Debian's virt-p2v 1.42.3 converts: a test connection, an
 *              OpenSSH data connection per disk (`ssh -R` to `nbdkit -r`),
 *              a control connection, an scp of its files, then virt-v2v
 *              over the control connection (tests/bench/stacks.ts);
 *   builtin  — our program with its built-in NBD server (the default);
 *   qemu-nbd — our program with qemu-nbd.
 *
 * Printed per RTT and stack: the whole conversion's wall seconds (start of
 * the client side to its end), the fixed cost (start to the stub's first
 * read of the disk), the copy rate (disk bytes ÷ the stub's time
 * reading the disk) and their ratios to the original, medians over rounds;
 * the bytes that crossed the link towards the server (MiB, our copy's upload
 * to the server included, once per sshd), and the most one channel can carry
 * (one 2 MiB window per round trip).
 *
 *   BENCH_RTTS=0,20,50,100    round-trip times in ms (default 0,20,50,100)
 *   BENCH_RATE=1e9            cap per direction, bit/s (default 1 Gbit/s)
 *   BENCH_IMAGE_MIB=512       dense image size in MiB (2048 for 2 GiB)
 *   BENCH_IMAGE=PATH          copy this raw image instead (real data, e.g. the e2e
 *                             guest's); the copy rate counts its allocated bytes
 *   BENCH_ROUNDS=2            rounds per RTT, the order swapped each round (default 2)
 *   BENCH_STACKS=original,builtin
 *   BENCH_KEYS="p2v.channels=16"  more kernel-command-line keys for our program
 */
import { fileURLToPath } from "node:url";
import { tempDir } from "../helpers/cleanup.ts";
import { makeDenseImage, MiB } from "../helpers/images.ts";
import { startSshd, type TestSshd } from "../helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "../helpers/stub_server.ts";
import { startWanLink } from "../helpers/wan_link.ts";
import { loadAverage, median } from "./proc_stats.ts";
import { type ConversionTimes, type Endpoint, originalConversion, runOurs } from "./stacks.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

const RTTS = (Deno.env.get("BENCH_RTTS") ?? "0,20,50,100").split(",").map(Number);
const RATE = Number(Deno.env.get("BENCH_RATE") ?? 1e9);
const IMAGE_MIB = Number(Deno.env.get("BENCH_IMAGE_MIB") ?? 512);
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 2);
const STACKS = (Deno.env.get("BENCH_STACKS") ?? "original,builtin").split(",");
const KEYS = Deno.env.get("BENCH_KEYS") ?? "";
const IMAGE = Deno.env.get("BENCH_IMAGE");

type Runner = (
  sshd: TestSshd,
  via: Endpoint,
  options: { imagePath: string; out: string; name: string },
) => Promise<ConversionTimes>;

const RUNNERS: Record<string, Runner> = {
  "original": (sshd, via, options) => originalConversion(sshd, { via, ...options }),
  "builtin": (sshd, via, options) =>
    runOurs(sshd, { via, main: MAIN, backend: "builtin", keys: KEYS, ...options }),
  "qemu-nbd": (sshd, via, options) =>
    runOurs(sshd, { via, main: MAIN, backend: "qemu-nbd", keys: KEYS, ...options }),
};

/**
 * What one channel can carry at most: sshd's 2 MiB window per round trip,
 * or the cap (less SSH's own framing, not counted here).
 */
function oneWindow(rttMs: number): number {
  const cap = RATE / 8 / 1e6;
  return rttMs === 0 ? cap : Math.min(cap, (2 * MiB) / (rttMs / 1000) / 1e6);
}

async function main(): Promise<void> {
  for (const stack of STACKS) {
    if (!(stack in RUNNERS)) {
      throw new Error(`unknown stack ${stack}; known: ${Object.keys(RUNNERS)}`);
    }
  }
  if (RTTS.some((rtt) => !(rtt >= 0))) throw new Error(`bad BENCH_RTTS`);
  const base = STACKS.includes("original") ? "original" : STACKS[0];
  const work = await tempDir({ prefix: "p2v-bench-wan." });
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { copyToNull: true, input: "virt-v2v" });
    const out = await makeOutputDir(sshd);
    const imagePath = IMAGE ?? await makeDenseImage(work, "dense.img", IMAGE_MIB * MiB);
    // A real image is sparse: what is copied is what is allocated.
    const bytes = IMAGE ? (await Deno.stat(IMAGE)).blocks! * 512 : IMAGE_MIB * MiB;
    const what = IMAGE
      ? `${IMAGE} (${(bytes / MiB).toFixed(0)} MiB allocated)`
      : `${IMAGE_MIB} MiB dense`;
    console.log(
      `${what}, cap ${RATE / 1e6} Mbit/s each way, RTTs ${RTTS.join(", ")} ms, ` +
        `${ROUNDS} rounds, stacks ${STACKS.join(", ")}; ${loadAverage()}`,
    );
    const rows: string[] = [];
    let runs = 0;
    for (const rttMs of RTTS) {
      const link = await startWanLink({
        target: { hostname: "127.0.0.1", port: sshd.port },
        rttMs,
        rateBitsPerSecond: RATE,
      });
      const samples = new Map<string, (ConversionTimes & { sent: number })[]>(
        STACKS.map((s) => [s, []]),
      );
      try {
        for (let round = 0; round < ROUNDS; round++) {
          // Rotate the order each round so no stack always runs first.
          const order = STACKS.map((_, i) => STACKS[(i + round) % STACKS.length]);
          for (const stack of order) {
            const name = `wan-${rttMs}-${stack}-${runs++}`;
            const accepted = link.accepted;
            const sentBefore = link.bytesUp;
            const times = await RUNNERS[stack](sshd, link, { imagePath, out, name });
            const sent = (link.bytesUp - sentBefore) / MiB;
            // Every stack reaches the server through the link, or its numbers mean nothing.
            if (link.accepted === accepted) throw new Error(`${stack} did not use the link`);
            samples.get(stack)!.push({ ...times, sent });
            console.log(
              `  RTT ${rttMs} ms round ${round + 1} ${stack}: ${
                times.wallSeconds.toFixed(1)
              } s whole, ` +
                `${times.firstByteSeconds.toFixed(2)} s to the first byte, ` +
                `copy ${(bytes / 1e6 / times.copySeconds).toFixed(1)} MB/s, ` +
                `${sent.toFixed(0)} MiB sent; ${loadAverage()}`,
            );
          }
        }
      } finally {
        await link.close();
      }
      const wall = (s: string) => median(samples.get(s)!.map((x) => x.wallSeconds));
      const rate = (s: string) => median(samples.get(s)!.map((x) => bytes / 1e6 / x.copySeconds));
      const sent = (s: string) => median(samples.get(s)!.map((x) => x.sent));
      const first = (s: string) => median(samples.get(s)!.map((x) => x.firstByteSeconds));
      for (const stack of STACKS) {
        rows.push(
          `| ${rttMs} | ${stack} | ${wall(stack).toFixed(1)} | ${first(stack).toFixed(2)} | ` +
            `${rate(stack).toFixed(1)} | ` +
            `${(rate(stack) / rate(base)).toFixed(2)} | ${
              (wall(stack) / wall(base)).toFixed(2)
            } | ${sent(stack).toFixed(0)} | ` +
            `${oneWindow(rttMs).toFixed(0)} |`,
        );
      }
    }
    console.log(
      `\n${what}, cap ${RATE / 1e6} Mbit/s; medians of ${ROUNDS} alternated rounds; ` +
        loadAverage(),
    );
    console.log(
      `| RTT ms | stack | whole conversion s | to first byte s | copy MB/s | copy ×${base} | whole ×${base} | ` +
        `sent MiB | one window per RTT, MB/s |`,
    );
    console.log("|---|---|---|---|---|---|---|---|---|");
    for (const row of rows) console.log(row);
  } finally {
    await sshd.stop();
    await Deno.remove(work, { recursive: true });
  }
}

await main();
