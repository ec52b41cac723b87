/**
 * The conversion pipeline over a real SSH implementation in this process
 * (ssh2's Server on a socket pair): the test decides how the "server"
 * answers each command, which drives the branches that a real sshd reaches
 * only by chance — no exit status, a job that ignores Ctrl-C, a connection
 * that drops during the upload or the copy, forwarding refused.
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
import { sha256File } from "./helpers/process.ts";
import {
  type ExecContext,
  type InProcessServer,
  runInBash,
  startInProcessServer,
} from "./helpers/ssh_test_server.ts";
import { tempDir } from "./helpers/cleanup.ts";

const CAPABILITIES = { version: "2.2.0", coloursOption: false, inputs: [], outputs: ["local"] };
const TIMEOUTS: Timeouts = { ...DEFAULT_TIMEOUTS, connectMs: 10_000, cancelGraceMs: 400 };

const work = await tempDir({ prefix: "p2v-engine." });
const disk = await makeDenseImage(work, "disk.img", 8 * MiB);
const out = join(work, "out");
await Deno.mkdir(out);
const stubBin = await stubVirtV2vDir(work);

const FACTS = ENGINE_FACTS;

/** Without p2v.reconnect: the wrapper runs on a PTY, as in the original. */
function config(name: string, reconnectSeconds = 0): Config {
  return engineConfig({ name, disk, storage: out, reconnectSeconds, password: "pw-engine-test" });
}

/** The real commands run by a real bash, virt-v2v being the stub (it reads every byte). */
function realServer(ctx: ExecContext): void {
  runInBash(ctx, { PATH: `${stubBin}:/usr/bin:/bin`, HOME: work });
}

const isControl = (command: string) => command.includes("virt-v2v-wrapper.sh; exit");
const isUpload = (command: string) => command.includes("mkdir -m 700");

async function convert(
  server: InProcessServer,
  name: string,
  signal = new AbortController().signal,
) {
  const events: EngineEvent[] = [];
  const outcome = await runPipeline({
    config: config(name),
    facts: FACTS,
    timeouts: TIMEOUTS,
    emit: (e) => events.push(e),
    signal,
    startExport: nbdExportStarter("builtin"),
    captureDiagnostics: () =>
      Promise.resolve({ dmesg: "Command line: p2v.password=pw-engine-test\n" }),
    capabilities: CAPABILITIES,
    open: server.open,
  });
  const remoteDir = events.find((e) => e.type === "remote-dir");
  return { outcome, events, remoteDir: remoteDir?.type === "remote-dir" ? remoteDir.path : "" };
}

async function removeRemoteDir(dir: string) {
  if (dir.startsWith("/tmp/virt-p2v-")) await Deno.remove(dir, { recursive: true }).catch(() => {});
}

Deno.test("engine: a conversion through the in-process server copies every byte", async () => {
  const server = await startInProcessServer({ exec: realServer });
  const r = await convert(server, "ok1");
  try {
    assert.equal(r.outcome.kind, "succeeded", JSON.stringify(r.outcome));
    assert.equal(await sha256File(join(out, "ok1-sda")), await sha256File(disk));
    // One command made the directory and wrote every file; the password never left.
    assert.equal(server.commands.filter(isUpload).length, 1);
    assert.equal((await Deno.stat(r.remoteDir)).mode! & 0o777, 0o700);
    assert.equal(
      await Deno.readTextFile(join(r.remoteDir, "dmesg")),
      "Command line: p2v.password=***\n",
    );
    assert.deepEqual(server.forwards, [], "every forward was cancelled");
  } finally {
    await removeRemoteDir(r.remoteDir);
    await server.close();
  }
});

Deno.test("engine: a job that ends without an exit status is a lost connection, said so", async () => {
  const server = await startInProcessServer({
    exec(ctx) {
      if (!isControl(ctx.command)) return realServer(ctx);
      ctx.channel.write("[   0.0] Setting up the source\r\n");
      // sshd does this when the remote command is killed by something it cannot report.
      setTimeout(() => ctx.channel.close(), 50);
    },
  });
  const r = await convert(server, "nostatus");
  try {
    assert.equal(r.outcome.kind, "failed");
    assert.match(
      outcomeError(r.outcome, config("x"))!.message,
      /lost during the conversion \(the remote command ended without an exit status\)/,
    );
    assert.ok(
      r.events.some((e) => e.type === "output" && e.line === "[   0.0] Setting up the source"),
    );
  } finally {
    await removeRemoteDir(r.remoteDir);
    await server.close();
  }
});

