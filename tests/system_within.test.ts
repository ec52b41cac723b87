/**
 * A bounded wait: the value when it comes in time, undefined when it does
 * not, a rejection passed on; no timer is left behind either way.
 */
import assert from "node:assert/strict";
import { within } from "../src/system/within.ts";

Deno.test("within: the value in time, undefined when late, a rejection passed on", async () => {
  assert.equal(await within(1000, Promise.resolve(7)), 7);
  const late = new Promise<number>((r) => setTimeout(() => r(8), 200));
  const started = performance.now();
  assert.equal(await within(20, late), undefined);
  assert.ok(performance.now() - started < 150, "it did not wait for the late value");
  await late;
  await assert.rejects(within(1000, Promise.reject(new Error("no"))), /no/);
});
