/**
 * PacketSlab lays packets out back to back and reuses a slab only once every
 * byte taken from it has been reported written; planWrites joins neighbours
 * without copying and copies only small pieces.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { PacketSlab, releaseWritten } from "../src/net/packet_slab.ts";
import { planWrites } from "../src/net/tcp_socket.ts";

const SLAB = 4096;

Deno.test("regions follow each other in one slab until it is full", () => {
  const slab = new PacketSlab(SLAB);
  const a = slab.take(1000);
  const b = slab.take(2000);
  assert.equal(a.buffer, b.buffer);
  assert.equal(b.byteOffset, a.byteOffset + 1000);
  const c = slab.take(2000); // does not fit: a new slab
  assert.notEqual(c.buffer, a.buffer);
});

Deno.test("a full slab is reused only after all its bytes were reported written", () => {
  const slab = new PacketSlab(SLAB);
  const a = slab.take(3000);
  const b = slab.take(1000);
  a.fill(1);
  b.fill(2);
  slab.take(3000); // retires the first slab, with nothing written yet
  releaseWritten(a);
  const d = slab.take(3000); // retires the second; the first still has b outstanding
  assert.notEqual(d.buffer, a.buffer, "a slab with unwritten bytes was handed out again");
  assert.ok(b.every((x) => x === 2), "unwritten packet bytes were overwritten");
  releaseWritten(b);
  const e = slab.take(3000);
  assert.equal(e.buffer, a.buffer, "a fully written slab was not reused");
});

Deno.test("a slab with a region that is never written is not reused", () => {
  const slab = new PacketSlab(SLAB);
  const a = slab.take(2000);
  slab.take(1000); // abandoned: never sent
  releaseWritten(a);
  slab.take(3000);
  const next = slab.take(3000);
  assert.notEqual(next.buffer, a.buffer);
});

Deno.test("random padding differs between packets and fills only its range", () => {
  const slab = new PacketSlab(SLAB);
  const a = Buffer.alloc(40);
  const b = Buffer.alloc(40);
  slab.randomFill(a, 10, 19);
  slab.randomFill(b, 10, 19);
  assert.ok(a.subarray(0, 10).every((x) => x === 0) && a.subarray(29).every((x) => x === 0));
  assert.ok(!a.subarray(10, 29).equals(b.subarray(10, 29)));
});

Deno.test("planWrites: neighbours in one buffer become one view, without a copy", () => {
  const big = new Uint8Array(300_000);
  const plan = planWrites([big.subarray(0, 100_000), big.subarray(100_000, 250_000)]);
  assert.equal(plan.length, 1);
  assert.equal(plan[0].view.buffer, big.buffer);
  assert.equal(plan[0].view.byteLength, 250_000);
  assert.equal(plan[0].copiedFrom, undefined);
});

Deno.test("planWrites: small separate pieces are copied into one write, large runs stay views", () => {
  const big = new Uint8Array(200_000).fill(9);
  const pieces = [Buffer.from([1, 2, 3, 4]), Buffer.from([5, 6]), big, Buffer.from([7])];
  const plan = planWrites(pieces);
  assert.equal(plan.length, 3);
  assert.deepEqual([...plan[0].view], [1, 2, 3, 4, 5, 6]);
  assert.equal(plan[0].copiedFrom?.length, 2);
  assert.equal(plan[1].view, big);
  assert.deepEqual([...plan[2].view], [7]);
  assert.equal(plan[2].copiedFrom, undefined, "a lone small piece needs no copy");
});
