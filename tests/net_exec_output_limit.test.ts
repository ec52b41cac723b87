/**
 * `exec` collects a command's output, so what it keeps is capped: a server
 * that floods the answer gets a clear error, not our memory. Driven through
 * ssh2's own server in this process.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { EXEC_OUTPUT_LIMIT } from "../src/net/session.ts";
import { type ExecContext, startInProcessServer } from "./helpers/ssh_test_server.ts";

const MiB = 1024 * 1024;

/** `flood N`: N MiB on stdout (or stderr with `flood-err N`), then exit 0; anything else: "ok". */
function answer(ctx: ExecContext): void {
  const m = /^flood(-err)? (\d+)$/.exec(ctx.command);
  if (m) {
    const target = m[1] ? ctx.channel.stderr : ctx.channel;
    const chunk = Buffer.alloc(64 * 1024, "x");
    let left = Number(m[2]) * 16;
    const more = () => {
      while (left > 0) {
        left--;
        if (!target.write(chunk)) return void ctx.channel.once("drain", more);
      }
      ctx.channel.exit(0);
      ctx.channel.end();
    };
    // A client that has hung up closes the channel: stop writing.
    ctx.channel.on("close", () => left = 0);
    more();
    return;
  }
  ctx.channel.write("ok\n");
  ctx.channel.exit(0);
  ctx.channel.end();
}

Deno.test("exec: an answer beyond the cap fails with what was run and the cap; the session goes on", async () => {
  const server = await startInProcessServer({ exec: answer });
  const session = await server.open({
    host: "test",
    port: 22,
    credentials: { username: "test" },
    connectTimeoutMs: 5000,
    keepaliveIntervalMs: 0,
    keepaliveCountMax: 3,
  });
  try {
    assert.equal(EXEC_OUTPUT_LIMIT, MiB);
    await assert.rejects(
      session.exec("flood 64", { what: "virt-v2v --version" }),
      (err: Error) => {
        assert.equal(
          err.message,
          "the conversion server's answer to `virt-v2v --version` exceeded 1 MiB; " +
            "check what that command prints on the conversion server",
        );
        return true;
      },
    );
    await assert.rejects(session.exec("flood-err 8"), /answer to `flood-err 8` exceeded 1 MiB/);
    await assert.rejects(
      session.exec("flood 1", { maxOutputBytes: 1000 }),
      /answer to `flood 1` exceeded 1000 bytes/,
    );
    // Under the cap, all of it; and the session still works after the floods.
    const fits = await session.exec("flood 1", { maxOutputBytes: 2 * MiB });
    assert.equal(fits.stdout.length, MiB);
    assert.equal((await session.exec("hello")).stdout, "ok\n");
  } finally {
    session.close();
    await server.close();
  }
});
