import assert from "node:assert/strict";
import { bandwidthStep, bandwidthText } from "../src/screens/bandwidth_steps.ts";

Deno.test("bandwidth steps: - tightens from no cap down to 1 Mbit/s, + loosens back to none", () => {
  const down = [0];
  while (down[down.length - 1] !== 1) down.push(bandwidthStep(down[down.length - 1], -1));
  assert.deepEqual(down, [0, 10_000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1]);
  assert.equal(bandwidthStep(1, -1), 1);
  const up = [1];
  while (up[up.length - 1] !== 0) up.push(bandwidthStep(up[up.length - 1], 1));
  assert.deepEqual(up, [...down].reverse());
  assert.equal(bandwidthStep(0, 1), 0);
});

Deno.test("bandwidth steps: a cap between steps goes to its neighbours", () => {
  assert.equal(bandwidthStep(80, -1), 50);
  assert.equal(bandwidthStep(80, 1), 100);
  assert.equal(bandwidthStep(20_000, -1), 10_000);
  assert.equal(bandwidthStep(20_000, 1), 0);
  assert.equal(bandwidthText(0), "unlimited");
  assert.equal(bandwidthText(80), "80 Mbit/s");
});