Deno.test("engine: a job that ignores Ctrl-C is hung up when the grace time is over", async () => {
  let interrupted = 0;
  let closedAt = 0;
  const { promise: controlStarted, resolve: controlRuns } = Promise.withResolvers<void>();
  const server = await startInProcessServer({
    exec(ctx) {
      if (!isControl(ctx.command)) return realServer(ctx);
      controlRuns();
      assert.ok(ctx.pty, "the control command runs on a PTY");
      ctx.channel.on("data", (d: Uint8Array) => {
        if (d.includes(3)) interrupted = performance.now();
      });
      ctx.channel.on("close", () => closedAt = performance.now());
      ctx.channel.write("[   0.0] Copying disk 1/1\r\n");
    },
  });
  const abort = new AbortController();
  const pending = convert(server, "grace", abort.signal);
  // Cancel once the job runs, however long the set-up took on a busy machine.
  await controlStarted;
  await new Promise((r) => setTimeout(r, 100));
  abort.abort();
  const r = await pending;
  try {
    assert.equal(r.outcome.kind, "cancelled");
    assert.ok(interrupted > 0, "Ctrl-C was sent");
    const waited = closedAt - interrupted;
    assert.ok(waited >= TIMEOUTS.cancelGraceMs - 20, `hung up after ${waited} ms`);
    assert.equal(outcomeError(r.outcome, config("x"))!.message, "cancelled by user");
  } finally {
    await removeRemoteDir(r.remoteDir);
    await server.close();
  }
});

Deno.test("engine: a job that honours Ctrl-C ends the run as cancelled", async () => {
  const { promise: controlStarted, resolve: controlRuns } = Promise.withResolvers<void>();
  const server = await startInProcessServer({
    exec(ctx) {
      if (!isControl(ctx.command)) return realServer(ctx);
      controlRuns();
      ctx.channel.on("data", (d: Uint8Array) => {
        if (!d.includes(3)) return;
        // What the wrapper does when virt-v2v dies of SIGINT.
        ctx.channel.write("*** virt-v2v command failed ***\r\n");
        ctx.channel.exit(130);
        ctx.channel.end();
      });
    },
  });
  const abort = new AbortController();
  const pending = convert(server, "cancel", abort.signal);
  await controlStarted;
  await new Promise((r) => setTimeout(r, 100));
  abort.abort();
  const started = performance.now();
  const r = await pending;
  try {
    assert.equal(r.outcome.kind, "cancelled");
    assert.ok(
      performance.now() - started < TIMEOUTS.cancelGraceMs,
      "no need to wait for the grace",
    );
  } finally {
    await removeRemoteDir(r.remoteDir);
    await server.close();
  }
});

Deno.test("engine: the connection dropping during the upload fails the run and cleans up", async () => {
  const server = await startInProcessServer({
    exec(ctx) {
      if (!isUpload(ctx.command)) return realServer(ctx);
      // Take a little of the upload, then the link dies.
      ctx.channel.once("data", () => ctx.drop());
    },
  });
  const r = await convert(server, "upload");
  try {
    assert.equal(r.outcome.kind, "failed");
    assert.equal(r.outcome.kind === "failed" && r.outcome.stage, "conversion");
    assert.match(
      outcomeError(r.outcome, config("x"))!.message,
      /connection lost while running a remote command/,
    );
    assert.ok(!server.commands.some(isControl), "virt-v2v was never started");
  } finally {
    await removeRemoteDir(r.remoteDir);
    await server.close();
  }
});

