/**
 * The data extents of real files, as nbdcopy will see them through block
 * status: a sparse image counts its written extents, not its size.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { allocatedBytes } from "../src/nbd/allocated.ts";
import { GiB, makeDenseImage, makeSparseImage, MiB } from "./helpers/images.ts";
import { run } from "./helpers/process.ts";

const work = await Deno.makeTempDir({ prefix: "p2v-alloc." });

Deno.test("allocated: a 2 GiB image holding 64 MiB counts 64 MiB", async () => {
  const path = await makeSparseImage(work, "sparse.img", 2 * GiB, 64);
  assert.equal(allocatedBytes(path), 64 * MiB);
});

Deno.test("allocated: a dense image counts all of it, an empty one nothing", async () => {
  const dense = await makeDenseImage(work, "dense.img", 3 * MiB);
  assert.equal(allocatedBytes(dense), 3 * MiB);
  const empty = join(work, "empty.img");
  await run("truncate", ["-s", String(1 * GiB), empty]);
  assert.equal(allocatedBytes(empty), 0);
});

Deno.test("allocated: what cannot be known is undefined (no file, not a file)", () => {
  assert.equal(allocatedBytes(join(work, "missing.img")), undefined);
  assert.equal(allocatedBytes(work), undefined);
  assert.equal(allocatedBytes("/dev/null"), undefined);
});
