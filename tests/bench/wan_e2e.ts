/**
 * `deno task bench:wan-e2e`: the real virt-v2v converting the end-to-end
 * test guest (tests/fixtures/make-guest.sh; needs tests/e2e/setup-e2e.sh)
 * over the emulated wide-area link, our program against the original's
 * stack (as in `deno task bench:wan`), alternated. Printed per RTT and
 * stack: the whole conversion's wall seconds and the bytes that crossed the
 * link towards the server (the disk's reads, SSH's framing and every
 * upload), medians over rounds.
 *
 * Under TCG a conversion takes minutes (about 3 on a LAN, 6–7 at 50 ms).
 *
 *   BENCH_RTTS=50         round-trip times in ms (default 50)
 *   BENCH_RATE=1e9        cap per direction, bit/s (default 1 Gbit/s)
 *   BENCH_ROUNDS=1        rounds per RTT (default 1)
 *   BENCH_STACKS=original,builtin
 *   BENCH_KEYS="…"        more kernel-command-line keys for our program
 */
import { fileURLToPath } from "node:url";
import { run } from "../helpers/process.ts";
import { startSshd } from "../helpers/sshd.ts";
import { makeOutputDir } from "../helpers/stub_server.ts";
import { startWanLink } from "../helpers/wan_link.ts";
import { installRealVirtV2v, LIBGUESTFS_ENV } from "../e2e/support.ts";
import { loadAverage, median } from "./proc_stats.ts";
import { originalConversion, runOurs } from "./stacks.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const MAKE_GUEST = fileURLToPath(new URL("../fixtures/make-guest.sh", import.meta.url));

const RTTS = (Deno.env.get("BENCH_RTTS") ?? "50").split(",").map(Number);
const RATE = Number(Deno.env.get("BENCH_RATE") ?? 1e9);
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 1);
const STACKS = (Deno.env.get("BENCH_STACKS") ?? "original,builtin").split(",");
const KEYS = Deno.env.get("BENCH_KEYS") ?? "";

async function main(): Promise<void> {
  for (const s of STACKS) {
    if (s !== "original" && s !== "builtin") throw new Error(`unknown stack ${s}`);
  }
  if (RTTS.some((rtt) => !(rtt >= 0))) throw new Error("bad BENCH_RTTS");
  const built = await run(MAKE_GUEST, [], { env: LIBGUESTFS_ENV });
  const imagePath = built.stdout.trim().split("\n").at(-1)!;
  const sshd = await startSshd();
  try {
    await installRealVirtV2v(sshd);
    const out = await makeOutputDir(sshd);
    console.log(
      `e2e guest ${imagePath}, cap ${RATE / 1e6} Mbit/s each way, RTTs ${RTTS.join(", ")} ms, ` +
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
      const walls = new Map<string, number[]>(STACKS.map((s) => [s, []]));
      const sent = new Map<string, number[]>(STACKS.map((s) => [s, []]));
      try {
        for (let round = 0; round < ROUNDS; round++) {
          const order = STACKS.map((_, i) => STACKS[(i + round) % STACKS.length]);
          for (const stack of order) {
            const name = `wane2e-${rttMs}-${stack}-${runs++}`;
            const before = link.bytesUp;
            const options = { via: link, imagePath, out, name };
            const times = stack === "original"
              ? await originalConversion(sshd, options)
              : await runOurs(sshd, { ...options, main: MAIN, backend: "builtin", keys: KEYS });
            const bytes = link.bytesUp - before;
            walls.get(stack)!.push(times.wallSeconds);
            sent.get(stack)!.push(bytes);
            console.log(
              `  RTT ${rttMs} ms round ${round + 1} ${stack}: ${times.wallSeconds.toFixed(1)} s, ` +
                `${(bytes / 1048576).toFixed(0)} MiB sent; ${loadAverage()}`,
            );
            await Deno.remove(`${out}/${name}-sda`).catch(() => {});
          }
        }
      } finally {
        await link.close();
      }
      const base = STACKS[0];
      for (const stack of STACKS) {
        const w = median(walls.get(stack)!);
        const b = median(sent.get(stack)!);
        rows.push(
          `| ${rttMs} | ${stack} | ${w.toFixed(1)} | ${(b / 1048576).toFixed(0)} | ` +
            `${(median(walls.get(base)!) / w).toFixed(2)} | ${
              (b / median(sent.get(base)!)).toFixed(2)
            } |`,
        );
      }
    }
    console.log(`\nmedians of ${ROUNDS} alternated rounds; ${loadAverage()}`);
    console.log(
      `| RTT ms | stack | whole conversion s | MiB sent | faster than ${STACKS[0]} | ` +
        `bytes ×${STACKS[0]} |`,
    );
    console.log("|---|---|---|---|---|---|");
    for (const row of rows) console.log(row);
  } finally {
    await sshd.stop();
  }
}

await main();
