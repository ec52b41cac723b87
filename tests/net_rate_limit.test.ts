/**
 * The bandwidth cap's bucket: sends pass at the cap, in order, however
 * large each one is; a new cap applies to whoever waits; no cap lets all
 * through at once.
 */
import assert from "node:assert/strict";
import { RateLimit } from "../src/net/rate_limit.ts";

/** Sends `count` × `size` bytes one after the other; resolves with the seconds taken. */
function sendAll(limit: RateLimit, count: number, size: number, order?: number[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    let left = count;
    for (let i = 0; i < count; i++) {
      limit.take(size, () => {
        order?.push(i);
        if (--left === 0) resolve((performance.now() - started) / 1000);
      });
    }
  });
}

Deno.test("rate limit: 4 MB at 16 Mbit/s take 2 s less the first burst, in order", async () => {
  const limit = new RateLimit(16);
  const order: number[] = [];
  const seconds = await sendAll(limit, 64, 62_500, order);
  // 2 MB/s; the bucket starts full (100 ms of the cap: 0.2 MB), the last send is paid after.
  assert.ok(seconds > 1.65 && seconds < 2.2, `${seconds} s`);
  assert.deepEqual(order, [...Array(64).keys()]);
  limit.close();
});

Deno.test("rate limit: one send larger than a second's worth passes, and the next waits it off", async () => {
  const limit = new RateLimit(8); // 1 MB/s
  const first = await sendAll(limit, 1, 1_000_000);
  assert.ok(first < 0.05, `the first send waited ${first} s`);
  const second = await sendAll(limit, 1, 1000);
  assert.ok(second > 0.8 && second < 1.2, `the second send waited ${second} s`);
  limit.close();
});

Deno.test("rate limit: a new cap applies to sends already waiting; 0 lets them all go", async () => {
  const limit = new RateLimit(1); // 125 kB/s: 1 MB would take 8 s
  const changes: number[] = [];
  limit.onChange((mbit) => changes.push(mbit));
  const done = sendAll(limit, 16, 62_500);
  setTimeout(() => limit.set(80), 200); // 10 MB/s: the rest in about 0.1 s
  const seconds = await done;
  assert.ok(seconds < 0.7, `${seconds} s`);
  const waiting = sendAll(limit, 100, 1_000_000); // 100 MB at 10 MB/s…
  setTimeout(() => limit.set(0), 100); // …until the cap is lifted
  assert.ok(await waiting < 0.5);
  assert.deepEqual(changes, [80, 0]);
  assert.equal(limit.mbit, 0);
  limit.close();
});

Deno.test("rate limit: close lets every waiting send go; bad caps are refused", async () => {
  const limit = new RateLimit(1);
  const waiting = sendAll(limit, 10, 1_000_000);
  setTimeout(() => limit.close(), 50);
  assert.ok(await waiting < 0.5);
  assert.throws(() => limit.set(-1), RangeError);
  assert.throws(() => limit.set(NaN), RangeError);
});
