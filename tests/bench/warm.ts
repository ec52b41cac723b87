/**
 * `deno task bench:warm`: a warm conversion against a cold one over an
 * emulated wide-area link (tests/helpers/wan_link.ts), through the test
 * sshd and the stub virt-v2v (which reads each disk as virt-v2v 2.x does).
 *
 *   1. cold: the original's one-pass conversion and ours, one disk of
 *      random data: wall time and the stub's copy time;
 *   2. pre-copy of the same disk into a staging area (our program);
 *   3. a writer rewrites random 1 MiB extents (not chunk-aligned) totalling
 *      BENCH_CHANGED_PERCENT of the disk;
 *   3. cutover: seconds from its start to "the physical machine can now be
 *      switched off", bytes of chunk data sent, bytes that crossed the link
 *      towards the server (SSH and everything), and the whole cutover with
 *      the conversion of the staged copy.
 *
 *   BENCH_RTT=50              round trip in ms (default 50)
 *   BENCH_RATE=1e9            cap per direction, bit/s (default 1 Gbit/s)
 *   BENCH_IMAGE_MIB=1024      disk size in MiB
 *   BENCH_CHANGED_PERCENT=2   share of the disk the writer changes
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { tempDir } from "../helpers/cleanup.ts";
import { makeDenseImage, MiB, rewriteExtents } from "../helpers/images.ts";
import { startSshd, TEST_USER, type TestSshd } from "../helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "../helpers/stub_server.ts";
import { startWanLink, type WanLink } from "../helpers/wan_link.ts";
import { originalConversion, runOurs } from "./stacks.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const CHUNK = 256 * 1024;
const num = (name: string, dflt: number) => Number(Deno.env.get(name) ?? dflt);
const rtt = num("BENCH_RTT", 50);
const rate = num("BENCH_RATE", 1e9);
const sizeMib = num("BENCH_IMAGE_MIB", 1024);
const changedPercent = num("BENCH_CHANGED_PERCENT", 2);

interface StagedRun {
  wall: number;
  /** Seconds from start to the "switched off" line (cutover only). */
  switchOff: number;
  stdout: string;
  linkMiB: number;
}

async function staged(
  sshd: TestSshd,
  link: WanLink,
  keys: string,
): Promise<StagedRun> {
  const before = link.bytesUp;
  const started = performance.now();
  let switchOff = NaN;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--quiet",
      "--v8-flags=--max-semi-space-size=1",
      MAIN,
      `--cmdline=p2v.server=127.0.0.1 p2v.port=${link.port} p2v.username=${TEST_USER} ` +
      `p2v.identity=file://${sshd.userKeyPath} p2v.post= ${keys}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let stdout = "";
  const decoder = new TextDecoder();
  const stderr = new Response(child.stderr).text();
  for await (const chunk of child.stdout) {
    const text = decoder.decode(chunk, { stream: true });
    if (Deno.env.get("BENCH_TRACE")) {
      const at = ((performance.now() - started) / 1000).toFixed(2);
      for (const l of text.split("\n")) if (l) console.log(`  ${at} ${l.slice(0, 240)}`);
    }
    stdout += text;
    if (Number.isNaN(switchOff) && stdout.includes("can now be switched off")) {
      switchOff = (performance.now() - started) / 1000;
    }
  }
  const status = await child.status;
  if (!status.success) throw new Error(`run failed:\n${stdout}\n${await stderr}`);
  if (Deno.env.get("BENCH_TRACE") && (await stderr).trim() !== "") {
    console.log(`  stderr:\n${await stderr}`);
  }
  return {
    wall: (performance.now() - started) / 1000,
    switchOff,
    stdout,
    linkMiB: (link.bytesUp - before) / MiB,
  };
}

const work = await tempDir({ prefix: "p2v-bench-warm." });
const sshd = await startSshd();
try {
  const size = sizeMib * MiB;
  const image = await makeDenseImage(work, "disk.img", size);
  await installStubVirtV2v(sshd, { input: "virt-v2v", copyToNull: true });
  const out = await makeOutputDir(sshd);
  const area = join(sshd.dir, "staging");
  await Deno.mkdir(area);
  await Deno.chmod(area, 0o1777);
  const link = await startWanLink({
    target: { hostname: "127.0.0.1", port: sshd.port },
    rttMs: rtt,
    rateBitsPerSecond: rate,
  });
  try {
    const via = { hostname: link.hostname, port: link.port };
    const original = await originalConversion(sshd, { via, imagePath: image, out, name: "orig" });
    const ours = await runOurs(sshd, {
      via,
      imagePath: image,
      out,
      name: "cold",
      main: MAIN,
      backend: "qemu-nbd",
    }).catch(() =>
      runOurs(sshd, { via, imagePath: image, out, name: "cold", main: MAIN, backend: "builtin" })
    );
    const disk = `p2v.name=warm p2v.disks=${image} p2v.stage.dir=${area} p2v.os=${out}`;
    const pre = await staged(sshd, link, `${disk} p2v.stage=precopy`);
    const extents = Math.round(size * changedPercent / 100 / MiB);
    const touched = (await rewriteExtents(image, size, extents, { chunkBytes: CHUNK })).size;
    const cut = await staged(sshd, link, `${disk} p2v.stage=cutover`);
    const sent = /(\d+) chunks sent \(([^)]*)\)/.exec(cut.stdout)?.[0] ?? "?";
    const hashed = /hashed in ([0-9.]+) s/.exec(cut.stdout)?.[1] ?? "?";
    const f = (x: number) => x.toFixed(1);
    console.log(
      `link: ${rtt} ms, ${rate / 1e9} Gbit/s; disk ${sizeMib} MiB of random data; ` +
        `${changedPercent} % rewritten after the pre-copy (${touched} chunks of 256 KiB touched)`,
    );
    console.log(
      `cold, original: ${f(original.wallSeconds)} s wall, copy ${f(original.copySeconds)} s`,
    );
    console.log(`cold, ours:     ${f(ours.wallSeconds)} s wall, copy ${f(ours.copySeconds)} s`);
    console.log(`pre-copy:       ${f(pre.wall)} s wall, ${f(pre.linkMiB)} MiB crossed the link`);
    console.log(
      `cutover:        switch-off after ${f(cut.switchOff)} s (hashing ${hashed} s), ` +
        `${f(cut.wall)} s with the conversion of the staged copy; ${sent}; ` +
        `${f(cut.linkMiB)} MiB crossed the link (${f(cut.linkMiB / sizeMib * 100)} % of the disk)`,
    );
    console.log(
      `switch-off ÷ cold copy: ours ${f(cut.switchOff / ours.copySeconds * 100)} %, ` +
        `original's ${f(cut.switchOff / original.copySeconds * 100)} %; ` +
        `÷ cold wall: ours ${f(cut.switchOff / ours.wallSeconds * 100)} %`,
    );
  } finally {
    await link.close();
  }
} finally {
  await sshd.stop();
  await Deno.remove(work, { recursive: true });
}
