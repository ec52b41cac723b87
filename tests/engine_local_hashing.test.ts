/**
 * The cutover's early hashing of the source disks: it gives the hashes a
 * later read would, one disk after another; a disk that cannot be read
 * fails only where its hashes are awaited, with the disk named; stopping
 * it is not reported as a disk error.
 */
import assert from "node:assert/strict";
import { startLocalHashing } from "../src/engine/chunk_sync.ts";
import { hashChunks } from "../src/stage/chunk_hashes.ts";
import { UserError } from "../src/errors.ts";

async function imageOf(dir: string, name: string, size: number, seed: number): Promise<string> {
  const path = `${dir}/${name}`;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * seed + (i >> 11)) & 0xff;
  await Deno.writeFile(path, data);
  return path;
}

Deno.test("local hashing: the same hashes as a read at the time, disk by disk", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2v-hashing." });
  try {
    const disks = [
      { name: await imageOf(dir, "a.img", 3 * 256 * 1024, 7), size: 3 * 256 * 1024 },
      // Not a whole number of chunks: the last one is short.
      { name: await imageOf(dir, "b.img", 256 * 1024 + 4096, 13), size: 256 * 1024 + 4096 },
    ];
    const started = startLocalHashing(disks, new AbortController().signal);
    assert.equal(started.length, 2);
    for (const [i, disk] of disks.entries()) {
      assert.deepEqual(await started[i], await hashChunks(disk.name, disk.size));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local hashing: an unreadable disk fails where awaited, naming it; the next still hashes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2v-hashing." });
  try {
    const good = await imageOf(dir, "good.img", 256 * 1024, 5);
    const started = startLocalHashing([
      { name: `${dir}/missing.img`, size: 256 * 1024 },
      { name: good, size: 256 * 1024 },
      { name: `${dir}/gone.img`, size: 256 * 1024 },
    ], new AbortController().signal);
    // Left unawaited for a while: a rejection meanwhile must not count as unhandled.
    await new Promise((r) => setTimeout(r, 100));
    for (const [i, name] of [[0, "missing"], [2, "gone"]] as const) {
      await assert.rejects(started[i], (err: Error) => {
        assert.ok(err instanceof UserError);
        assert.match(err.message, new RegExp(`^cannot read disk .*${name}\\.img: `));
        return true;
      });
    }
    assert.deepEqual(await started[1], await hashChunks(good, 256 * 1024));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local hashing: stopped, it rejects as stopped, not as a disk error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2v-hashing." });
  try {
    const path = await imageOf(dir, "a.img", 4 * 256 * 1024, 3);
    const stop = new AbortController();
    stop.abort();
    const [hashed] = startLocalHashing([{ name: path, size: 4 * 256 * 1024 }], stop.signal);
    await assert.rejects(hashed, (err: Error) => {
      assert.ok(!(err instanceof UserError));
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
