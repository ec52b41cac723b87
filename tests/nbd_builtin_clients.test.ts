/**
 * The built-in NBD server against the real clients a conversion server uses:
 * libnbd's nbdinfo and nbdcopy, qemu-img and qemu-io. Each connection to the
 * test's unix socket is handed to `attach()`, as the engine does with every
 * ssh2 forward channel.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { GiB, makeDenseImage, makeSparseImage, MiB } from "./helpers/images.ts";
import { withServer } from "./helpers/nbd_server.ts";
import { run, sha256File } from "./helpers/process.ts";
import { tempDir } from "./helpers/cleanup.ts";

const work = await tempDir({ prefix: "p2v-nbd-clients." });
addEventListener("unload", () => {
  try {
    Deno.removeSync(work, { recursive: true });
  } catch { /* already gone */ }
});
const SPARSE_SIZE = 4 * GiB;
const SPARSE_CHUNKS = 32;
const dense = await makeDenseImage(work, "dense.img", 1 * GiB);
const sparse = await makeSparseImage(work, "sparse.img", SPARSE_SIZE, SPARSE_CHUNKS);
const denseSum = await sha256File(dense);
// Hashing 4 GiB of mostly holes takes ~12 s here; sparse files are compared with
// `qemu-img compare` instead (byte-exact, but it skips holes on both sides).
const sparsePristine = join(work, "sparse.pristine");
await run("cp", ["--sparse=always", sparse, sparsePristine]);
const mtimes = { dense: (await Deno.stat(dense)).mtime, sparse: (await Deno.stat(sparse)).mtime };

async function assertIdentical(a: string, b: string) {
  const r = await run("qemu-img", ["compare", "-q", "-f", "raw", "-F", "raw", a, b], {
    check: false,
  });
  assert.equal(r.code, 0, `${a} and ${b} differ: ${r.stdout}${r.stderr}`);
}

/** Where makeSparseImage put its 1 MiB data chunks. */
function sparseDataOffsets(): number[] {
  const stride = Math.floor(SPARSE_SIZE / MiB / SPARSE_CHUNKS);
  return Array.from({ length: SPARSE_CHUNKS }, (_, i) => (i * stride + (i % 7)) * MiB);
}

/** Allocated bytes of a file (du), to tell sparse from dense. */
async function allocatedBytes(path: string): Promise<number> {
  return (await Deno.stat(path)).blocks! * 512;
}

async function nbdinfoJson(args: string[]): Promise<Record<string, unknown>> {
  return JSON.parse((await run("nbdinfo", ["--json", ...args])).stdout);
}

Deno.test("nbdinfo: size, read-only, multi-conn, flush, cache, block sizes, base:allocation", async () => {
  await withServer(sparse, async (s) => {
    const info = await nbdinfoJson([s.uri]);
    assert.equal(info.protocol, "newstyle-fixed");
    assert.equal(info.structured, true);
    const [e] = info.exports as Record<string, unknown>[];
    assert.equal(e["export-size"], SPARSE_SIZE);
    assert.equal(e.is_read_only, true);
    assert.equal(e.can_multi_conn, true);
    assert.equal(e.can_flush, true);
    assert.equal(e.can_cache, true);
    assert.equal(e.can_df, true);
    assert.equal(e.can_trim, false);
    assert.equal(e.can_zero, false);
    assert.equal(e.can_fua, false);
    assert.equal(e.block_size_minimum, 1);
    assert.equal(e.block_size_preferred, 4096);
    assert.equal(e.block_size_maximum, 32 * MiB);
    assert.deepEqual(e.contexts, ["base:allocation"]);
  });
});

Deno.test("nbdinfo --list shows the one default export with its description", async () => {
  await withServer(sparse, async (s) => {
    const info = await nbdinfoJson(["--list", s.uri]);
    const exports = info.exports as Record<string, unknown>[];
    assert.equal(exports.length, 1);
    assert.equal(exports[0]["export-name"], "");
    assert.match(String(exports[0].description), /sparse\.img/);
  });
});

