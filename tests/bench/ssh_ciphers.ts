/**
 * The SSH send path alone, per cipher: MB/s and CPU seconds per GiB of a
 * process that streams data through ssh2 into `cat > /dev/null` on a test
 * sshd (tests/bench/ssh_send.ts), with our libcrypto ciphers or ssh2's
 * node:crypto code, over our TcpSocket or node:net. Alternated rounds,
 * medians. Not part of `deno task test`.
 *
 *   deno run -A tests/bench/ssh_ciphers.ts [--mib=512] [--rounds=3] [--only=aes128-gcm]
 */
import { fileURLToPath } from "node:url";
import { startSshd, TEST_USER } from "../helpers/sshd.ts";
import { loadAverage, median } from "./proc_stats.ts";

const args = new Map(Deno.args.map((a) => a.replace(/^--/, "").split("=", 2) as [string, string]));
const bytes = Number(args.get("mib") ?? 512) * 1048576;
const rounds = Number(args.get("rounds") ?? 3);
const only = args.get("only");
const SENDER = fileURLToPath(new URL("./ssh_send.ts", import.meta.url));

interface Config {
  name: string;
  cipher: string;
  crypto: "libcrypto" | "node";
  transport: "deno" | "node";
}

const CIPHERS = [
  "aes128-gcm@openssh.com",
  "chacha20-poly1305@openssh.com",
  "aes256-gcm@openssh.com",
  "aes128-ctr",
];
const configs: Config[] = [];
for (const cipher of CIPHERS.filter((c) => !only || c.startsWith(only))) {
  for (const crypto of ["libcrypto", "node"] as const) {
    for (const transport of ["deno", "node"] as const) {
      configs.push({ name: `${cipher} ${crypto} ${transport}-socket`, cipher, crypto, transport });
    }
  }
}

const sshd = await startSshd();
const results = new Map<string, { rate: number[]; cpu: number[] }>();
try {
  console.log(`${bytes / 1048576} MiB per run, ${rounds} rounds; ${loadAverage()}`);
  for (let round = 0; round < rounds; round++) {
    const order = configs.map((_, i) => configs[(i + round) % configs.length]);
    for (const c of order) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          "--quiet",
          "--v8-flags=--max-semi-space-size=1",
          SENDER,
          String(sshd.port),
          TEST_USER,
          sshd.userKeyPath,
          c.cipher,
          String(bytes),
          c.transport,
        ],
        env: c.crypto === "node" ? { VIRT_P2V_NO_LIBCRYPTO: "1" } : {},
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) throw new Error(`${c.name}: ${new TextDecoder().decode(out.stderr)}`);
      const r = JSON.parse(new TextDecoder().decode(out.stdout));
      if (r.negotiated !== c.cipher) throw new Error(`${c.name}: negotiated ${r.negotiated}`);
      const entry = results.get(c.name) ?? { rate: [], cpu: [] };
      entry.rate.push(bytes / 1e6 / r.seconds);
      entry.cpu.push(r.cpu / (bytes / 2 ** 30));
      results.set(c.name, entry);
    }
    console.log(`round ${round + 1}/${rounds} done; ${loadAverage()}`);
  }
} finally {
  await sshd.stop();
}
console.log("\n| cipher, crypto, transport | MB/s | CPU s/GiB (sender) |");
console.log("|---|---|---|");
for (const c of configs) {
  const r = results.get(c.name)!;
  console.log(`| ${c.name} | ${median(r.rate).toFixed(0)} | ${median(r.cpu).toFixed(2)} |`);
}
