import assert from "node:assert/strict";
import { cryptoRandom, makeRemoteDirName, REMOTE_DIR_PATTERN } from "../src/convert/remote_dir.ts";

const CHARSET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** A random source that returns the given values in turn. */
function sequence(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

Deno.test("remote dir: /tmp/virt-p2v-YYYYMMDD-XXXXXXXX", () => {
  const name = makeRemoteDirName(new Date("2024-03-07T12:00:00Z"), sequence([0]));
  assert.equal(name, "/tmp/virt-p2v-20240307-aaaaaaaa");
  assert.match(name, REMOTE_DIR_PATTERN);
});

Deno.test("remote dir: the date is UTC", () => {
  // 23:30 at UTC-5 is already the next day in UTC.
  assert.equal(
    makeRemoteDirName(new Date("2023-12-31T23:30:00-05:00"), sequence([0])),
    "/tmp/virt-p2v-20240101-aaaaaaaa",
  );
  // 00:30 at UTC+2 is still the previous day in UTC.
  assert.equal(
    makeRemoteDirName(new Date("2024-01-01T00:30:00+02:00"), sequence([0])),
    "/tmp/virt-p2v-20231231-aaaaaaaa",
  );
});

Deno.test("remote dir: random values map onto lowercase letters and digits", () => {
  const step = 1 / CHARSET.length;
  const values = [0, step, 25 * step, 26 * step, 35 * step, 0.999999999, 0.5, 10.5 * step];
  assert.equal(
    makeRemoteDirName(new Date("2024-01-01T00:00:00Z"), sequence(values)),
    "/tmp/virt-p2v-20240101-abz099sk",
  );
});

Deno.test("remote dir: a random source out of [0, 1) is refused", () => {
  const now = new Date("2024-01-01T00:00:00Z");
  assert.throws(() => makeRemoteDirName(now, () => 1), RangeError);
  assert.throws(() => makeRemoteDirName(now, () => -0.1), RangeError);
  assert.throws(() => makeRemoteDirName(now, () => NaN), RangeError);
  assert.throws(() => makeRemoteDirName(new Date(NaN)), RangeError);
});

Deno.test("remote dir: default randomness uses only the charset and varies", () => {
  const now = new Date("2024-06-15T08:00:00Z");
  const names = new Set<string>();
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const name = makeRemoteDirName(now);
    assert.match(name, REMOTE_DIR_PATTERN);
    assert.ok(name.startsWith("/tmp/virt-p2v-20240615-"));
    for (const c of name.slice(-8)) seen.add(c);
    names.add(name);
  }
  assert.equal(names.size, 2000, "names repeat");
  for (const c of seen) assert.ok(CHARSET.includes(c), `unexpected character ${c}`);
  // 16000 draws from 36 characters: every one of them shows up.
  assert.equal(seen.size, CHARSET.length);
});

Deno.test("remote dir: cryptoRandom is in [0, 1)", () => {
  for (let i = 0; i < 1000; i++) {
    const r = cryptoRandom();
    assert.ok(r >= 0 && r < 1);
  }
});
