import assert from "node:assert/strict";
import { findDisks, findRootDisks, parseRootMount, parseVpdSerial } from "../src/collect/disks.ts";
import {
  blockDevice,
  mountinfo,
  referenceTree,
  type Tree,
  vpdPage80,
  withRoot,
} from "./collect_sysroot.ts";

Deno.test("findDisks: reference machine — filters, names, sizes, models, serials, order", async () => {
  await withRoot(referenceTree(), async (root) => {
    const { disks, removable } = await findDisks(root);
    assert.deepEqual(disks, [
      { name: "cciss/c0d0", sizeBytes: 143305920 * 512 },
      {
        name: "nvme0n1",
        sizeBytes: 1953525168 * 512,
        model: "Samsung SSD 970 EVO Plus 1TB",
        serial: "S4EWNX0R123456",
      },
      {
        name: "sda",
        sizeBytes: 976773168 * 512,
        model: "Samsung SSD 860",
        serial: "S3Z9NB0K123456A",
      },
      // sdb holds `/` (on sdb2), sdc is an empty card reader: both skipped.
      { name: "sdd", sizeBytes: 31116288 * 512, model: "Cruzer Blade" },
      { name: "vda", sizeBytes: 41943040 * 512, serial: "VIRTIO-SER-1" },
    ]);
    assert.deepEqual(removable, [{ name: "sr0", model: "DVD-RAM UJ8E2" }, { name: "sr1" }]);
  });
});

Deno.test("findDisks: root filesystem on a whole disk (no partition table)", async () => {
  const tree = {
    ...blockDevice("vda", "devices/virtio1", { dev: "252:0", size: 100 }),
    ...blockDevice("vdb", "devices/virtio2", { dev: "252:16", size: 200 }),
    "proc/self/mountinfo": mountinfo("252:0"),
  };
  await withRoot(tree, async (root) => {
    const { disks } = await findDisks(root);
    assert.deepEqual(disks, [{ name: "vdb", sizeBytes: 200 * 512 }]);
  });
});

Deno.test("findDisks: root on LVM/RAID hides every disk underneath", async () => {
  const tree = {
    ...blockDevice("sda", "devices/ata1", {
      dev: "8:0",
      size: 10,
      partitions: { sda1: { dev: "8:1" }, sda2: { dev: "8:2" } },
    }),
    ...blockDevice("sdb", "devices/ata2", {
      dev: "8:16",
      size: 20,
      partitions: { sdb1: { dev: "8:17" } },
    }),
    ...blockDevice("sdc", "devices/ata3", { dev: "8:32", size: 30 }),
    ...blockDevice("md0", "devices/virtual", { dev: "9:0", slaves: ["sda2", "sdb1"] }),
    ...blockDevice("dm-0", "devices/virtual", { dev: "253:0", slaves: ["md0"] }),
    "proc/self/mountinfo": mountinfo("253:0", "xfs", "/dev/mapper/vg-root"),
  };
  await withRoot(tree, async (root) => {
    assert.deepEqual([...(await findRootDisks(root))].sort(), ["sda", "sdb"]);
    const { disks, runningSystem } = await findDisks(root);
    assert.deepEqual(disks.map((d) => d.name), ["sdc"]);
    assert.deepEqual(runningSystem.map((d) => d.name), ["sda", "sdb"]);
  });
});

Deno.test("findDisks: btrfs root (anonymous 0:N device) found through the mount source", async () => {
  const tree = {
    ...blockDevice("sda", "devices/ata1", {
      dev: "8:0",
      size: 10,
      partitions: { sda2: { dev: "8:2" } },
    }),
    ...blockDevice("sdb", "devices/ata2", { dev: "8:16", size: 20 }),
    "proc/self/mountinfo": mountinfo("0:33", "btrfs", "/dev/sda2"),
  };
  await withRoot(tree, async (root) => {
    const { disks } = await findDisks(root);
    assert.deepEqual(disks.map((d) => d.name), ["sdb"]);
  });
});

