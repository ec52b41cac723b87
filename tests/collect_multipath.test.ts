import assert from "node:assert/strict";
import { findDisks } from "../src/collect/disks.ts";
import { blockDevice, mountinfo, withRoot } from "./collect_sysroot.ts";

const HBA1 = "devices/pci0000:00/0000:00:02.0/host1/rport-1:0-0/target1:0:0/1:0:0:0";
const HBA2 = "devices/pci0000:00/0000:00:03.0/host2/rport-2:0-0/target2:0:0/2:0:0:0";

function path(name: string, parent: string, dev: string, wwid: string, size = 2048) {
  return blockDevice(name, parent, {
    dev,
    size,
    attrs: { "device/wwid": `${wwid}\n`, "device/model": "LUN C-Series    \n" },
  });
}

Deno.test("findDisks: the paths of one LUN (same NAA id) are listed once, with the others named", async () => {
  const tree = {
    ...path("sda", HBA1, "8:0", "naa.600a098038303053453f463045727a41"),
    ...path("sdb", HBA1, "8:16", "naa.600a098038303053453f463045727a42"),
    ...path("sdc", HBA2, "8:32", "naa.600a098038303053453f463045727a41"),
    ...path("sdd", HBA2, "8:48", "naa.600a098038303053453f463045727a42"),
    ...blockDevice("vda", "devices/virtio1", { dev: "252:0", size: 10 }),
    "proc/self/mountinfo": mountinfo("252:0"),
  };
  await withRoot(tree, async (root) => {
    const { disks } = await findDisks(root);
    assert.deepEqual(disks.map((d) => [d.name, d.otherPaths]), [
      ["sda", ["sdc"]],
      ["sdb", ["sdd"]],
    ]);
  });
});

Deno.test("findDisks: disks sharing a vendor-built t10 id are distinct disks", async () => {
  // QEMU's SCSI disks without a serial all report this one.
  const t10 = "t10.QEMU    QEMU HARDDISK   ";
  const tree = { ...path("sda", HBA1, "8:0", t10), ...path("sdb", HBA2, "8:16", t10) };
  await withRoot(tree, async (root) => {
    const { disks } = await findDisks(root);
    assert.deepEqual(disks.map((d) => [d.name, d.otherPaths]), [
      ["sda", undefined],
      ["sdb", undefined],
    ]);
  });
});

Deno.test("findDisks: an active dm-multipath map names its paths; the root LUN hides every path", async () => {
  const tree = {
    ...blockDevice("sdb", HBA1, { dev: "8:16", size: 2048 }),
    ...blockDevice("sde", HBA2, { dev: "8:64", size: 2048 }),
    ...blockDevice("dm-0", "devices/virtual", { dev: "253:0", slaves: ["sdb", "sde"] }),
    "sys/devices/virtual/block/dm-0/dm/uuid": "mpath-3600a098038303053453f463045727a41\n",
    ...blockDevice("sdf", HBA1, {
      dev: "8:80",
      size: 2048,
      attrs: { "device/wwid": "naa.6001\n" },
      partitions: { sdf1: { dev: "8:81" } },
    }),
    ...blockDevice("sdg", HBA2, {
      dev: "8:96",
      size: 2048,
      attrs: { "device/wwid": "naa.6001\n" },
    }),
    // `/` is on the first partition of one path: the other path is the same disk.
    "proc/self/mountinfo": mountinfo("8:81"),
  };
  await withRoot(tree, async (root) => {
    const { disks } = await findDisks(root);
    assert.deepEqual(disks.map((d) => [d.name, d.otherPaths]), [["sdb", ["sde"]]]);
  });
});

Deno.test("findDisks: the same NAA id on disks of different sizes is no LUN: both are listed", async () => {
  const naa = "naa.5000000000000001";
  const tree = { ...path("sda", HBA1, "8:0", naa, 2048), ...path("sdb", HBA2, "8:16", naa, 4096) };
  await withRoot(tree, async (root) => {
    const { disks } = await findDisks(root);
    assert.deepEqual(disks.map((d) => [d.name, d.otherPaths]), [
      ["sda", undefined],
      ["sdb", undefined],
    ]);
  });
});
