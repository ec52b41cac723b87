/**
 * `deno task bench`: the disk data path through SSH, measured side by side
 * with A/B alternation, as `nbdcopy nbd://localhost:PORT null:` run on the
 * server side (the stub virt-v2v):
 *   original  — the original's stack: OpenSSH `ssh -N -R 0:localhost:P` + `nbdkit -r file`;
 *   qemu-nbd  — our program with qemu-nbd;
 *   builtin   — our program with the built-in NBD server (the default: the
 *               server relays each disk, so the conversion survives a drop);
 *   builtin/direct — the same with p2v.reconnect=0: no relay, the original's
 *               topology.
 * Images: 1 GiB of random data, and a sparse 4 GiB image holding 256 MiB.
 *
 * Per stack it prints MB/s and CPU seconds per GiB of the converted
 * machine's side, both from the processes themselves (/proc): for the
 * original, ssh + nbdkit; for us, our process and its qemu-nbd if any.
 * "copy" is the CPU used while nbdcopy ran; "whole" is everything from
 * start to exit, children included (for the original: the two processes'
 * whole lives). Per GiB of disk size; medians over the rounds, with ratios
 * to the original, and peak RSS.
 *
 *   BENCH_ROUNDS=3                 rounds per image (default 3)
 *   BENCH_STACKS=original,builtin  which stacks (default original,qemu-nbd,builtin,builtin/direct)
 *   BENCH_IMAGES=dense             which images (dense, sparse; default both)
 *
 * More stacks: `builtin/node-crypto` (our program with node:crypto instead of
 * the system's libcrypto), `original/aes128-gcm` (OpenSSH with -c aes128-gcm);
 * `STACK@DIR` runs our program from another checkout (say, an older commit
 * unpacked with `git archive`).
 */
import { fileURLToPath } from "node:url";
import { GiB, makeDenseImage, makeSparseImage } from "../helpers/images.ts";
import { run } from "../helpers/process.ts";
import { startSshd, type TestSshd } from "../helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "../helpers/stub_server.ts";
import { cpuSecondsOrNaN, loadAverage, median, peakRssKb } from "./proc_stats.ts";
import { runOurs, startOriginalForward } from "./stacks.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 3);

interface Sample {
  mbPerS: number;
  /** CPU seconds of the converted machine's side while the copy ran. */
  copyCpu: number;
  /** CPU seconds of that side from start to exit, children included. */
  wholeCpu: number;
  rssMb: number;
}

interface Image {
  label: string;
  path: string;
  bytes: number;
}

type StackRunner = (
  sshd: TestSshd,
  out: string,
  image: Image,
  round: number,
  /** main.ts of the checkout to run for our stacks. */
  main: string,
) => Promise<Sample>;

const STACKS: Record<string, StackRunner> = {
  "original": (sshd, _out, image) => originalStack(sshd, image, []),
  "original/aes128-gcm": (sshd, _out, image) =>
    originalStack(sshd, image, ["-c", "aes128-gcm@openssh.com"]),
  "qemu-nbd": (sshd, out, image, round, main) =>
    ourStack(sshd, out, image, main, "qemu-nbd", {}, round),
  "builtin": (sshd, out, image, round, main) =>
    ourStack(sshd, out, image, main, "builtin", {}, round),
  "builtin/node-crypto": (sshd, out, image, round, main) =>
    ourStack(sshd, out, image, main, "builtin", { VIRT_P2V_NO_LIBCRYPTO: "1" }, round),
  // The original's topology: the disk forwarded straight to virt-v2v, no relay
  // on the server, so a dropped link ends the conversion.
  "builtin/direct": (sshd, out, image, round, main) =>
    ourStack(sshd, out, image, main, "builtin", {}, round, "p2v.reconnect=0"),
};

async function originalStack(sshd: TestSshd, image: Image, sshArgs: string[]): Promise<Sample> {
  const forward = await startOriginalForward(sshd, image.path, { sshArgs });
  const cpu = () => forward.pids.reduce((sum, pid) => sum + cpuSecondsOrNaN(pid), 0);
  try {
    const cpuBefore = cpu();
    const started = performance.now();
    await run("nbdcopy", [`nbd://localhost:${forward.remotePort}`, "null:"]);
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = cpu();
    const rssKb = forward.pids.reduce((sum, pid) => sum + peakRssKb(pid), 0);
    return {
      mbPerS: image.bytes / 1e6 / seconds,
      copyCpu: cpuAfter - cpuBefore,
      wholeCpu: cpuAfter,
      rssMb: rssKb / 1024,
    };
  } finally {
    await forward.stop();
  }
}

