import assert from "node:assert/strict";
import { collectHostname, shortHostname } from "../src/collect/hostname.ts";
import { withRoot } from "./collect_sysroot.ts";

Deno.test("shortHostname", () => {
  assert.equal(shortHostname("web01.example.com"), "web01");
  assert.equal(shortHostname("web01\n"), "web01");
  assert.equal(shortHostname("localhost"), "localhost");
  assert.equal(shortHostname("localhost.localdomain"), "localhost");
  assert.equal(shortHostname(".hidden.example"), ".hidden.example"); // dot first: kept whole
  assert.equal(shortHostname(""), undefined);
  assert.equal(shortHostname("  \n"), undefined);
  assert.equal(shortHostname("(none)"), undefined);
  assert.equal(shortHostname(undefined), undefined);
});

Deno.test("collectHostname: injected source wins over procfs", async () => {
  await withRoot({ "proc/sys/kernel/hostname": "fromproc\n" }, async (root) => {
    assert.equal(await collectHostname(root, () => "db7.corp.example"), "db7");
    // An empty hostname is a real answer: no name, not "ask procfs".
    assert.equal(await collectHostname(root, () => ""), undefined);
  });
});

Deno.test("collectHostname: procfs when the source has nothing or throws", async () => {
  await withRoot({ "proc/sys/kernel/hostname": "p2v-host.example.org\n" }, async (root) => {
    assert.equal(await collectHostname(root, () => undefined), "p2v-host");
    assert.equal(
      await collectHostname(root, () => {
        throw new Error("no permission");
      }),
      "p2v-host",
    );
  });
  await withRoot({}, async (root) => {
    assert.equal(await collectHostname(root, () => undefined), undefined);
  });
});

Deno.test("collectHostname: default source on the real machine returns a string or undefined", async () => {
  const name = await collectHostname();
  assert.ok(name === undefined || (typeof name === "string" && name !== "" && !name.includes(".")));
});
