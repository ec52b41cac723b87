/**
 * Local NBD server throughput, no SSH: MB/s of `nbdcopy URI null:` against
 *   builtin         — our built-in server, each unix-socket connection attach()ed
 *   qemu-nbd        — qemu-nbd -r on its own unix socket (nbdcopy talks to it directly)
 *   nbdkit          — nbdkit -r file on its own unix socket (likewise)
 *   qemu-nbd+splice — qemu-nbd behind our socket_server.ts export: attach() splices
 *                     each connection through this process (how the engine runs it)
 * on the same image, alternating the order every round; medians printed.
 *
 *   deno run -A tests/bench/nbd_local.ts [--size-mib=1024] [--rounds=3] [--image=PATH]
 *
 * Not part of `deno task test`.
 */
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { startBuiltinExport } from "../../src/nbd/builtin_export.ts";
import type { DiskExport } from "../../src/nbd/export.ts";
import {
  NBDKIT,
  QEMU_NBD,
  type SocketServerKind,
  startSocketServer,
} from "../../src/nbd/socket_server.ts";
import { cpuTimes, median, peakRssKb } from "./proc_stats.ts";

const args = new Map(
  Deno.args.map((a) => a.replace(/^--/, "").split("=", 2) as [string, string]),
);
const sizeMiB = Number(args.get("size-mib") ?? 1024);
const rounds = Number(args.get("rounds") ?? 3);

const work = await Deno.makeTempDir({ prefix: "p2v-nbd-bench." });
let image = args.get("image");
if (!image) {
  image = join(work, "dense.img");
  console.log(`making a ${sizeMiB} MiB random image ...`);
  await sh(`head -c ${sizeMiB * 1024 * 1024} /dev/urandom > '${image}'`);
}
const bytes = (await Deno.stat(image)).size;

interface Server_ {
  uri: string;
  /** CPU seconds used so far by the process(es) doing the serving. */
  cpu(): number;
  stop(): Promise<void>;
}

/** Serve a DiskExport on a unix socket by attach()ing every connection. */
async function viaAttach(name: string, exp: DiskExport): Promise<Server_> {
  const sock = join(work, `${name}.sock`);
  const server: Server = createServer({ allowHalfOpen: true }, (s) => exp.attach(s));
  await new Promise<void>((r) => server.listen(sock, () => r()));
  return {
    uri: `nbd+unix:///?socket=${sock}`,
    cpu: () => cpuTimes("self").self,
    async stop() {
      await new Promise<void>((r) => server.close(() => r()));
      await exp.stop();
    },
  };
}

/** An external server on its own socket; nbdcopy connects to it directly. */
async function direct(kind: SocketServerKind): Promise<Server_> {
  const sock = join(work, `${kind.binary}.sock`);
  const child = new Deno.Command(kind.binary, {
    args: kind.args(sock, image!),
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 200; i++) {
    try {
      const c = await Deno.connect({ transport: "unix", path: sock });
      c.close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return {
    uri: `nbd+unix:///?socket=${sock}`,
    cpu: () => cpuTimes(child.pid).self,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(sock).catch(() => {});
    },
  };
}

const backends: Record<string, () => Promise<Server_>> = {
  "builtin": async () => viaAttach("builtin", await startBuiltinExport(image!)),
  "qemu-nbd": () => direct(QEMU_NBD),
  "nbdkit": () => direct(NBDKIT),
  "qemu-nbd+splice": async () => viaAttach("splice", await startSocketServer(QEMU_NBD, image!)),
};

const modes: Record<string, string[]> = {
  "nbdcopy (default: 4 conns × 64 req)": [],
  "nbdcopy -C 1 (1 conn × 64 req, like virt-v2v)": ["--connections=1"],
};

const results = new Map<string, number[]>();
const cpu = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  const names = Object.keys(backends);
  if (round % 2 === 1) names.reverse();
  for (const name of names) {
    const server = await backends[name]();
    try {
      for (const [mode, extra] of Object.entries(modes)) {
        const c0 = server.cpu();
        const t0 = performance.now();
        const out = await new Deno.Command("nbdcopy", {
          args: [...extra, server.uri, "null:"],
          stdout: "null",
          stderr: "piped",
        }).output();
        const secs = (performance.now() - t0) / 1000;
        if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
        const key = `${mode}|${name}`;
        results.set(key, [...(results.get(key) ?? []), bytes / secs / 1e6]);
        const cpuPerGiB = (server.cpu() - c0) / (bytes / 2 ** 30);
        cpu.set(key, [...(cpu.get(key) ?? []), cpuPerGiB]);
      }
    } finally {
      await server.stop();
    }
  }
  console.log(`round ${round + 1}/${rounds} done`);
}

console.log(
  `\n${(bytes / 1048576).toFixed(0)} MiB image, ${rounds} rounds: MB/s (median; all rounds), ` +
    `and CPU seconds per GiB of the serving process (median; for qemu-nbd+splice ours only)`,
);
for (const mode of Object.keys(modes)) {
  console.log(`\n${mode}`);
  const base = median(results.get(`${mode}|qemu-nbd`)!);
  for (const name of Object.keys(backends)) {
    const xs = results.get(`${mode}|${name}`)!;
    const m = median(xs);
    console.log(
      `  ${name.padEnd(16)} ${m.toFixed(0).padStart(6)} MB/s  ×${
        (m / base).toFixed(2)
      } of qemu-nbd  ` +
        `${median(cpu.get(`${mode}|${name}`)!).toFixed(2)} CPU s/GiB  ` +
        `(${xs.map((x) => x.toFixed(0)).join(", ")})`,
    );
  }
}
console.log(
  `\npeak RSS of this process (serves builtin and splices qemu-nbd): ${
    (peakRssKb("self") / 1024).toFixed(0)
  } MiB`,
);
await Deno.remove(work, { recursive: true });

async function sh(script: string) {
  const r = await new Deno.Command("bash", { args: ["-c", script] }).output();
  if (!r.success) throw new Error(`failed: ${script}`);
}
