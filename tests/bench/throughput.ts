/**
 * `deno task bench`: MB/s of the disk data path through SSH, measured side by
 * side with A/B alternation, as `nbdcopy nbd://localhost:PORT null:` run on
 * the server side:
 *   (a) the original's stack: OpenSSH `ssh -N -R 0:localhost:P` + `nbdkit -r file`;
 *   (b) our program with qemu-nbd;
 *   (c) our program with the built-in NBD server (when available).
 * Images: 1 GiB of random data, and a sparse 4 GiB image holding 256 MiB.
 * Also prints peak RSS of our process and the ratios (b)/(a), (c)/(a).
 */
import { join } from "node:path";
import { GiB, makeDenseImage, makeSparseImage } from "../helpers/images.ts";
import { p2vArgs, runP2v } from "../helpers/p2v.ts";
import { freePort, run, waitFor } from "../helpers/process.ts";
import { startSshd, TEST_USER, type TestSshd } from "../helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "../helpers/stub_server.ts";

const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 3);

interface Sample {
  mbPerS: number;
  rssMb?: number;
}

type Stack = "original" | "qemu-nbd" | "builtin";

async function originalStack(sshd: TestSshd, image: string, bytes: number): Promise<Sample> {
  const nbdPort = freePort();
  const nbdkit = new Deno.Command("nbdkit", {
    args: ["-r", "-f", "-i", "127.0.0.1", "-p", String(nbdPort), "file", image],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const ssh = new Deno.Command("ssh", {
    args: [
      "-N",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "ExitOnForwardFailure=yes",
      "-i",
      sshd.userKeyPath,
      "-p",
      String(sshd.port),
      "-R",
      `0:localhost:${nbdPort}`,
      `${TEST_USER}@127.0.0.1`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
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
    const started = performance.now();
    await run("nbdcopy", [`nbd://localhost:${remotePort}`, "null:"]);
    const seconds = (performance.now() - started) / 1000;
    reader.releaseLock();
    return { mbPerS: bytes / 1e6 / seconds };
  } finally {
    ssh.kill("SIGTERM");
    nbdkit.kill("SIGTERM");
    await Promise.all([ssh.status, nbdkit.status]);
  }
}

async function ourStack(
  sshd: TestSshd,
  out: string,
  image: string,
  bytes: number,
  backend: "qemu-nbd" | "builtin",
  round: number,
): Promise<Sample> {
  const name = `bench-${backend}-${round}-${Date.now()}`;
  const nbdKey = (await supportsNbdKey()) ? `p2v.nbd=${backend}` : "";
  const r = await runP2v(p2vArgs(
    `p2v.server=127.0.0.1 p2v.port=${sshd.port} p2v.username=${TEST_USER} ` +
      `p2v.identity=file://${sshd.userKeyPath} p2v.disks=${image} p2v.os=${out} ` +
      `p2v.name=${name} p2v.post= ${nbdKey}`,
  ));
  if (r.code !== 0) throw new Error(`our run failed:\n${r.stdout}\n${r.stderr}`);
  const seconds = Number(await Deno.readTextFile(join(out, `${name}-sda.seconds`)));
  return { mbPerS: bytes / 1e6 / seconds, rssMb: r.peakRssKb / 1024 };
}

let nbdKeyKnown: boolean | undefined;
async function supportsNbdKey(): Promise<boolean> {
  if (nbdKeyKnown === undefined) {
    const r = await runP2v(p2vArgs("p2v.nbd=builtin p2v.dump_config_and_exit"));
    nbdKeyKnown = r.code === 0 && /^nbd\s/m.test(r.stdout);
  }
  return nbdKeyKnown;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function main(): Promise<void> {
  const work = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "p2v-bench." });
  await Deno.chmod(work, 0o755);
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd, { copyToNull: true });
    const out = await makeOutputDir(sshd);
    const images = [
      { label: "1 GiB dense", path: await makeDenseImage(work, "dense.img", GiB), bytes: GiB },
      {
        label: "4 GiB sparse (256 MiB data)",
        path: await makeSparseImage(work, "sparse.img", 4 * GiB, 256),
        bytes: 4 * GiB,
      },
    ];
    const stacks: Stack[] = ["original", "qemu-nbd"];
    if (await supportsNbdKey()) stacks.push("builtin");

    console.log(`rounds: ${ROUNDS}, stacks: ${stacks.join(", ")}`);
    const rows: string[] = [];
    for (const image of images) {
      const samples = new Map<Stack, Sample[]>(stacks.map((s) => [s, []]));
      for (let round = 0; round < ROUNDS; round++) {
        // Rotate the order each round so no stack always runs first or last.
        const order = stacks.map((_, i) => stacks[(i + round) % stacks.length]);
        for (const stack of order) {
          const sample = stack === "original"
            ? await originalStack(sshd, image.path, image.bytes)
            : await ourStack(sshd, out, image.path, image.bytes, stack, round);
          samples.get(stack)!.push(sample);
          console.log(
            `  ${image.label} round ${round + 1} ${stack}: ${sample.mbPerS.toFixed(0)} MB/s` +
              (sample.rssMb ? `, peak RSS ${sample.rssMb.toFixed(0)} MB` : ""),
          );
        }
      }
      const med = (s: Stack) => median(samples.get(s)!.map((x) => x.mbPerS));
      const rss = (s: Stack) => Math.max(...samples.get(s)!.map((x) => x.rssMb ?? 0));
      const a = med("original");
      for (const stack of stacks) {
        const m = med(stack);
        rows.push(
          `| ${image.label} | ${stack} | ${m.toFixed(0)} | ${
            stack === "original" ? "1.00" : (m / a).toFixed(2)
          } | ${stack === "original" ? "-" : rss(stack).toFixed(0)} |`,
        );
      }
    }
    console.log("\n| image | stack | MB/s (median) | ratio to original | peak RSS MB |");
    console.log("|---|---|---|---|---|");
    for (const row of rows) console.log(row);
  } finally {
    await sshd.stop();
    await Deno.remove(work, { recursive: true });
  }
}

await main();