Deno.test("nbdinfo --map shows a sparse image's holes as holes and its data as data", async () => {
  await withServer(sparse, async (s) => {
    const map = JSON.parse((await run("nbdinfo", ["--map", "--json", s.uri])).stdout) as {
      offset: number;
      length: number;
      type: number;
    }[];
    const expected: [number, number, number][] = [];
    let pos = 0;
    for (const off of sparseDataOffsets()) {
      if (off > pos) expected.push([pos, off - pos, 3]);
      expected.push([off, MiB, 0]);
      pos = off + MiB;
    }
    if (pos < SPARSE_SIZE) expected.push([pos, SPARSE_SIZE - pos, 3]);
    assert.deepEqual(map.map((m) => [m.offset, m.length, m.type]), expected);
  });
});

Deno.test("nbdcopy of a 1 GiB random image: identical, one connection × 64 requests and multi-conn", async () => {
  const out = join(work, "dense.copy");
  await withServer(dense, async (s) => {
    // Like virt-v2v's copier: one connection, 64 requests in flight.
    await run("nbdcopy", ["--connections=1", "--requests=64", s.uri, out]);
    assert.equal(await sha256File(out), denseSum);
    await Deno.remove(out);
    // nbdcopy's default: several connections (we advertise multi-conn), to a pipe.
    const r = await run("bash", ["-c", `set -o pipefail; nbdcopy '${s.uri}' - | sha256sum`]);
    assert.equal(r.stdout.split(" ")[0], denseSum);
    assert.equal(s.clientErrors.length, 0, s.clientErrors.join("\n"));
  });
});

Deno.test("nbdcopy of a sparse 4 GiB image: identical and still sparse", async () => {
  const out = join(work, "sparse.copy");
  await withServer(sparse, async (s) => {
    await run("nbdcopy", [s.uri, out]);
    const sentBefore = s.exp.bytesSent;
    assert.ok(sentBefore < 256 * MiB, `only the data should travel, sent ${sentBefore}`);
  });
  assert.equal((await Deno.stat(out)).size, SPARSE_SIZE);
  await assertIdentical(out, sparse);
  assert.ok(await allocatedBytes(out) <= 2 * SPARSE_CHUNKS * MiB, "holes stayed holes");
  await Deno.remove(out);
});

Deno.test("qemu-img compare finds the export identical to the 1 GiB original", async () => {
  await withServer(dense, async (s) => {
    const r = await run("qemu-img", ["compare", "-f", "raw", "-F", "raw", dense, s.uri]);
    assert.match(r.stdout, /Images are identical/);
  });
});

Deno.test("qemu-img convert -O raw of the sparse image equals the original and stays sparse", async () => {
  const out = join(work, "sparse.qemu");
  await withServer(sparse, async (s) => {
    await run("qemu-img", ["convert", "-f", "raw", "-O", "raw", s.uri, out]);
  });
  await assertIdentical(out, sparse);
  assert.ok(await allocatedBytes(out) <= 2 * SPARSE_CHUNKS * MiB, "holes stayed holes");
  await Deno.remove(out);
});

Deno.test("a write through qemu-io is refused and the image is untouched", async () => {
  await withServer(dense, async (s) => {
    const r = await run("qemu-io", ["-f", "raw", "-c", "write -P 0x55 0 4096", s.uri], {
      check: false,
    });
    assert.notEqual(r.code, 0, "the write must fail");
    assert.match(r.stderr + r.stdout, /read-only|Permission denied|Operation not permitted/i);
  });
});

Deno.test("the source images are unchanged after every client", async () => {
  assert.equal(await sha256File(dense), denseSum);
  await assertIdentical(sparse, sparsePristine);
  assert.deepEqual((await Deno.stat(dense)).mtime, mtimes.dense);
  assert.deepEqual((await Deno.stat(sparse)).mtime, mtimes.sparse);
});
