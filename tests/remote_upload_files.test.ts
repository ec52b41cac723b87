import assert from "node:assert/strict";
import { buildRemoteFiles } from "../src/remote/upload_files.ts";
import { VERSION } from "../src/version.ts";

Deno.test("upload files: required files first, then captured diagnostics and p2v-version", () => {
  const lsusb = "Bus 001\n";
  const files = buildRemoteFiles({
    guestname: "physbox",
    physicalXml: "<domain/>\n",
    wrapperScript: "#!/bin/bash -\n",
    diagnostics: { lsscsi: undefined, lscpu: "CPU(s): 4\n", dmesg: "boot\n", lsusb, bogus: "x" },
    secrets: [],
  });
  assert.deepEqual(files, [
    { name: "name", content: "physbox\n", mode: 0o600, required: true },
    { name: "physical.xml", content: "<domain/>\n", mode: 0o600, required: true },
    { name: "virt-v2v-wrapper.sh", content: "#!/bin/bash -\n", mode: 0o700, required: true },
    { name: "dmesg", content: "boot\n", mode: 0o600, required: false },
    { name: "lscpu", content: "CPU(s): 4\n", mode: 0o600, required: false },
    { name: "lsusb", content: lsusb, mode: 0o600, required: false },
    { name: "p2v-version", content: `virt-p2v ${VERSION}\n`, mode: 0o600, required: false },
  ]);
});

Deno.test("upload files: nothing captured still uploads p2v-version; empty output is kept", () => {
  const names = (diagnostics: Record<string, string | undefined>) =>
    buildRemoteFiles({
      guestname: "g",
      physicalXml: "",
      wrapperScript: "",
      diagnostics,
      secrets: [],
    })
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

Deno.test("upload files: passwords are taken out of every diagnostic", () => {
  const dmesg = "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz p2v.server=h " +
    'p2v.password="s3cret pass" quiet\n' +
    "[    0.050000] Kernel command line: p2v.auth.password=s3cret2 console=ttyS0\n";
  const files = buildRemoteFiles({
    guestname: "g",
    physicalXml: "",
    wrapperScript: "",
    diagnostics: { dmesg, lspci: "mentions hunter22 somewhere\n" },
    secrets: ["hunter22"],
  });
  const text = (name: string) => String(files.find((f) => f.name === name)?.content);
  assert.equal(
    text("dmesg"),
    "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz p2v.server=h p2v.password=*** quiet\n" +
      "[    0.050000] Kernel command line: p2v.auth.password=*** console=ttyS0\n",
  );
  assert.equal(text("lspci"), "mentions *** somewhere\n");
});
