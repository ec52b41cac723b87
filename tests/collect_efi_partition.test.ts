/**
 * EFI system partitions found in partition tables that sfdisk writes, as an
 * installer would, on image files of 512- and 4096-byte sectors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { hasEfiSystemPartition, withDiskReader } from "../src/collect/efi_partition.ts";

const MiB = 1024 * 1024;
const work = await Deno.makeTempDir({ prefix: "p2v-esp." });

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  assert.ok(out.success, `${cmd}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).trim();
}

async function partitioned(name: string, script: string): Promise<string> {
  const path = join(work, name);
  const file = await Deno.open(path, { create: true, write: true });
  await file.truncate(64 * MiB);
  file.close();
  await sfdisk(path, script);
  return path;
}

async function sfdisk(path: string, script: string): Promise<void> {
  const sfdisk = new Deno.Command("sfdisk", {
    // sfdisk cannot re-read a loop device's table: harmless, the table is written.
    args: ["--quiet", "--no-reread", "--no-tell-kernel", path],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const w = sfdisk.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const out = await sfdisk.output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

async function espOf(path: string): Promise<boolean | undefined> {
  return await withDiskReader(path, hasEfiSystemPartition);
}

Deno.test("EFI partition: GPT with an ESP among others, GPT without one", async () => {
  assert.equal(
    await espOf(await partitioned("gpt-esp.img", "label: gpt\n,8M,L\n,16M,U\n,,L\n")),
    true,
  );
  assert.equal(
    await espOf(
      await partitioned(
        "gpt-bios.img",
        "label: gpt\n,1M,21686148-6449-6E6F-744E-656564454649\n,,L\n",
      ),
    ),
    false,
  );
});

Deno.test("EFI partition: a block device of 4096-byte sectors, and its image", async () => {
  // A disk of 4 KiB logical sectors puts the GPT header at byte 4096; a loop
  // device with that sector size is one, as far as sfdisk and we can tell.
  for (
    const [name, script, want] of [
      ["gpt4k-esp.img", "label: gpt\n,16M,U\n,,L\n", true],
      ["gpt4k.img", "label: gpt\n,,L\n", false],
    ] as const
  ) {
    const path = join(work, name);
    await Deno.writeFile(path, new Uint8Array(0));
    await Deno.truncate(path, 64 * MiB);
    const dev = await run("losetup", ["--show", "-f", "-b", "4096", path]);
    try {
      await sfdisk(dev, script);
      assert.equal(await espOf(dev), want, `${name} through ${dev}`);
    } finally {
      await run("losetup", ["-d", dev]);
    }
    assert.equal(await espOf(path), want, name);
  }
});

Deno.test("EFI partition: MBR with type ef, MBR with Linux only", async () => {
  assert.equal(await espOf(await partitioned("mbr-esp.img", "label: dos\n,16M,ef\n,,83\n")), true);
  assert.equal(await espOf(await partitioned("mbr.img", "label: dos\n,16M,83\n,,8e\n")), false);
});

Deno.test("EFI partition: no partition table, or a disk too small for one, is unknown", async () => {
  const blank = join(work, "blank.img");
  await Deno.writeFile(blank, new Uint8Array(MiB));
  assert.equal(await espOf(blank), undefined);
  const tiny = join(work, "tiny.img");
  await Deno.writeFile(tiny, new Uint8Array(100));
  assert.equal(await espOf(tiny), undefined);
  // A protective MBR whose GPT header is missing.
  const broken = await partitioned("broken.img", "label: gpt\n,,U\n");
  const f = await Deno.open(broken, { write: true });
  await f.seek(512, Deno.SeekMode.Start);
  await f.write(new Uint8Array(512));
  f.close();
  assert.equal(await espOf(broken), undefined);
});

Deno.test("EFI partition: the disk is opened read-only", async () => {
  const path = await partitioned("ro.img", "label: gpt\n,16M,U\n");
  await Deno.chmod(path, 0o444);
  const before = await Deno.readFile(path);
  assert.equal(await espOf(path), true);
  assert.deepEqual(await Deno.readFile(path), before);
});

addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
