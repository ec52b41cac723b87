/**
 * A conversion that survives a dropped link, driven through ssh2's own
 * server in this process: the server-side commands are the real ones, run by
 * a real bash with the real nbdkit relay and the stub virt-v2v (which reads
 * every byte), so only the SSH server is ours to break at will — drop every
 * connection mid-copy, refuse new ones, let one back in.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Config } from "../src/config/types.ts";
import type { EngineEvent } from "../src/engine/events.ts";
import { outcomeError } from "../src/engine/outcome.ts";
import { runPipeline } from "../src/engine/pipeline.ts";
import { DEFAULT_TIMEOUTS, type Timeouts } from "../src/engine/timeouts.ts";
import { nbdExportStarter } from "../src/nbd/backends.ts";
import { ENGINE_FACTS, engineConfig, stubVirtV2vDir } from "./helpers/engine_fixtures.ts";
import { makeDenseImage, MiB } from "./helpers/images.ts";
import { whenMidCopy } from "./helpers/mid_copy.ts";
import { run, sha256File, waitFor } from "./helpers/process.ts";
import {
  type ExecContext,
  type InProcessServer,
  runInBash,
  startInProcessServer,
} from "./helpers/ssh_test_server.ts";
import { tempDir } from "./helpers/cleanup.ts";

const CAPABILITIES = { version: "2.2.0", coloursOption: false, inputs: [], outputs: ["local"] };
const TIMEOUTS: Timeouts = {
  ...DEFAULT_TIMEOUTS,
  connectMs: 5_000,
  cancelGraceMs: 2_000,
  heartbeatMs: 300,
  relayRetryDelayMs: 1_000,
  reconnectBackoffMaxMs: 1_000,
  linkKeepaliveIntervalMs: 1_000,
  linkKeepaliveCountMax: 2,
  watchdogSlackMs: 1_000,
};
const DISK_BYTES = 24 * MiB;

const work = await tempDir({ prefix: "p2v-reconnect." });
const disk = await makeDenseImage(work, "disk.img", DISK_BYTES);
const diskSum = await sha256File(disk);
const out = join(work, "out");
await Deno.mkdir(out);
// Slow enough (about 3 s for the disk) for a drop to strike mid-copy.
const stubBin = await stubVirtV2vDir(work, "STUB_RATE=64M\n");

const FACTS = ENGINE_FACTS;

function config(name: string, reconnectSeconds: number): Config {
  return engineConfig({ name, disk, storage: out, reconnectSeconds });
}

function realServer(ctx: ExecContext): void {
  runInBash(ctx, { PATH: `${stubBin}:/usr/bin:/bin:/usr/sbin`, HOME: work });
}

/** The job's processes still alive: anything whose command line names the remote directory. */
async function jobProcesses(remoteDir: string): Promise<string> {
  if (remoteDir === "") return "";
  const r = await run("pgrep", ["-a", "-f", remoteDir], { check: false });
  return r.stdout.trim();
}

/** Calls `strike` once the stub has written between a quarter and three quarters of the disk. */
function midCopy(name: string, strike: () => void): () => void {
  return whenMidCopy(join(out, `${name}-sda`), DISK_BYTES, strike);
}

async function convert(
  server: InProcessServer,
  name: string,
  reconnectSeconds: number,
  signal = new AbortController().signal,
  onEvent: (e: EngineEvent) => void = () => {},
) {
  const events: EngineEvent[] = [];
  const outcome = await runPipeline({
    config: config(name, reconnectSeconds),
    facts: FACTS,
    timeouts: TIMEOUTS,
    emit: (e) => {
      events.push(e);
      onEvent(e);
    },
    signal,
    startExport: nbdExportStarter("builtin"),
    captureDiagnostics: () => Promise.resolve({}),
    capabilities: CAPABILITIES,
    open: server.open,
  });
  const dir = events.find((e) => e.type === "remote-dir");
  return { outcome, events, remoteDir: dir?.type === "remote-dir" ? dir.path : "" };
}

async function cleanUp(server: InProcessServer, remoteDir: string) {
  await server.close();
  if (remoteDir.startsWith("/tmp/virt-p2v-")) {
    await Deno.remove(remoteDir, { recursive: true }).catch(() => {});
  }
}

