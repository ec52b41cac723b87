// Measurement (not a test): cut our session during virt-v2v's "Converting ... to run on KVM".
import { join } from "node:path";
import { p2vArgs, runP2v } from "../helpers/p2v.ts";
import { run } from "../helpers/process.ts";
import { startSshd, TEST_USER } from "../helpers/sshd.ts";
import { makeOutputDir } from "../helpers/stub_server.ts";
import { guestFacts, installRealVirtV2v, LIBGUESTFS_ENV } from "./support.ts";
const built = await run(new URL("../fixtures/make-guest.sh", import.meta.url).pathname, [], { env: LIBGUESTFS_ENV });
const guest = built.stdout.trim().split("\n").at(-1)!;
const sshd = await startSshd();
await installRealVirtV2v(sshd);
const out = await makeOutputDir(sshd);
const delay = Number(Deno.args[0] ?? "20000");
let cutAt = 0; const t0 = performance.now();
const r = await runP2v(p2vArgs(`p2v.server=127.0.0.1 p2v.port=${sshd.port} p2v.username=${TEST_USER} p2v.identity=file://${sshd.userKeyPath} p2v.network=default p2v.memory=1G p2v.vcpu.cores=2 p2v.post=true p2v.name=conv p2v.disks=${guest} p2v.o=local p2v.os=${out}`), {
  timeoutMs: 40 * 60_000,
  onOutput: (t) => {
    if (cutAt || !/\] Converting .* to run on KVM/.test(t)) return;
    cutAt = performance.now();
    setTimeout(async () => { console.log(`cut at ${((performance.now()-t0)/1000).toFixed(0)} s`); for (const p of await sshd.sessionPids()) { try { Deno.kill(p, "SIGKILL"); } catch {} } }, delay);
  },
});
console.log("exit", r.code, r.stderr.trim());
console.log(r.stdout.split("\n").filter((l) => /lost|Reconnect|\[ *[0-9.]+\]|error/.test(l)).join("\n"));
if (r.code === 0) console.log(JSON.stringify(await guestFacts([join(out, "conv-sda")], "raw")));
const dir = /Remote directory: (\S+)/.exec(r.stdout)?.[1];
if (dir) console.log((await Deno.readTextFile(join(dir, "virt-v2v-conversion-log.txt"))).split("\n").filter(l => /error|nbd|reconnect/i.test(l)).slice(-15).join("\n"));
await sshd.stop();
