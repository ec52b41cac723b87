/**
 * Selecting only part of a volume group or RAID array: the rule, and the
 * warning line of an unattended run, before it connects.
 */
import assert from "node:assert/strict";
import { findDiskGroups } from "../src/collect/disk_groups.ts";
import type { DiskGroup } from "../src/collect/types.ts";
import { partialGroupMessage, partialGroups } from "../src/config/disk_groups.ts";
import { diskSelectionWarnings } from "../src/config/disk_selection.ts";
import { runUnattended } from "../src/cli/unattended.ts";
import { DEFAULT_TIMEOUTS } from "../src/engine/timeouts.ts";
import { nbdExportStarter } from "../src/nbd/backends.ts";
import { ENGINE_FACTS, engineConfig } from "./helpers/engine_fixtures.ts";
import { withLoopDevices } from "./helpers/loop_devices.ts";
import { freePort, run } from "./helpers/process.ts";

const VG: DiskGroup = { kind: "lvm", name: "vg0", disks: ["sda", "sdb", "sdc"] };
const MD: DiskGroup = { kind: "md", name: "host:0", disks: ["nvme0n1", "nvme1n1"] };

Deno.test("partialGroups: all or none is whole; some is partial, naming the missing", () => {
  assert.deepEqual(partialGroups([VG, MD], ["sda", "sdb", "sdc", "vda"]), []);
  assert.deepEqual(partialGroups([VG, MD], ["vda"]), []);
  assert.deepEqual(partialGroups(undefined, ["sda"]), []);
  assert.deepEqual(partialGroups([VG, MD], ["/dev/sdb", "nvme1n1"]), [
    { group: VG, missing: ["sda", "sdc"] },
    { group: MD, missing: ["nvme0n1"] },
  ]);
});

Deno.test("partialGroups: a group with a PV on no disk here is doubtful whenever any of it is selected", () => {
  const vg: DiskGroup = { kind: "lvm", name: "vg1", disks: ["sda"], absent: ["/dev/sdc2"] };
  assert.deepEqual(partialGroups([vg], ["vda"]), []);
  assert.deepEqual(partialGroups([vg], ["sda"]), [{ group: vg, missing: [] }]);
  assert.equal(
    partialGroupMessage({ group: vg, missing: [] }),
    'LVM volume group "vg1" spans sda and a PV on no disk that can be converted here ' +
      "(last seen as /dev/sdc2): virt-v2v may find no root filesystem",
  );
  const both: DiskGroup = { ...vg, disks: ["sda", "sdb"], absent: ["/dev/sdc2", "/dev/sdd"] };
  assert.equal(
    partialGroupMessage({ group: both, missing: ["sdb"] }),
    'LVM volume group "vg1" spans sda, sdb and 2 PVs on no disk that can be converted here ' +
      "(last seen as /dev/sdc2 and /dev/sdd), but sdb is not selected: convert all of them " +
      "or none, or virt-v2v may find no root filesystem",
  );
});

Deno.test("partialGroupMessage: names the group, its disks and the missing ones", () => {
  assert.equal(
    partialGroupMessage({ group: VG, missing: ["sda", "sdc"] }),
    'LVM volume group "vg0" spans sda, sdb and sdc, but sda and sdc are not selected: ' +
      "convert all of them or none, or virt-v2v may find no root filesystem",
  );
  assert.equal(
    partialGroupMessage({ group: MD, missing: ["nvme0n1"] }),
    'md RAID array "host:0" spans nvme0n1 and nvme1n1, but nvme0n1 is not selected: ' +
      "convert all of them or none, or virt-v2v may find no root filesystem",
  );
});

Deno.test("unattended: part of a volume group on loop devices gives a warning line before connecting", async () => {
  const vg = `p2vwarn${Deno.pid}`;
  await withLoopDevices([{ sizeMiB: 32 }, { sizeMiB: 32 }], async ([a, b]) => {
    try {
      await run("pvcreate", ["-ff", "-y", a.path, b.path]);
      await run("vgcreate", [vg, a.path, b.path]);
      const facts = {
        ...ENGINE_FACTS,
        diskGroups: await findDiskGroups("/", [a.name, b.name]),
      };
      const config = engineConfig({
        name: "guest",
        disk: a.path,
        storage: "/var/tmp",
        reconnectSeconds: 0,
      });
      // Nobody listens there: the run fails at the connection, after the warning.
      config.remote = { server: "127.0.0.1", port: freePort(), hostKeys: [] };
      let out = "";
      await assert.rejects(
        runUnattended({
          config,
          facts,
          timeouts: { ...DEFAULT_TIMEOUTS, networkWaitMs: 1000, connectMs: 5000 },
          startExport: nbdExportStarter("builtin"),
          write: (text) => out += text,
          writeError: (text) => out += text,
          colours: false,
          verbose: false,
        }),
      );
      const lines = out.split("\n");
      const warning = lines.findIndex((l) => l.startsWith("virt-p2v: warning: LVM volume group"));
      assert.ok(warning >= 0, `no warning in:\n${out}`);
      assert.equal(
        lines[warning],
        `virt-p2v: warning: LVM volume group "${vg}" spans ${
          [a.name, b.name].sort().join(" and ")
        }, ` +
          `but ${b.name} is not selected: convert all of them or none, ` +
          "or virt-v2v may find no root filesystem",
      );
      assert.equal(warning, 0, `the warning comes first:\n${out}`);
    } finally {
      await run("vgremove", ["-f", vg], { check: false });
      await run("pvremove", ["-ff", "-y", a.path, b.path], { check: false });
    }
  });
});

Deno.test("diskSelectionWarnings: the running system's disk, two paths of one LUN, part of a group", () => {
  const facts = {
    ...ENGINE_FACTS,
    disks: [
      { name: "sda", sizeBytes: 1, otherPaths: ["sdc"] },
      { name: "sdb", sizeBytes: 1 },
      { name: "nvme1n1", sizeBytes: 1 },
    ],
    runningSystem: [{ name: "nvme0n1", sizeBytes: 1 }],
    diskGroups: [MD],
  };
  assert.deepEqual(diskSelectionWarnings(facts, ["sda", "sdb"]), []);
  assert.deepEqual(diskSelectionWarnings(facts, ["/dev/nvme0n1", "sda", "/dev/sdc", "nvme1n1"]), [
    "nvme0n1 holds the running system: it changes while it is copied, so the guest may not " +
    "boot; converting it as asked",
    "sda and sdc are paths to one LUN, which would be converted twice; name one of them " +
    "in p2v.disks",
  ]);
  assert.deepEqual(diskSelectionWarnings(facts, ["nvme1n1"]), [
    partialGroupMessage({ group: MD, missing: ["nvme0n1"] }),
  ]);
});
