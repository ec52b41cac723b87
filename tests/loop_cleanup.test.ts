/**
 * A test process that dies while it holds loop devices leaves none attached:
 * on SIGTERM its signal listener detaches them, on SIGKILL its reaper does.
 */
import assert from "node:assert/strict";
import { tempDir } from "./helpers/cleanup.ts";
import { run, waitFor } from "./helpers/process.ts";

const HELPER = new URL("./helpers/loop_devices.ts", import.meta.url).href;
const CHILD = `
import { withLoopDevices } from "${HELPER}";
await withLoopDevices([{ sizeMiB: 8, partitions: ["start=2048, size=4096"] }], async (d) => {
  console.log("attached " + d[0].path);
  setInterval(() => {}, 1000);
  await new Promise(() => {});
});
`;

/** Loop devices whose backing file is under `dir`. */
async function loopsUnder(dir: string): Promise<string[]> {
  const out = (await run("losetup", ["-nO", "NAME,BACK-FILE"])).stdout;
  return out.split("\n").filter((l) => l.includes(` ${dir}/`)).map((l) => l.split(" ")[0]);
}

for (const signal of ["SIGTERM", "SIGKILL"] as const) {
  Deno.test(`${signal} while a test holds a loop device: it is detached`, async () => {
    const tmp = await tempDir({ prefix: "p2v-lc." });
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", CHILD],
      env: { TMPDIR: tmp },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("attached")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    const name = /attached \/dev\/(loop\d+)/.exec(seen)?.[1];
    assert.ok(name, `no loop device in: ${seen}`);
    assert.equal((await loopsUnder(tmp)).length, 1, "the child's loop device is attached");
    child.kill(signal);
    await child.status;
    await reader.cancel();
    // The reaper detaches the device first, then removes the child's temporary root.
    await waitFor(
      async () => (await loopsUnder(tmp)).length === 0 && [...Deno.readDirSync(tmp)].length === 0,
      10_000,
      "the loop device and the child's files to go",
    );
    assert.deepEqual(await loopsUnder(tmp), []);
    assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name), []);
    await Deno.remove(tmp, { recursive: true });
  });
}