Deno.test("engine: the connection dropping while virt-v2v runs is reported as lost", async () => {
  const server = await startInProcessServer({
    exec(ctx) {
      if (!isControl(ctx.command)) return realServer(ctx);
      ctx.channel.write("[   0.0] Copying disk 1/1\r\n");
      setTimeout(() => ctx.drop(), 100);
    },
  });
  const r = await convert(server, "drop");
  try {
    assert.equal(r.outcome.kind, "failed");
    const message = outcomeError(r.outcome, config("x"))!.message;
    assert.match(message, /the connection to the conversion server was lost during the conversion/);
    assert.ok(message.includes(r.remoteDir), "the message names the remote log directory");
  } finally {
    await removeRemoteDir(r.remoteDir);
    await server.close();
  }
});

Deno.test("engine: reverse forwarding refused stops before anything is uploaded", async () => {
  const server = await startInProcessServer({ exec: realServer, allowForwarding: false });
  const r = await convert(server, "nofwd");
  try {
    assert.equal(r.outcome.kind, "failed");
    assert.match(
      outcomeError(r.outcome, config("x"))!.message,
      /refused reverse port forwarding .*AllowTcpForwarding yes/,
    );
    // Only the read-only look at -os ran: nothing was made or uploaded there.
    assert.ok(server.commands.length <= 1, server.commands.join("\n"));
    assert.deepEqual(server.commands.filter((c) => /mkdir|virt-v2v/.test(c)), []);
    assert.equal(r.remoteDir, "");
  } finally {
    await server.close();
  }
});

Deno.test("engine: a failing test connection is the connect stage, with the original's prefix", async () => {
  const server = await startInProcessServer({
    exec(ctx) {
      ctx.channel.write("virt-v2v: unrecognized option '--version'\n");
      ctx.channel.exit(1);
      ctx.channel.end();
    },
  });
  const c = config("probe");
  const outcome = await runPipeline({
    config: c,
    facts: FACTS,
    timeouts: TIMEOUTS,
    emit: () => {},
    signal: new AbortController().signal,
    startExport: nbdExportStarter("builtin"),
    captureDiagnostics: () => Promise.resolve({}),
    open: server.open,
  });
  try {
    assert.equal(outcome.kind === "failed" && outcome.stage, "connect");
    const error = outcomeError(outcome, c)!;
    assert.equal(error.prefix, "error opening control connection to conv.test:22: ");
    assert.match(error.message, /virt-v2v is not installed on the conversion server/);
  } finally {
    await server.close();
  }
});

Deno.test("engine: no virt-v2v for the user is the server stage, not a connection error", async () => {
  const server = await startInProcessServer({
    exec(ctx) {
      if (ctx.command.includes("command -v virt-v2v")) {
        ctx.channel.write("virt-v2v=\nPATH=/usr/bin:/bin\n");
        ctx.channel.exit(0);
      } else {
        ctx.channel.write("bash: line 1: virt-v2v: command not found\n");
        ctx.channel.exit(127);
      }
      ctx.channel.end();
    },
  });
  const c = config("probe");
  const outcome = await runPipeline({
    config: c,
    facts: FACTS,
    timeouts: TIMEOUTS,
    emit: () => {},
    signal: new AbortController().signal,
    startExport: nbdExportStarter("builtin"),
    captureDiagnostics: () => Promise.resolve({}),
    open: server.open,
  });
  try {
    assert.equal(outcome.kind === "failed" && outcome.stage, "server");
    const error = outcomeError(outcome, c)!;
    assert.equal(error.prefix, "error: ");
    assert.equal(
      error.message,
      'virt-v2v was not found on the conversion server in the PATH of user "p2v" ' +
        "(/usr/bin:/bin); install virt-v2v there, or log in as a user that has it (p2v.username)",
    );
  } finally {
    await server.close();
  }
});

Deno.test("engine: cancelled before the connection is up is a cancel, not a connection error", async () => {
  const server = await startInProcessServer({ exec: realServer });
  const abort = new AbortController();
  abort.abort();
  const r = await convert(server, "early", abort.signal);
  try {
    assert.equal(r.outcome.kind, "cancelled");
    assert.equal(server.commands.length, 0);
  } finally {
    await server.close();
  }
});

addEventListener("unload", () => {
  Deno.removeSync(work, { recursive: true });
});