Deno.test("reconnect: a conversion with no drop runs detached and leaves nothing running", async () => {
  const server = await startInProcessServer({ exec: realServer });
  const r = await convert(server, "calm", 60);
  try {
    assert.equal(r.outcome.kind, "succeeded", JSON.stringify(r.outcome));
    assert.equal(await sha256File(join(out, "calm-sda")), diskSum);
    assert.ok(server.commands.some((c) => c.includes("setsid -f bash")), "the job ran detached");
    const job = await Deno.readTextFile(join(r.remoteDir, "virt-p2v-job.sh"));
    assert.match(job, /qemu-nbd -r -t .*reconnect-delay=/s, "qemu-nbd is the relay of choice");
    assert.ok(!r.events.some((e) => e.type === "warning"), JSON.stringify(r.events));
    assert.ok(r.events.some((e) => e.type === "output" && e.line.includes("Finishing off")));
    assert.equal(await jobProcesses(r.remoteDir), "");
  } finally {
    await cleanUp(server, r.remoteDir);
  }
});

Deno.test("reconnect: every connection dropped mid-copy, the conversion resumes and finishes", async () => {
  const server = await startInProcessServer({ exec: realServer });
  let dropped = false;
  const stop = midCopy("dropped", () => {
    dropped = true;
    server.dropAll();
  });
  const r = await convert(server, "dropped", 60);
  stop();
  try {
    assert.ok(dropped, "the drop never struck mid-copy");
    assert.equal(r.outcome.kind, "succeeded", JSON.stringify(r.outcome));
    assert.equal(await sha256File(join(out, "dropped-sda")), diskSum, "byte-identical");
    const lost = r.events.find((e) => e.type === "link-lost");
    const resumed = r.events.find((e) => e.type === "link-resumed");
    assert.ok(lost && resumed, JSON.stringify(r.events.filter((e) => e.type !== "disk-progress")));
    assert.equal(server.connections, 2);
    // The output was followed from where it stopped: no line twice, none lost.
    const lines = r.events.flatMap((e) => e.type === "output" ? [e.line] : []);
    assert.equal(lines.filter((l) => l.includes("Copying disk sda")).length, 1);
    assert.equal(lines.filter((l) => l.includes("Finishing off")).length, 1);
    assert.equal(await jobProcesses(r.remoteDir), "");
  } finally {
    await cleanUp(server, r.remoteDir);
  }
});

Deno.test("reconnect: with nbdkit's retry filter as the relay, a drop mid-copy is survived too", async () => {
  // A qemu-nbd too old for reconnect-delay: the job falls back to nbdkit.
  const oldQemu = await tempDir({ dir: work, prefix: "old-qemu." });
  await Deno.writeTextFile(join(oldQemu, "qemu-nbd"), "#!/bin/sh\necho 'qemu-nbd 4.1.0'\n", {
    mode: 0o755,
  });
  const server = await startInProcessServer({
    exec: (ctx) =>
      runInBash(ctx, { PATH: `${oldQemu}:${stubBin}:/usr/bin:/bin:/usr/sbin`, HOME: work }),
  });
  let dropped = false;
  const stop = midCopy("nbdkit-relay", () => {
    dropped = true;
    server.dropAll();
  });
  const r = await convert(server, "nbdkit-relay", 60);
  stop();
  try {
    assert.ok(dropped, "the drop never struck mid-copy");
    assert.equal(r.outcome.kind, "succeeded", JSON.stringify(r.outcome));
    assert.equal(await sha256File(join(out, "nbdkit-relay-sda")), diskSum, "byte-identical");
    const job = await Deno.readTextFile(join(r.remoteDir, "virt-p2v-job.sh"));
    assert.match(job, /nbdkit -r -f --exit-with-parent .* --filter=retry nbd/s);
    assert.ok(r.events.some((e) => e.type === "link-resumed"));
  } finally {
    await cleanUp(server, r.remoteDir);
  }
});

Deno.test("reconnect: no way back within p2v.reconnect fails, and the server ends the job itself", async () => {
  const server = await startInProcessServer({ exec: realServer });
  const stop = midCopy("gone", () => {
    server.accepting = false;
    server.dropAll();
  });
  const started = performance.now();
  const r = await convert(server, "gone", 2);
  stop();
  try {
    assert.equal(r.outcome.kind, "failed");
    const message = outcomeError(r.outcome, config("x", 2))!.message;
    assert.match(message, /lost during the conversion .*no new connection within 2 s/);
    assert.ok(r.events.filter((e) => e.type === "reconnecting").length >= 2);
    // The watchdog's bound: 2 s + 1 s × 2 keep-alives + 1 s slack, checked every 5 s.
    await waitFor(async () => (await jobProcesses(r.remoteDir)) === "", 20_000, "the job to end");
    console.log(
      `job gone ${((performance.now() - started) / 1000).toFixed(1)} s after the start`,
    );
  } finally {
    await cleanUp(server, r.remoteDir);
  }
});

