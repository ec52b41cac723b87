import assert from "node:assert/strict";
import { collectRtc, decideRtc, localTzOffset, roundToQuantum } from "../src/collect/rtc.ts";
import { withRoot } from "./collect_sysroot.ts";

const T = 1_700_000_000; // system time used throughout
const H = 3600;

Deno.test("decideRtc: unreadable RTC → unknown/0", () => {
  assert.deepEqual(decideRtc(undefined, T, H), { basis: "unknown", offset: 0 });
  assert.deepEqual(decideRtc(Number.NaN, T, H), { basis: "unknown", offset: 0 });
});

Deno.test("decideRtc: RTC in UTC, zone not UTC → utc/0", () => {
  assert.deepEqual(decideRtc(T + 3, T, H), { basis: "utc", offset: 0 });
  assert.deepEqual(decideRtc(T, T, -5 * H), { basis: "utc", offset: 0 });
});

Deno.test("decideRtc: RTC in local time → localtime/0", () => {
  assert.deepEqual(decideRtc(T + H, T, H), { basis: "localtime", offset: 0 });
  assert.deepEqual(decideRtc(T - 5 * H - 20, T, -5 * H), { basis: "localtime", offset: 0 });
  // India, a half-hour zone.
  assert.deepEqual(decideRtc(T + 5.5 * H, T, 5.5 * H), { basis: "localtime", offset: 0 });
});

Deno.test("decideRtc: UTC+0 zone always gives localtime/0, whatever the RTC says", () => {
  assert.deepEqual(decideRtc(T, T, 0), { basis: "localtime", offset: 0 });
  assert.deepEqual(decideRtc(T + 3 * H, T, 0), { basis: "localtime", offset: 0 });
});

Deno.test("decideRtc: RTC neither UTC nor local → utc with the RTC's offset", () => {
  assert.deepEqual(decideRtc(T + 2 * H, T, H), { basis: "utc", offset: 2 * H });
  // Summer time now, RTC kept in winter time.
  assert.deepEqual(decideRtc(T + H, T, 2 * H), { basis: "utc", offset: H });
  assert.deepEqual(decideRtc(T - 3 * H, T, H), { basis: "utc", offset: -3 * H });
});

Deno.test("decideRtc: offset rounded to 15 minutes, halves away from zero", () => {
  assert.deepEqual(decideRtc(T + 449, T, H), { basis: "utc", offset: 0 });
  assert.deepEqual(decideRtc(T + 450, T, H), { basis: "utc", offset: 900 });
  assert.deepEqual(decideRtc(T - 450, T, H), { basis: "utc", offset: -900 });
  assert.deepEqual(decideRtc(T + H - 300, T, H), { basis: "localtime", offset: 0 });
});

Deno.test("decideRtc: −12 h … +14 h accepted, anything beyond → unknown/0", () => {
  assert.deepEqual(decideRtc(T + 14 * H, T, H), { basis: "utc", offset: 14 * H });
  assert.deepEqual(decideRtc(T - 12 * H, T, H), { basis: "utc", offset: -12 * H });
  assert.deepEqual(decideRtc(T + 14 * H + 900, T, H), { basis: "unknown", offset: 0 });
  assert.deepEqual(decideRtc(T - 12 * H - 900, T, H), { basis: "unknown", offset: 0 });
  // An RTC reset to 1970 by a flat CMOS battery.
  assert.deepEqual(decideRtc(0, T, 0), { basis: "unknown", offset: 0 });
  // Out of range wins even in a UTC+0 zone.
  assert.deepEqual(decideRtc(T + 15 * H, T, 0), { basis: "unknown", offset: 0 });
});

Deno.test("roundToQuantum: never returns -0", () => {
  assert.ok(Object.is(roundToQuantum(-10), 0));
  assert.equal(roundToQuantum(-1349), -900);
  assert.equal(roundToQuantum(-1350), -1800);
});

Deno.test("localTzOffset: an integer number of seconds within real zone limits", () => {
  const tz = localTzOffset();
  assert.ok(Number.isInteger(tz));
  assert.ok(tz >= -12 * H && tz <= 14 * H);
});

Deno.test("collectRtc: reads rtc0/since_epoch with injected clock and zone", async () => {
  const tree = { "sys/class/rtc/rtc0/since_epoch": `${T + H + 7}\n` };
  await withRoot(tree, async (root) => {
    assert.deepEqual(await collectRtc(root, () => T, () => H), { basis: "localtime", offset: 0 });
    assert.deepEqual(await collectRtc(root, () => T, () => -H), { basis: "utc", offset: H });
    assert.deepEqual(await collectRtc(root, () => T + H, () => 2 * H), { basis: "utc", offset: 0 });
  });
});

Deno.test("collectRtc: follows /dev/rtc to the clock it names", async () => {
  const tree = {
    "dev/rtc": { link: "rtc1" },
    "sys/class/rtc/rtc0/since_epoch": "0\n",
    "sys/class/rtc/rtc1/since_epoch": `${T}\n`,
  };
  await withRoot(tree, async (root) => {
    assert.deepEqual(await collectRtc(root, () => T, () => H), { basis: "utc", offset: 0 });
  });
});

Deno.test("collectRtc: missing or garbled RTC → unknown/0", async () => {
  await withRoot({}, async (root) => {
    assert.deepEqual(await collectRtc(root, () => T, () => H), { basis: "unknown", offset: 0 });
  });
  await withRoot({ "sys/class/rtc/rtc0/since_epoch": "invalid\n" }, async (root) => {
    assert.deepEqual(await collectRtc(root, () => T, () => H), { basis: "unknown", offset: 0 });
  });
});
