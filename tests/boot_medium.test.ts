/**
 * The medium the machine booted from (our USB stick or disk image, named by
 * the image's init in /run/virt-p2v/boot-medium) is never offered: not in
 * the disk list, not in the default p2v.disks, not ticked in the dialog. A
 * p2v.disks that names it is obeyed, with a warning.
 */
import assert from "node:assert/strict";
import { BOOT_MEDIUM_FILE, findDisks, readBootMedium } from "../src/collect/disks.ts";
import { collectHostFacts } from "../src/collect/host_facts.ts";
import type { Runner } from "../src/collect/run_command.ts";
import { resolveConfig } from "../src/config/resolve.ts";
import type { DialogModel } from "../src/screens/model.ts";
import { SettingsScreen } from "../src/screens/settings.ts";
import { lineText } from "../src/screens/text.ts";
import { referenceTree, withRoot } from "./collect_sysroot.ts";
import { fakeDeps, sampleConfig, sampleDetected, sampleFacts } from "./helpers/screens_fixtures.ts";

const CTX = { fromProcCmdline: false, isRoot: true, randomName: () => "r4nd0m00" };
const noLscpu: Runner = () => Promise.resolve({ ok: false, stdout: "" });

Deno.test("findDisks: the USB stick named in run/virt-p2v/boot-medium is not a disk to convert", async () => {
  const tree = { ...referenceTree(), [BOOT_MEDIUM_FILE]: "sdd\n" };
  await withRoot(tree, async (root) => {
    const found = await findDisks(root);
    assert.deepEqual(found.disks.map((d) => d.name), ["cciss/c0d0", "nvme0n1", "sda", "vda"]);
    assert.deepEqual(found.bootMedium, [
      { name: "sdd", sizeBytes: 31116288 * 512, model: "Cruzer Blade" },
    ]);
    // The CD drive stays a drive of the machine even when we booted from it.
    assert.deepEqual(found.removable.map((r) => r.name), ["sr0", "sr1"]);
  });
});

Deno.test("findDisks: the boot medium may be an NVMe or cciss disk, written with or without /dev/", async () => {
  const tree = { ...referenceTree(), [BOOT_MEDIUM_FILE]: "/dev/nvme0n1\n  cciss/c0d0 \n\n" };
  await withRoot(tree, async (root) => {
    const found = await findDisks(root);
    assert.deepEqual(found.disks.map((d) => d.name), ["sda", "sdd", "vda"]);
    assert.deepEqual(found.bootMedium.map((d) => d.name), ["cciss/c0d0", "nvme0n1"]);
  });
});

Deno.test("findDisks: no boot-medium file, an empty one, or a name not there hides nothing", async () => {
  for (const text of [undefined, "", "sdz\n", "sr0\n"]) {
    const tree = text === undefined
      ? referenceTree()
      : { ...referenceTree(), [BOOT_MEDIUM_FILE]: text };
    await withRoot(tree, async (root) => {
      const found = await findDisks(root);
      assert.equal(found.disks.length, 5, `with ${JSON.stringify(text)}`);
      assert.deepEqual(found.bootMedium, []);
    });
  }
  assert.deepEqual(await readBootMedium("/nonexistent-root"), new Set());
});

Deno.test("collectHostFacts: the boot medium is reported apart, and only when there is one", async () => {
  const opts = { run: noLscpu, now: () => 0, tzOffset: () => 0, hostname: () => "h" };
  await withRoot({ ...referenceTree(), [BOOT_MEDIUM_FILE]: "sdd\n" }, async (root) => {
    const facts = await collectHostFacts({ root, ...opts });
    assert.ok(!facts.disks.some((d) => d.name === "sdd"));
    assert.deepEqual(facts.bootMedium?.map((d) => d.name), ["sdd"]);
  });
  await withRoot(referenceTree(), async (root) => {
    const facts = await collectHostFacts({ root, ...opts });
    assert.equal("bootMedium" in facts, false);
  });
});

function bootedFromStick() {
  const facts = sampleFacts();
  facts.bootMedium = [{ name: "sdb", sizeBytes: 8 * 2 ** 30, model: "Cruzer Blade" }];
  return facts;
}

Deno.test("resolve: the default p2v.disks leaves the boot medium out, without a word", () => {
  const warnings: string[] = [];
  const config = resolveConfig({}, bootedFromStick(), { ...CTX, warn: (m) => warnings.push(m) });
  assert.deepEqual(config.disks, ["sda", "nvme0n1"]);
  assert.deepEqual(warnings, []);
});

Deno.test("resolve: p2v.disks naming the boot medium is obeyed, with one warning per name", () => {
  for (const disks of [["sda", "sdb"], ["/dev/sdb", "sda"]]) {
    const warnings: string[] = [];
    const config = resolveConfig({ disks }, bootedFromStick(), {
      ...CTX,
      warn: (m) => warnings.push(m),
    });
    assert.deepEqual(config.disks, disks);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /^p2v\.disks names (\/dev\/)?sdb, the medium this machine booted from/,
    );
  }
  const warnings: string[] = [];
  resolveConfig({ disks: ["sda"] }, bootedFromStick(), { ...CTX, warn: (m) => warnings.push(m) });
  assert.deepEqual(warnings, [], "naming other disks is nothing to warn about");
});

function settingsText(screen: SettingsScreen): string {
  return screen.layout({ width: 80, height: 24 }).lines.map(lineText).join("\n");
}

Deno.test("dialog: the boot medium is not in the disk list", () => {
  const facts = bootedFromStick();
  const model: DialogModel = {
    config: sampleConfig(facts),
    detected: sampleDetected(facts),
    facts,
  };
  const screen = new SettingsScreen(model, fakeDeps());
  assert.deepEqual(screen.disks.map((d) => [d.name, d.box.checked]), [
    ["sda", true],
    ["nvme0n1", true],
  ]);
  assert.doesNotMatch(settingsText(screen), /sdb/);
});

Deno.test("dialog: a boot medium named by p2v.disks is listed, ticked and marked as such", () => {
  const facts = bootedFromStick();
  const config = sampleConfig(facts);
  config.disks = ["sda", "sdb"];
  const screen = new SettingsScreen({ config, detected: sampleDetected(facts), facts }, fakeDeps());
  assert.deepEqual(screen.disks.map((d) => [d.name, d.box.checked]), [
    ["sda", true],
    ["nvme0n1", false],
    ["sdb", true],
  ]);
  assert.match(
    settingsText(screen),
    /\[x\] sdb\s+8\.0 GiB {2}the medium this machine booted from {2}Cruzer Blade/,
  );
});
