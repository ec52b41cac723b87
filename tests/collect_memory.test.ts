import assert from "node:assert/strict";
import {
  collectMemory,
  FALLBACK_MEMORY,
  parseMemTotalKiB,
  roundUpPowerOfTwo,
} from "../src/collect/memory.ts";
import { withRoot } from "./collect_sysroot.ts";

const GiB = 1024 ** 3;

Deno.test("roundUpPowerOfTwo: exact powers stay, others round up, beyond 2^32 too", () => {
  assert.equal(roundUpPowerOfTwo(0), 1);
  assert.equal(roundUpPowerOfTwo(1), 1);
  assert.equal(roundUpPowerOfTwo(2), 2);
  assert.equal(roundUpPowerOfTwo(3), 4);
  assert.equal(roundUpPowerOfTwo(1024), 1024);
  assert.equal(roundUpPowerOfTwo(1025), 2048);
  assert.equal(roundUpPowerOfTwo(2 ** 31 + 1), 2 ** 32);
  assert.equal(roundUpPowerOfTwo(2 ** 32), 2 ** 32);
  assert.equal(roundUpPowerOfTwo(2 ** 32 + 1), 2 ** 33);
  assert.equal(roundUpPowerOfTwo(16318232 * 1024), 16 * GiB);
  assert.equal(roundUpPowerOfTwo(2 ** 40 - 5), 2 ** 40);
  assert.equal(roundUpPowerOfTwo(2 ** 50 + 1), 2 ** 51);
  assert.equal(roundUpPowerOfTwo(2.5), 4);
  assert.throws(() => roundUpPowerOfTwo(Number.NaN), RangeError);
});

Deno.test("parseMemTotalKiB", () => {
  assert.equal(parseMemTotalKiB("MemTotal:       16318232 kB\nMemFree: 1 kB\n"), 16318232);
  assert.equal(parseMemTotalKiB("MemFree: 1 kB\n"), undefined);
  assert.equal(parseMemTotalKiB(undefined), undefined);
});

Deno.test("collectMemory: MemTotal rounded up; missing or unusable → 1 GiB", async () => {
  await withRoot({ "proc/meminfo": "MemTotal:       16318232 kB\n" }, async (root) => {
    assert.equal(await collectMemory(root), 16 * GiB);
  });
  await withRoot({ "proc/meminfo": "MemTotal:        4194304 kB\n" }, async (root) => {
    assert.equal(await collectMemory(root), 4 * GiB);
  });
  await withRoot({ "proc/meminfo": "MemTotal: 0 kB\n" }, async (root) => {
    assert.equal(await collectMemory(root), FALLBACK_MEMORY);
  });
  await withRoot({ "proc/meminfo": "garbage\n" }, async (root) => {
    assert.equal(await collectMemory(root), GiB);
  });
  await withRoot({}, async (root) => {
    assert.equal(await collectMemory(root), GiB);
  });
});
