import assert from "node:assert/strict";
import { collectHostFacts, hostArch } from "../src/collect/host_facts.ts";
import type { Runner } from "../src/collect/run_command.ts";
import { LSCPU_INTEL, referenceTree, withRoot } from "./collect_sysroot.ts";

const fakeLscpu: Runner = (cmd) =>
  Promise.resolve(cmd === "lscpu" ? { ok: true, stdout: LSCPU_INTEL } : { ok: false, stdout: "" });

Deno.test("collectHostFacts: reference machine, everything injected", async () => {
  await withRoot(referenceTree(), async (root) => {
    const facts = await collectHostFacts({
      root,
      run: fakeLscpu,
      now: () => 1_700_000_000 - 2 * 3600, // RTC two hours ahead …
      tzOffset: () => 2 * 3600, // … of UTC, in a UTC+2 zone: local time
      hostname: () => undefined, // use ROOT/proc/sys/kernel/hostname
    });
    assert.deepEqual(facts, {
      disks: [
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
        { name: "sdd", sizeBytes: 31116288 * 512, model: "Cruzer Blade" },
        { name: "vda", sizeBytes: 41943040 * 512, serial: "VIRTIO-SER-1" },
      ],
      removable: [{ name: "sr0", model: "DVD-RAM UJ8E2" }, { name: "sr1" }],
      // `/` is on sdb2.
      runningSystem: [{
        name: "sdb",
        sizeBytes: 62914560 * 512,
        model: "ST32000542AS",
        serial: "t10.ATA ST32000542AS",
      }],
      interfaces: [
        { name: "em1" },
        { name: "enp1s0" },
        { name: "eth0", mac: "52:54:00:ab:cd:ef" },
        { name: "wlan0", mac: "a4:34:d9:01:02:03" },
      ],
      cpu: {
        vendor: "Intel", // lscpu wins over /proc/cpuinfo's AuthenticAMD
        acpi: true,
        apic: true,
        pae: true,
        topology: { sockets: 1, cores: 4, threads: 2 },
        onlineCpus: 8,
      },
      memory: 16 * 1024 ** 3,
      rtc: { basis: "localtime", offset: 0 },
      hostname: "p2v-host",
      arch: hostArch(),
      firmware: { boot: "bios" },
    });
  });
});

Deno.test("collectHostFacts: empty root degrades to defaults without throwing", async () => {
  await withRoot({}, async (root) => {
    const facts = await collectHostFacts({
      root,
      run: () => Promise.resolve({ ok: false, stdout: "" }),
      hostname: () => undefined,
    });
    assert.deepEqual(facts.disks, []);
    assert.deepEqual(facts.removable, []);
    assert.deepEqual(facts.interfaces, []);
    assert.deepEqual(facts.rtc, { basis: "unknown", offset: 0 });
    assert.equal(facts.memory, 1024 ** 3);
    assert.equal(facts.hostname, undefined);
    assert.equal("hostname" in facts, false);
    assert.deepEqual(facts.cpu.topology, { sockets: 1, cores: 1, threads: 1 });
    assert.equal(facts.cpu.acpi, false);
    assert.ok(facts.cpu.onlineCpus >= 1);
  });
});

Deno.test("hostArch: libvirt names", () => {
  const arch = hostArch();
  assert.ok(!["x64", "amd64", "arm64"].includes(arch));
  if (Deno.build.arch === "x86_64") assert.equal(arch, "x86_64");
  if (Deno.build.arch === "aarch64") assert.equal(arch, "aarch64");
});

Deno.test("collectHostFacts: the real machine — returns sane types, whatever the hardware", async () => {
  const f = await collectHostFacts();
  const isPositiveInt = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n >= 1;
  assert.ok(Array.isArray(f.disks));
  for (const d of f.disks) {
    assert.equal(typeof d.name, "string");
    assert.ok(Number.isInteger(d.sizeBytes) && d.sizeBytes >= 0);
    assert.ok(d.model === undefined || typeof d.model === "string");
    assert.ok(d.serial === undefined || typeof d.serial === "string");
  }
  for (const r of f.removable) assert.ok(r.name.startsWith("sr"));
  for (const i of f.interfaces) {
    assert.match(i.name, /^(em|en|eth|wl)/);
    assert.ok(i.mac === undefined || /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(i.mac));
  }
  assert.ok(f.cpu.vendor === undefined || ["Intel", "AMD"].includes(f.cpu.vendor));
  for (const b of [f.cpu.acpi, f.cpu.apic, f.cpu.pae]) assert.equal(typeof b, "boolean");
  assert.ok(isPositiveInt(f.cpu.topology.sockets));
  assert.ok(isPositiveInt(f.cpu.topology.cores));
  assert.ok(isPositiveInt(f.cpu.topology.threads));
  assert.ok(isPositiveInt(f.cpu.onlineCpus));
  assert.ok(f.memory >= 1 && Number.isInteger(Math.log2(f.memory)));
  assert.ok(["unknown", "utc", "localtime"].includes(f.rtc.basis));
  assert.ok(Number.isInteger(f.rtc.offset));
  assert.ok(f.hostname === undefined || (f.hostname !== "" && !f.hostname.includes(".")));
  assert.equal(typeof f.arch, "string");
});
