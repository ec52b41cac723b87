/**
 * The settings screen and disk groups: the rows say which group a disk is
 * in, and unticking part of a group warns, naming the disks left out, without
 * stopping the conversion.
 */
import assert from "node:assert/strict";
import type { DialogModel } from "../src/screens/model.ts";
import { SettingsScreen } from "../src/screens/settings.ts";
import type { Size } from "../src/screens/terminal.ts";
import { lineText } from "../src/screens/text.ts";
import { fakeCtx, fakeDeps, sampleFacts, sampleModel } from "./helpers/screens_fixtures.ts";

const TALL: Size = { width: 100, height: 60 };

function groupedModel(): DialogModel {
  const facts = sampleFacts();
  facts.disks.push({ name: "sdb", sizeBytes: 2 ** 40, model: "ST2000" });
  facts.diskGroups = [{ kind: "lvm", name: "vg_data", disks: ["nvme0n1", "sdb"] }];
  return sampleModel(facts);
}

function screenText(screen: SettingsScreen, size: Size): string {
  return screen.layout(size).lines.map(lineText).join("\n");
}

Deno.test("settings: a disk's row names its volume group; unticking part of it warns", () => {
  const model = groupedModel();
  const screen = new SettingsScreen(model, fakeDeps());
  const ctx = fakeCtx<unknown>({ t: 0 });
  screen.start(ctx as never);
  let text = screenText(screen, TALL);
  assert.match(text, /\[x\] nvme0n1 .*LVM volume group "vg_data"/);
  assert.match(text, /\[x\] sdb .*LVM volume group "vg_data"/);
  assert.doesNotMatch(text, /not selected/, "all of the group is ticked");

  // Space on sdb's box, as the user would.
  const sdb = screen.disks.find((d) => d.name === "sdb")!;
  screen.ring.set(sdb.box);
  screen.key({ name: "char", ch: " " }, ctx as never);
  assert.equal(sdb.box.checked, false);
  text = screenText(screen, TALL);
  assert.match(
    text,
    /LVM volume group "vg_data" spans nvme0n1 and sdb, but sdb is not\s+selected: convert all\s+of\s+them\s+or\s+none/,
  );
  assert.equal(screen.validate(), true, "a warning does not stop the conversion");

  // None of the group is whole too.
  const nvme = screen.disks.find((d) => d.name === "nvme0n1")!;
  screen.ring.set(nvme.box);
  screen.key({ name: "char", ch: " " }, ctx as never);
  assert.doesNotMatch(screenText(screen, TALL), /not selected/);
});

Deno.test("settings: the disk group warning fits 80x24 and is shown by the focused disk", () => {
  const model = groupedModel();
  model.config.disks = ["sda", "nvme0n1"];
  const screen = new SettingsScreen(model, fakeDeps());
  const size = { width: 80, height: 24 };
  screen.ring.set(screen.disks.find((d) => d.name === "nvme0n1")!.box);
  const frame = screen.layout(size);
  assert.equal(frame.lines.length, 24);
  assert.equal(frame.clipped, 0);
  const text = frame.lines.map(lineText).join("\n");
  assert.match(text, /but sdb is not selected/);
});

Deno.test("settings: a LUN seen through several paths has one row that names the others", () => {
  const facts = sampleFacts();
  facts.disks.push({ name: "sdb", sizeBytes: 2 ** 40, model: "LUN", otherPaths: ["sdd", "sdf"] });
  const screen = new SettingsScreen(sampleModel(facts), fakeDeps());
  const text = screenText(screen, TALL);
  assert.match(text, /\[x\] sdb .*LUN {2}one LUN, also sdd, sdf/);
  assert.doesNotMatch(text, /\[.\] sdd/);
});