async function ourStack(
  sshd: TestSshd,
  out: string,
  image: Image,
  main: string,
  backend: "qemu-nbd" | "builtin",
  env: Record<string, string>,
  round: number,
  keys = "",
): Promise<Sample> {
  const name = `bench-${backend}-${round}-${Date.now()}`;
  const ours = await runOurs(sshd, { imagePath: image.path, out, name, main, backend, env, keys });
  return {
    mbPerS: image.bytes / 1e6 / ours.copySeconds,
    copyCpu: ours.copyCpu,
    wholeCpu: ours.wholeCpu,
    rssMb: ours.rssMb,
  };
}

async function main(): Promise<void> {
  const stacks = (Deno.env.get("BENCH_STACKS") ?? "original,qemu-nbd,builtin,builtin/direct")
    .split(",");
  for (const s of stacks) {
    const kind = s.split("@")[0];
    if (!(kind in STACKS)) throw new Error(`unknown stack ${kind}; known: ${Object.keys(STACKS)}`);
  }
  const base = stacks.find((s) => s.startsWith("original")) ?? stacks[0];
  const wanted = (Deno.env.get("BENCH_IMAGES") ?? "dense,sparse").split(",");
  const work = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "p2v-bench." });
  await Deno.chmod(work, 0o755);
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { copyToNull: true });
    const out = await makeOutputDir(sshd);
    const images: Image[] = [];
    if (wanted.includes("dense")) {
      images.push({
        label: "1 GiB dense",
        path: await makeDenseImage(work, "dense.img", GiB),
        bytes: GiB,
      });
    }
    if (wanted.includes("sparse")) {
      images.push({
        label: "4 GiB sparse (256 MiB data)",
        path: await makeSparseImage(work, "sparse.img", 4 * GiB, 256),
        bytes: 4 * GiB,
      });
    }

    console.log(`rounds: ${ROUNDS}, stacks: ${stacks.join(", ")}; ${loadAverage()}`);
    const rows: string[] = [];
    for (const image of images) {
      const samples = new Map<string, Sample[]>(stacks.map((s) => [s, []]));
      for (let round = 0; round < ROUNDS; round++) {
        // Rotate the order each round so no stack always runs first or last.
        const order = stacks.map((_, i) => stacks[(i + round) % stacks.length]);
        for (const stack of order) {
          const [kind, tree] = stack.split("@");
          const main = tree ? `${tree.replace(/\/$/, "")}/main.ts` : MAIN;
          const sample = await STACKS[kind](sshd, out, image, round, main);
          samples.get(stack)!.push(sample);
          console.log(
            `  ${image.label} round ${round + 1} ${stack}: ${sample.mbPerS.toFixed(0)} MB/s, ` +
              `CPU ${sample.copyCpu.toFixed(2)} s copy / ${sample.wholeCpu.toFixed(2)} s whole, ` +
              `peak RSS ${sample.rssMb.toFixed(0)} MB; ${loadAverage()}`,
          );
        }
      }
      const gib = image.bytes / GiB;
      const med = (s: string, pick: (x: Sample) => number) => median(samples.get(s)!.map(pick));
      const baseRate = med(base, (x) => x.mbPerS);
      const baseCpu = med(base, (x) => x.copyCpu);
      for (const stack of stacks) {
        const rate = med(stack, (x) => x.mbPerS);
        const copyCpu = med(stack, (x) => x.copyCpu);
        const wholeCpu = med(stack, (x) => x.wholeCpu);
        const rss = Math.max(...samples.get(stack)!.map((x) => x.rssMb));
        rows.push(
          `| ${image.label} | ${stack} | ${rate.toFixed(0)} | ${(rate / baseRate).toFixed(2)} | ` +
            `${(copyCpu / gib).toFixed(2)} | ${(copyCpu / baseCpu).toFixed(2)} | ` +
            `${(wholeCpu / gib).toFixed(2)} | ${rss.toFixed(0)} |`,
        );
      }
    }
    console.log(`\nmedians of ${ROUNDS} alternated rounds; ${loadAverage()}`);
    console.log(
      `| image | stack | MB/s | ×${base} | CPU s/GiB copy | CPU ×${base} | ` +
        `CPU s/GiB whole run | peak RSS MB |`,
    );
    console.log("|---|---|---|---|---|---|---|---|");
    for (const row of rows) console.log(row);
  } finally {
    await sshd.stop();
    await Deno.remove(work, { recursive: true });
  }
}

await main();
