import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { hexOf } from "../src/text/hex.ts";

Deno.test("hexOf: two lowercase digits a byte, leading zeros kept", () => {
  assert.equal(hexOf(new Uint8Array([0, 1, 0x0a, 0xab, 0xff])), "00010aabff");
  assert.equal(hexOf(new Uint8Array(0)), "");
  const digest = createHash("sha256").update("p2v").digest();
  assert.equal(hexOf(digest), createHash("sha256").update("p2v").digest("hex"));
});
