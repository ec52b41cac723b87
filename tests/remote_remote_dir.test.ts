import assert from "node:assert/strict";
import { makeRemoteDirName, REMOTE_DIR_PATTERN } from "../src/remote/remote_dir.ts";
import { LOWER_ALNUM, randomString } from "../src/system/random.ts";

const fixed = (text: string) => (n: number) => text.slice(0, n);

Deno.test("remote dir: /tmp/virt-p2v-YYYYMMDD-XXXXXXXX", () => {
  const name = makeRemoteDirName(new Date("2024-03-07T12:00:00Z"), fixed("abz099sk"));
  assert.equal(name, "/tmp/virt-p2v-20240307-abz099sk");
  assert.match(name, REMOTE_DIR_PATTERN);
});

Deno.test("remote dir: the date is UTC", () => {
  // 23:30 at UTC-5 is already the next day in UTC.
  assert.equal(
    makeRemoteDirName(new Date("2023-12-31T23:30:00-05:00"), fixed("aaaaaaaa")),
    "/tmp/virt-p2v-20240101-aaaaaaaa",
  );
  // 00:30 at UTC+2 is still the previous day in UTC.
  assert.equal(
    makeRemoteDirName(new Date("2024-01-01T00:30:00+02:00"), fixed("aaaaaaaa")),
    "/tmp/virt-p2v-20231231-aaaaaaaa",
  );
});

Deno.test("remote dir: a random part that would need quoting is refused", () => {
  const now = new Date("2024-01-01T00:00:00Z");
  assert.throws(() => makeRemoteDirName(now, fixed("abc def!")), RangeError);
  assert.throws(() => makeRemoteDirName(now, fixed("ABCDEFGH")), RangeError);
  assert.throws(() => makeRemoteDirName(now, fixed("abc")), RangeError);
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
  for (const c of seen) assert.ok(LOWER_ALNUM.includes(c), `unexpected character ${c}`);
  // 16000 draws from 36 characters: every one of them shows up.
  assert.equal(seen.size, LOWER_ALNUM.length);
});

Deno.test("random strings: uniform over the alphabet", () => {
  const counts = new Map<string, number>();
  const text = randomString(36_000, "abc");
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort(), ["a", "b", "c"]);
  // 12000 expected each; a biased fold of 256 bytes onto 3 letters would be off by ~0.4 %.
  for (const n of counts.values()) assert.ok(Math.abs(n - 12_000) < 600, String(n));
  assert.throws(() => randomString(4, ""), RangeError);
});
