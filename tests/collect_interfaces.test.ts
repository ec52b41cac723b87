import assert from "node:assert/strict";
import { findInterfaces, normaliseMac } from "../src/collect/interfaces.ts";
import { referenceTree, withRoot } from "./collect_sysroot.ts";

Deno.test("findInterfaces: physical names only, sorted, MACs lowercased or unknown", async () => {
  await withRoot(referenceTree(), async (root) => {
    assert.deepEqual(await findInterfaces(root), [
      { name: "em1" }, // no address file
      { name: "enp1s0" }, // all-zero address
      { name: "eth0", mac: "52:54:00:ab:cd:ef" },
      { name: "wlan0", mac: "a4:34:d9:01:02:03" },
    ]);
  });
});

Deno.test("findInterfaces: missing /sys/class/net gives an empty list", async () => {
  await withRoot({}, async (root) => {
    assert.deepEqual(await findInterfaces(root), []);
  });
});

Deno.test("normaliseMac", () => {
  assert.equal(normaliseMac("52:54:00:AB:CD:EF\n"), "52:54:00:ab:cd:ef");
  assert.equal(normaliseMac("00:00:00:00:00:00"), undefined);
  assert.equal(normaliseMac(""), undefined);
  assert.equal(normaliseMac(undefined), undefined);
  assert.equal(
    normaliseMac("80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:b1:c2"),
    undefined,
  );
  assert.equal(normaliseMac("52-54-00-ab-cd-ef"), undefined);
});
