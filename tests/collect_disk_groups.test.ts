import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { findDiskGroups } from "../src/collect/disk_groups.ts";
import { parseVgMetadata } from "../src/collect/lvm_label.ts";
import { blockDevice, withRoot } from "./collect_sysroot.ts";
import { type LoopDevice, withLoopDevices } from "./helpers/loop_devices.ts";
import { run } from "./helpers/process.ts";

/** struct mdp_superblock_1's first 64 bytes: magic, major_version 1, set_uuid, set_name. */
function mdSuperblock1(uuid: Uint8Array, name: string): Uint8Array {
  const sb = new Uint8Array(256);
  const view = new DataView(sb.buffer);
  view.setUint32(0, 0xa92b4efc, true);
  view.setUint32(4, 1, true);
  sb.set(uuid, 16);
  sb.set(new TextEncoder().encode(name), 32);
  return sb;
}

/** mdp_super_t's words that matter: magic, major_version 0, set_uuid0 at 20, set_uuid1–3 at 52. */
function mdSuperblock090(uuid: Uint8Array): Uint8Array {
  const sb = new Uint8Array(4096);
  const view = new DataView(sb.buffer);
  view.setUint32(0, 0xa92b4efc, true);
  view.setUint32(4, 0, true);
  sb.set(uuid.subarray(0, 4), 20);
  sb.set(uuid.subarray(4, 16), 52);
  return sb;
}

async function writeAt(path: string, offset: number, bytes: Uint8Array): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const file = await Deno.open(path, { write: true, create: true });
  try {
    await file.seek(offset, Deno.SeekMode.Start);
    await file.write(bytes);
  } finally {
    file.close();
  }
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const MIB = 2 ** 20;

Deno.test("findDiskGroups: LVM volume group on loop devices, whole disk and partition", async () => {
  const vg = `p2vtest${Deno.pid}`;
  const single = `${vg}single`;
  await withLoopDevices([
    { sizeMiB: 64 },
    { sizeMiB: 64, partitions: ["start=2048, size=61440"] },
    { sizeMiB: 32 },
    { sizeMiB: 32 },
  ], async ([a, b, c, d]: LoopDevice[]) => {
    try {
      await run("pvcreate", ["-ff", "-y", a.path, b.partitions[0], c.path, d.path]);
      await run("vgcreate", [vg, a.path, b.partitions[0]]);
      // A group on one disk is whole whenever that disk is converted; a bare PV is in no group.
      await run("vgcreate", [single, c.path]);
      const groups = await findDiskGroups("/", [a.name, b.name, c.name, d.name]);
      assert.deepEqual(groups, [{ kind: "lvm", name: vg, disks: [a.name, b.name].sort() }]);
      // Only the disks asked about count: the group's other PV is on none of them.
      assert.deepEqual(await findDiskGroups("/", [a.name, c.name]), [
        { kind: "lvm", name: vg, disks: [a.name], absent: [b.partitions[0]] },
      ]);
    } finally {
      await run("vgremove", ["-f", vg], { check: false });
      await run("vgremove", ["-f", single], { check: false });
      await run("pvremove", ["-ff", "-y", a.path, b.partitions[0], c.path, d.path], {
        check: false,
      });
    }
  });
});

Deno.test("findDiskGroups: md superblocks 1.2 on loop devices, whole disk and partition", async () => {
  const uuid = crypto.getRandomValues(new Uint8Array(16));
  await withLoopDevices([
    { sizeMiB: 16 },
    { sizeMiB: 16, partitions: ["start=2048, size=8192", "start=10240, size=16384"] },
    { sizeMiB: 16 },
  ], async ([a, b, c]: LoopDevice[]) => {
    // The kernel here may have no md driver, so the members' superblocks are
    // written as mdadm writes them; mdadm itself is tested below where md exists.
    await writeAt(a.path, 4096, mdSuperblock1(uuid, "p2vhost:7"));
    await writeAt(b.partitions[1], 4096, mdSuperblock1(uuid, "p2vhost:7"));
    const groups = await findDiskGroups("/", [a.name, b.name, c.name]);
    assert.deepEqual(groups, [{ kind: "md", name: "p2vhost:7", disks: [a.name, b.name].sort() }]);
  });
});