Deno.test("findDisks: live system on overlay/tmpfs root hides nothing", async () => {
  const tree = {
    ...blockDevice("sda", "devices/ata1", { dev: "8:0", size: 10 }),
    "proc/self/mountinfo": mountinfo("0:30", "overlay", "overlay"),
  };
  await withRoot(tree, async (root) => {
    assert.deepEqual((await findRootDisks(root)).size, 0);
    assert.deepEqual((await findDisks(root)).disks.map((d) => d.name), ["sda"]);
  });
});

Deno.test("findDisks: absolute sysfs symlinks are resolved inside the given root", async () => {
  const tree: Tree = {
    ...blockDevice("sda", "devices/ata1", {
      dev: "8:0",
      size: 10,
      partitions: { sda1: { dev: "8:1" } },
    }),
    ...blockDevice("sdb", "devices/ata2", { dev: "8:16", size: 20 }),
    "proc/self/mountinfo": mountinfo("8:1"),
  };
  // Replace the relative link with an absolute one, as some test trees do.
  tree["sys/dev/block/8:1"] = { link: "/sys/devices/ata1/block/sda/sda1" };
  await withRoot(tree, async (root) => {
    assert.deepEqual((await findDisks(root)).disks.map((d) => d.name), ["sdb"]);
  });
});

Deno.test("findDisks: unknown size is 0, removable with medium is kept, removable non-sd unaffected", async () => {
  const tree = {
    "sys/block/hda/device/model": "QEMU HARDDISK\n",
    "sys/block/ubda/size": "not-a-number\n",
    ...blockDevice("vdb", "devices/virtio3", { dev: "252:16", size: 0, removable: true }),
  };
  await withRoot(tree, async (root) => {
    const { disks, removable } = await findDisks(root);
    assert.deepEqual(disks, [
      { name: "hda", sizeBytes: 0, model: "QEMU HARDDISK" },
      { name: "ubda", sizeBytes: 0 },
      { name: "vdb", sizeBytes: 0 },
    ]);
    assert.deepEqual(removable, []);
  });
});

Deno.test("findDisks: empty or missing tree gives empty lists, never throws", async () => {
  await withRoot({}, async (root) => {
    assert.deepEqual(await findDisks(root), {
      disks: [],
      removable: [],
      bootMedium: [],
      runningSystem: [],
    });
  });
  assert.deepEqual(await findDisks("/nonexistent/p2v-root"), {
    disks: [],
    removable: [],
    bootMedium: [],
    runningSystem: [],
  });
});

Deno.test("parseRootMount: picks the last `/` line, with its source", () => {
  const text = [
    "1 0 8:2 / / rw - ext4 /dev/sda2 rw",
    "40 1 0:5 / /dev rw - devtmpfs devtmpfs rw",
    "41 1 8:17 / / rw shared:9 master:1 - xfs /dev/sdb1 rw",
    "garbage",
    "",
  ].join("\n");
  assert.deepEqual(parseRootMount(text), { devNum: "8:17", source: "/dev/sdb1" });
  assert.equal(parseRootMount("40 1 0:5 / /dev rw - devtmpfs devtmpfs rw\n"), undefined);
  assert.equal(parseRootMount(undefined), undefined);
});

Deno.test("parseVpdSerial: header, length, padding, wrong page", () => {
  assert.equal(parseVpdSerial(vpdPage80("  ABC123  ")), "ABC123");
  assert.equal(parseVpdSerial(new Uint8Array([0, 0x80, 0, 3, 65, 66, 67, 68])), "ABC");
  assert.equal(parseVpdSerial(new Uint8Array([0, 0x83, 0, 3, 65, 66, 67])), undefined);
  assert.equal(parseVpdSerial(new Uint8Array([0, 0x80, 0, 0])), undefined);
  assert.equal(parseVpdSerial(new Uint8Array([0, 0x80])), undefined);
  assert.equal(parseVpdSerial(undefined), undefined);
});
