/**
 * The settings screen says what is wrong with the disk list before the
 * conversion starts: a disk that is not on this machine cannot be started,
 * and the running system's own disks are listed, greyed, with the reason.
 */
import assert from "node:assert/strict";
import { SettingsScreen } from "../src/screens/settings.ts";
import type { Size } from "../src/screens/terminal.ts";
import { lineText } from "../src/screens/text.ts";
import { fakeDeps, sampleConfig, sampleFacts, sampleModel } from "./helpers/screens_fixtures.ts";

const TALL: Size = { width: 100, height: 60 };
const GiB = 2 ** 30;

function text(screen: SettingsScreen): string {
  return screen.layout(TALL).lines.map(lineText).join("\n");
}

Deno.test("settings: a ticked disk that is not on this machine stops Start, naming it", () => {
  const facts = sampleFacts();
  const config = sampleConfig(facts);
  config.disks = ["sda", "sdz"];
  const screen = new SettingsScreen(sampleModel(facts, config), fakeDeps());
  assert.match(text(screen), /\[x\] sdz\s+not found/);
  assert.equal(screen.validate(), false);
  assert.match(
    text(screen),
    /Not on this machine: sdz\. Untick it, or attach it and press Refresh/,
  );
  screen.disks.find((d) => d.name === "sdz")!.box.checked = false;
  assert.equal(screen.validate(), true);
  screen.apply();
  assert.deepEqual(config.disks, ["sda"]);
});

Deno.test("settings: the running system's disk is listed greyed with the reason, and cannot be ticked", () => {
  const facts = sampleFacts();
  facts.runningSystem = [{ name: "sdb", sizeBytes: 64 * GiB, model: "ST500" }];
  const config = sampleConfig(facts);
  const screen = new SettingsScreen(sampleModel(facts, config), fakeDeps());
  assert.match(
    text(screen),
    /\[ \] sdb\s+64\.0 GiB {2}holds the running system {2}ST500/,
  );
  const row = screen.disks.find((d) => d.name === "sdb")!;
  assert.equal(row.box.enabled, false, "focus never reaches it");
  assert.equal(screen.validate(), true);
  screen.apply();
  assert.deepEqual(config.disks, ["sda", "nvme0n1"]);
});

Deno.test("settings: with only the running system's disk, the error says why there is nothing to tick", () => {
  const facts = sampleFacts();
  facts.runningSystem = facts.disks;
  facts.disks = [];
  const config = sampleConfig(facts);
  const screen = new SettingsScreen(sampleModel(facts, config), fakeDeps());
  assert.equal(screen.validate(), false);
  assert.match(
    text(screen),
    /There is no disk to convert: sda, nvme0n1 hold the running system, and this machine has no other\s+fixed disk\./,
  );
  assert.doesNotMatch(text(screen), /Tick at least one/);
});

Deno.test("settings: a disk row is its size in a column, then what else is known; a drive its model", () => {
  const facts = sampleFacts();
  facts.disks[0].model = "Two  Spaces";
  facts.removable = [{ name: "sr0", model: "DVD" }];
  const config = sampleConfig(facts);
  config.removable = ["sr0", "sr9"];
  const screen = new SettingsScreen(sampleModel(facts, config), fakeDeps());
  const rows = text(screen).split("\n");
  const row = (name: string) => rows.find((l) => new RegExp(`\\] ${name}\\s`).test(l)) ?? "";
  // Sizes end in one column; a model's own spaces are kept.
  const sizeEnd = (l: string) => {
    const m = /\d [KMGT]iB/.exec(l);
    return m ? m.index + m[0].length : -1;
  };
  assert.match(row("sda"), /\s256\.0 GiB {2}Two {2}Spaces {2}serial S3Z9NB0K123456$/);
  assert.equal(sizeEnd(row("sda")), sizeEnd(row("nvme0n1")));
  // A removable drive has no size: its model follows its name.
  assert.match(row("sr0"), /\] sr0\s+ DVD$/);
  assert.ok(row("sr0").indexOf("DVD") < sizeEnd(row("sda")) - 10, row("sr0"));
  assert.match(row("sr9"), /\] sr9\s+not found$/);
});