Deno.test({
  name: "findDiskGroups: a RAID1 made by mdadm on two loop devices",
  ignore: !existsSync("/proc/mdstat"),
  fn: async () => {
    const md = `/dev/md/p2vtest${Deno.pid}`;
    await withLoopDevices([{ sizeMiB: 32 }, { sizeMiB: 32 }], async ([a, b]) => {
      try {
        await run("mdadm", [
          "--create",
          md,
          "--run",
          "--metadata=1.2",
          "--level=1",
          "--raid-devices=2",
          a.path,
          b.path,
        ]);
        await run("mdadm", ["--stop", md]);
        const groups = await findDiskGroups("/", [a.name, b.name]);
        assert.equal(groups.length, 1);
        assert.equal(groups[0].kind, "md");
        // mdadm names the array HOST:NAME in its 1.2 superblock.
        assert.match(groups[0].name, new RegExp(`:p2vtest${Deno.pid}$`));
        assert.deepEqual(groups[0].disks, [a.name, b.name].sort());
      } finally {
        await run("mdadm", ["--stop", md], { check: false });
        await run("mdadm", ["--zero-superblock", a.path, b.path], { check: false });
      }
    });
  },
});

Deno.test("findDiskGroups: md 1.0 and 0.90 superblocks at the end, 1.1 at the start", async () => {
  const v10 = crypto.getRandomValues(new Uint8Array(16));
  const v090 = crypto.getRandomValues(new Uint8Array(16));
  const v11 = crypto.getRandomValues(new Uint8Array(16));
  const sectors = (16 * MIB + 3 * 512) / 512; // not a multiple of 4 KiB or 64 KiB
  const size = sectors * 512;
  const tree = {
    ...blockDevice("sda", "devices/ata1", {
      dev: "8:0",
      size: sectors,
      partitions: { sda1: { dev: "8:1", size: sectors } },
    }),
    ...blockDevice("sdb", "devices/ata2", { dev: "8:16", size: sectors }),
    ...blockDevice("sdc", "devices/ata3", { dev: "8:32", size: sectors }),
    ...blockDevice("sdd", "devices/ata4", { dev: "8:48", size: sectors }),
    ...blockDevice("vda", "devices/virtio1", { dev: "252:0", size: sectors }),
    ...blockDevice("vdb", "devices/virtio2", { dev: "252:16", size: sectors }),
  };
  await withRoot(tree, async (root) => {
    const dev = (name: string) => join(root, "dev", name);
    // 1.0: 8 KiB before the end, on a 4 KiB boundary.
    const end10 = Math.floor((size - 8192) / 4096) * 4096;
    await writeAt(dev("sda1"), end10, mdSuperblock1(v10, "end:0"));
    await writeAt(dev("sdb"), end10, mdSuperblock1(v10, "end:0"));
    // 0.90: the last 64 KiB-aligned 64 KiB.
    const end090 = Math.floor(size / 65536) * 65536 - 65536;
    await writeAt(dev("sdc"), end090, mdSuperblock090(v090));
    await writeAt(dev("sdd"), end090, mdSuperblock090(v090));
    await writeAt(dev("vda"), 0, mdSuperblock1(v11, ""));
    await writeAt(dev("vdb"), 0, mdSuperblock1(v11, ""));
    for (const name of ["sda", "sda1", "sdb", "sdc", "sdd", "vda", "vdb"]) {
      await writeAt(dev(name), size - 1, new Uint8Array(1));
    }
    assert.deepEqual(await findDiskGroups(root, ["sda", "sdb", "sdc", "sdd", "vda", "vdb"]), [
      { kind: "md", name: "end:0", disks: ["sda", "sdb"] },
      { kind: "md", name: hex(v090), disks: ["sdc", "sdd"] },
      { kind: "md", name: hex(v11), disks: ["vda", "vdb"] },
    ]);
    // A superblock one 4 KiB block off is not where the kernel looks: nothing found.
    await writeAt(dev("vda"), 0, new Uint8Array(256));
    await writeAt(dev("vda"), 512, mdSuperblock1(v11, ""));
    assert.deepEqual(
      (await findDiskGroups(root, ["vda", "vdb"])).length,
      0,
    );
  });
});

