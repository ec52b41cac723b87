import assert from "node:assert/strict";
import { buildRemoteFiles } from "../src/convert/upload_files.ts";
import { VERSION } from "../src/version.ts";

Deno.test("upload files: required files first, then captured diagnostics and p2v-version", () => {
  const lsusb = new Uint8Array([1, 2, 3]);
  const files = buildRemoteFiles({
    guestname: "physbox",
    physicalXml: "<domain/>\n",
    wrapperScript: "#!/bin/bash -\n",
    diagnostics: { lsscsi: undefined, lscpu: "CPU(s): 4\n", dmesg: "boot\n", lsusb, bogus: "x" },
  });
  assert.deepEqual(files, [
    { name: "name", content: "physbox\n", mode: 0o644, required: true },
    { name: "physical.xml", content: "<domain/>\n", mode: 0o644, required: true },
    { name: "virt-v2v-wrapper.sh", content: "#!/bin/bash -\n", mode: 0o755, required: true },
    { name: "dmesg", content: "boot\n", mode: 0o644, required: false },
    { name: "lscpu", content: "CPU(s): 4\n", mode: 0o644, required: false },
    { name: "lsusb", content: lsusb, mode: 0o644, required: false },
    { name: "p2v-version", content: `virt-p2v ${VERSION}\n`, mode: 0o644, required: false },
  ]);
});

Deno.test("upload files: nothing captured still uploads p2v-version; empty output is kept", () => {
  const names = (diagnostics: Record<string, string | undefined>) =>
    buildRemoteFiles({ guestname: "g", physicalXml: "", wrapperScript: "", diagnostics })
      .map((f) => f.name);
  assert.deepEqual(names({}), ["name", "physical.xml", "virt-v2v-wrapper.sh", "p2v-version"]);
  assert.deepEqual(names({ lspci: "" }), [
    "name",
    "physical.xml",
    "virt-v2v-wrapper.sh",
    "lspci",
    "p2v-version",
  ]);
});
