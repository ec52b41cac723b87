import assert from "node:assert/strict";
import { isAllZero } from "../src/nbd/builtin/all_zero.ts";

Deno.test("isAllZero: every offset and length, one non-zero byte anywhere is seen", () => {
  const backing = new Uint8Array(80);
  for (const base of [0, 1, 2, 3]) {
    const buf = backing.subarray(base, base + 64);
    for (let start = 0; start < 12; start++) {
      for (let length = 0; length <= 64 - start; length += 3) {
        assert.equal(isAllZero(buf, start, length), true);
        for (let at = start; at < start + length; at++) {
          buf[at] = 0x80;
          assert.equal(
            isAllZero(buf, start, length),
            false,
            `base ${base} ${start}+${length} @${at}`,
          );
          buf[at] = 0;
        }
        // Bytes just outside the range do not count.
        if (start > 0) buf[start - 1] = 1;
        if (start + length < 64) buf[start + length] = 1;
        assert.equal(isAllZero(buf, start, length), true);
        buf.fill(0);
      }
    }
  }
});