Deno.test("findDiskGroups: disks without a node, unreadable or empty give no group", async () => {
  const tree = {
    ...blockDevice("sda", "devices/ata1", { dev: "8:0", size: 8 }),
    ...blockDevice("sdb", "devices/ata2", { dev: "8:16", size: 8 }),
  };
  await withRoot(tree, async (root) => {
    await writeAt(join(root, "dev/sdb"), 0, new Uint8Array(4096));
    assert.deepEqual(await findDiskGroups(root, ["sda", "sdb", "sdz"]), []);
  });
});

Deno.test("parseVgMetadata: group name and id, every PV's id, this PV among them", () => {
  const text = `vg-data {
id = "e17JVp-wPkp-2Byv-WfPT-k5g1-KeN6-GwKuhx"
seqno = 3
physical_volumes {
pv0 {
id = "yVzJcz-7YiW-d9Wz-dVhh-MpiF-3NaS-5yGJvj"
device = "/dev/sda2"
status = ["ALLOCATABLE"]
}
pv1 {
id = "SyDbdn-VO61-n8vB-DF1h-0D8e-deV2-H8E4j9"
device = "/dev/sdb"
}
}
logical_volumes {
root {
id = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg"
}
}
}
`;
  assert.deepEqual(parseVgMetadata(text, "SyDbdnVO61n8vBDF1h0D8edeV2H8E4j9"), {
    pvId: "SyDbdnVO61n8vBDF1h0D8edeV2H8E4j9",
    vgName: "vg-data",
    vgId: "e17JVpwPkp2ByvWfPTk5g1KeN6GwKuhx",
    pvs: [
      { id: "yVzJcz7YiWd9WzdVhhMpiF3NaS5yGJvj", device: "/dev/sda2" },
      { id: "SyDbdnVO61n8vBDF1h0D8edeV2H8E4j9", device: "/dev/sdb" },
    ],
  });
  // A label whose PV the metadata does not list is stale: no group.
  assert.equal(parseVgMetadata(text, "aaaaaabbbbccccddddeeeeffffgggggg"), undefined);
  assert.equal(parseVgMetadata('contents = "Text Format Volume Group"\n', "x"), undefined);
});

Deno.test("findDiskGroups: a device that does not answer is passed over after the bound", async () => {
  const uuid = crypto.getRandomValues(new Uint8Array(16));
  const tree = {
    ...blockDevice("sda", "devices/ata1", { dev: "8:0", size: 64 }),
    ...blockDevice("sdb", "devices/ata2", { dev: "8:16", size: 64 }),
    ...blockDevice("sdc", "devices/ata3", { dev: "8:32", size: 64 }),
  };
  await withRoot(tree, async (root) => {
    await writeAt(join(root, "dev/sda"), 4096, mdSuperblock1(uuid, "slow:0"));
    await writeAt(join(root, "dev/sdc"), 4096, mdSuperblock1(uuid, "slow:0"));
    // Opening a FIFO for reading blocks until someone opens it for writing: a drive that hangs.
    await run("mkfifo", [join(root, "dev/sdb")]);
    const started = performance.now();
    const groups = await findDiskGroups(root, ["sda", "sdb", "sdc"], undefined, 300);
    const took = performance.now() - started;
    assert.deepEqual(groups, [{ kind: "md", name: "slow:0", disks: ["sda", "sdc"] }]);
    assert.ok(took >= 300 && took < 3000, `took ${took} ms`);
    // Let the blocked open finish, so that nothing is left running.
    (await Deno.open(join(root, "dev/sdb"), { write: true })).close();
    await new Promise((r) => setTimeout(r, 100));
  });
});
