/**
 * Start-up latency of the program, medians of alternated runs:
 *   connecting   — from spawn to the first "Connecting to …" line of an
 *                  unattended run (to a closed loopback port, so it ends fast);
 *   first frame  — from spawn to the first painted frame of the dialog
 *                  (its "Test connection" button) on a pseudo-terminal (script).
 * Each for `deno run main.ts` (`deno task start`) and, when present, for the
 * bundle dist/virt-p2v.js on deno (`./build.sh bundle`) and for the single
 * file dist/virt-p2v (`./build.sh`; what the boot images run), which first
 * unpacks its runtime into memory.
 *
 *   deno run -A tests/bench/startup.ts [--rounds=7] [--compare=OTHER_TREE]
 *
 * `--compare=DIR[,DIR…]` adds the same programs from other checkouts (say, an older
 * commit unpacked with `git archive`), alternated with ours.
 */
import { fileURLToPath } from "node:url";
import { freePort } from "../helpers/process.ts";
import { loadAverage, median } from "./proc_stats.ts";

const args = new Map(Deno.args.map((a) => a.replace(/^--/, "").split("=", 2) as [string, string]));
const rounds = Number(args.get("rounds") ?? 7);
const HERE = fileURLToPath(new URL("../..", import.meta.url));

interface Program {
  name: string;
  argv: string[];
}

function programsOf(tree: string, label: string): Program[] {
  const flags = ["run", "--allow-all", "--quiet", "--v8-flags=--max-semi-space-size=1"];
  const list = [{
    name: `${label}deno run main.ts`,
    argv: [Deno.execPath(), ...flags, `${tree}/main.ts`],
  }];
  try {
    Deno.statSync(`${tree}/dist/virt-p2v.js`);
    list.push({
      name: `${label}bundle`,
      argv: [Deno.execPath(), ...flags, "--no-config", `${tree}/dist/virt-p2v.js`],
    });
  } catch { /* not built */ }
  try {
    Deno.statSync(`${tree}/dist/virt-p2v`);
    list.push({ name: `${label}single file`, argv: [`${tree}/dist/virt-p2v`] });
  } catch { /* not built */ }
  return list;
}

const others = (args.get("compare") ?? "").split(",").filter((d) => d !== "");
const programs = [
  ...programsOf(HERE.replace(/\/$/, ""), others.length > 0 ? "this tree, " : ""),
  ...others.flatMap((dir) => programsOf(dir.replace(/\/$/, ""), `${dir}, `)),
];

/** Milliseconds from spawn until `marker` appears in what the child writes to stdout. */
async function timeUntil(argv: string[], marker: string, pty: boolean): Promise<number> {
  const [cmd, ...rest] = pty
    ? ["script", "-qfec", argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" "), "/dev/null"]
    : argv;
  const started = performance.now();
  const child = new Deno.Command(cmd, {
    args: rest,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1", TERM: "xterm", COLUMNS: "100", LINES: "30" },
  }).spawn();
  let seen = "";
  let at = NaN;
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    seen += decoder.decode(chunk, { stream: true });
    if (Number.isNaN(at) && seen.includes(marker)) {
      at = performance.now() - started;
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
  }
  await child.stdin.close().catch(() => {});
  await child.status;
  if (Number.isNaN(at)) throw new Error(`never saw "${marker}" from ${argv.join(" ")}:\n${seen}`);
  return at;
}

const closedPort = freePort();
// A disk to name: a machine with no disk of its own stops before connecting.
const disk = await Deno.makeTempFile({ prefix: "p2v-startup-disk." });
await Deno.truncate(disk, 1024 * 1024);
const cases = programs.flatMap((p) => [
  {
    name: `${p.name}: to "Connecting"`,
    run: () =>
      timeUntil(
        [
          ...p.argv,
          `--cmdline=p2v.server=127.0.0.1 p2v.port=${closedPort} p2v.disks=${disk} p2v.post=`,
        ],
        "Connecting to",
        false,
      ),
  },
  {
    name: `${p.name}: to first dialog frame`,
    run: () => timeUntil([...p.argv, "--cmdline=p2v.post="], "Test connection", true),
  },
]);

console.log(`${rounds} rounds; ${loadAverage()}`);
const results = new Map<string, number[]>(cases.map((c) => [c.name, []]));
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? cases : [...cases].reverse();
  for (const c of order) results.get(c.name)!.push(await c.run());
}
console.log(`done; ${loadAverage()}\n\n| what | median ms | min ms | all |\n|---|---|---|---|`);
for (const c of cases) {
  const xs = results.get(c.name)!;
  const all = xs.map((x) => x.toFixed(0)).join(" ");
  console.log(`| ${c.name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${all} |`);
}
await Deno.remove(disk);
