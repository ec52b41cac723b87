/**
 * One run at a time on a staged conversion: `virt-p2v --stage open` holds
 * it until its stdin ends, a second open is refused with one line, a
 * listing says it is in use, and a holder whose run falls silent (a
 * machine switched off, a link lost without a close) lets go.
 */
import assert from "node:assert/strict";
import { tempDir } from "./helpers/cleanup.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

const binding = {
  machine: "4c4c4544-0042-3510-8052-b4c04f4e4e31",
  disks: [{ name: "/dev/sdz", size: 1024 * 1024, serial: "" }],
  chunkBytes: 256 * 1024,
};

interface Holder {
  /** Its answer line, or undefined when it ended first. */
  answer: Promise<string | undefined>;
  stderr: Promise<string>;
  status: Promise<Deno.CommandStatus>;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
}

function stage(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN, "--stage", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string | undefined> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const piece of stream) {
    text += decoder.decode(piece, { stream: true });
    const end = text.indexOf("\n");
    if (end >= 0) {
      // Keep reading (and dropping) so the process never blocks on a full pipe.
      void (async () => {
        for await (const _ of stream) { /* dropped */ }
      })().catch(() => {});
      return text.slice(0, end);
    }
  }
  return undefined;
}

async function open(area: string, name: string, quietMs?: number): Promise<Holder> {
  const child = stage(["open", area, name]);
  const stdin = child.stdin.getWriter();
  await stdin.write(
    new TextEncoder().encode(JSON.stringify({ binding, step: "precopy", quietMs }) + "\n"),
  );
  return {
    answer: firstLine(child.stdout),
    stderr: new Response(child.stderr).text(),
    status: child.status,
    stdin,
  };
}

async function list(area: string): Promise<string> {
  const child = stage(["list", area]);
  await child.stdin.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("stage lock: a second run is refused while the first holds it; free again once it ends", async () => {
  const area = await tempDir({ prefix: "p2v-stage-lock." });
  try {
    const first = await open(area, "web01");
    assert.match((await first.answer) ?? "", /^\{"ok":true,/);
    assert.equal(JSON.parse(await list(area)).inUse, true);

    const second = await open(area, "web01");
    assert.equal(await second.answer, undefined);
    const status = await second.status;
    assert.notEqual(status.code, 0);
    const err = (await second.stderr).trim();
    assert.equal(err.split("\n").length, 1, err);
    assert.match(err, /another run is using the staged copy at .*web01 right now/);
    await second.stdin.close().catch(() => {});

    // Another name in the same area is not held.
    const other = await open(area, "db01");
    assert.match((await other.answer) ?? "", /"ok":true/);
    await other.stdin.close();
    assert.equal((await other.status).code, 0);

    await first.stdin.close();
    assert.equal((await first.status).code, 0);
    assert.equal(JSON.parse((await list(area)).split("\n")[1]).inUse, false);
    const third = await open(area, "web01");
    assert.match((await third.answer) ?? "", /"ok":true/);
    await third.stdin.close();
    assert.equal((await third.status).code, 0);
  } finally {
    await Deno.remove(area, { recursive: true });
  }
});

Deno.test("stage lock: a holder that hears nothing for its quiet time lets go", async () => {
  const area = await tempDir({ prefix: "p2v-stage-quiet." });
  try {
    const silent = await open(area, "web01", 1500);
    assert.match((await silent.answer) ?? "", /"ok":true/);
    // Its stdin stays open, as a run that vanished without a close leaves it.
    assert.equal((await silent.status).code, 0);
    const next = await open(area, "web01");
    assert.match((await next.answer) ?? "", /"ok":true/);
    await next.stdin.close();
    assert.equal((await next.status).code, 0);
    await silent.stdin.close().catch(() => {});
  } finally {
    await Deno.remove(area, { recursive: true });
  }
});