Deno.test("reconnect: a cancel while reconnecting reaches the server once it is back, and stops the job", async () => {
  const server = await startInProcessServer({ exec: realServer });
  const abort = new AbortController();
  const stop = midCopy("cancelled", () => {
    server.accepting = false;
    server.dropAll();
    setTimeout(() => abort.abort(), 300);
    setTimeout(() => server.accepting = true, 1500);
  });
  const r = await convert(server, "cancelled", 60, abort.signal);
  stop();
  try {
    assert.equal(r.outcome.kind, "cancelled", JSON.stringify(r.outcome));
    assert.ok(r.events.some((e) => e.type === "link-resumed"), "reached the server again");
    await waitFor(async () => (await jobProcesses(r.remoteDir)) === "", 10_000, "the job to end");
  } finally {
    await cleanUp(server, r.remoteDir);
  }
});

Deno.test("reconnect: a server back with another host key is reported at once, refused, and the real one resumed", async () => {
  const server = await startInProcessServer({ exec: realServer });
  const { own, other } = server.hostKeys;
  let lostAt = 0;
  let warnedAfterMs: number | undefined;
  const stop = midCopy("rekeyed", () => {
    server.presentOtherHostKey = true;
    server.dropAll();
  });
  // The bound is long: the warning must come long before it runs out.
  const r = await convert(server, "rekeyed", 30, undefined, (e) => {
    if (e.type === "link-lost") lostAt = performance.now();
    if (e.type === "warning" && e.message.includes(other) && warnedAfterMs === undefined) {
      warnedAfterMs = performance.now() - lostAt;
      // A few more refused attempts, then the real server answers again.
      setTimeout(() => server.presentOtherHostKey = false, 2_500);
    }
  });
  stop();
  try {
    const shown = JSON.stringify(r.events.filter((e) => e.type !== "disk-progress"));
    assert.ok(warnedAfterMs !== undefined, `no warning naming the new host key: ${shown}`);
    assert.ok(warnedAfterMs < 10_000, `warned only after ${warnedAfterMs} ms`);
    const warnings = r.events.flatMap((e) => e.type === "warning" ? [e.message] : []);
    assert.equal(warnings.length, 1, "once, not at every refused attempt: " + shown);
    assert.match(warnings[0], /man-in-the-middle/);
    assert.match(warnings[0], /not the key this conversion started with/);
    assert.ok(warnings[0].includes(own) && warnings[0].includes(other), warnings[0]);
    assert.doesNotMatch(warnings[0], /p2v\.hostkey/, "no p2v.hostkey was set");
    assert.ok(r.events.filter((e) => e.type === "reconnecting").length >= 3, shown);
    assert.equal(r.outcome.kind, "succeeded", JSON.stringify(r.outcome));
    assert.equal(await sha256File(join(out, "rekeyed-sda")), diskSum, "byte-identical");
  } finally {
    await cleanUp(server, r.remoteDir);
  }
});

Deno.test("reconnect: a host key that stays changed ends the run at the bound, never naming p2v.hostkey", async () => {
  const server = await startInProcessServer({ exec: realServer });
  const stop = midCopy("impostor", () => {
    server.presentOtherHostKey = true;
    server.dropAll();
  });
  const r = await convert(server, "impostor", 3);
  stop();
  try {
    assert.equal(r.outcome.kind, "failed", JSON.stringify(r.outcome));
    const warnings = r.events.flatMap((e) => e.type === "warning" ? [e.message] : []);
    // The one at once, then the last attempt's reason when the bound ran out.
    assert.equal(warnings.length, 2, JSON.stringify(warnings));
    assert.match(warnings[0], /reconnecting goes on \(up to 3 s after the link was lost\)/);
    assert.match(warnings[1], /^reconnecting failed: possible man-in-the-middle attack/);
    for (const w of warnings) assert.doesNotMatch(w, /p2v\.hostkey/);
    await waitFor(async () => (await jobProcesses(r.remoteDir)) === "", 20_000, "the job to end");
  } finally {
    await cleanUp(server, r.remoteDir);
  }
});

addEventListener("unload", () => {
  Deno.removeSync(work, { recursive: true });
});
