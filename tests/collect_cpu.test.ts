import assert from "node:assert/strict";
import {
  collectCpu,
  countCpuList,
  libvirtVendor,
  parseCpuinfo,
  parseLscpu,
} from "../src/collect/cpu.ts";
import type { Runner, RunOptions } from "../src/collect/run_command.ts";
import { LSCPU_INTEL, withRoot } from "./collect_sysroot.ts";

/** Answers `lscpu` with `text`; records how it was called. */
function lscpuRunner(
  text: string | undefined,
  calls: [string, string[], RunOptions?][] = [],
): Runner {
  return (cmd, args, opts) => {
    calls.push([cmd, args, opts]);
    if (cmd === "lscpu" && text !== undefined) return Promise.resolve({ ok: true, stdout: text });
    return Promise.resolve({ ok: false, stdout: "" });
  };
}

const LSCPU_OLD_AMD = `Architecture:        x86_64
CPU op-mode(s):      32-bit, 64-bit
CPU(s):              32
On-line CPU(s) list: 0-15,24-31
Thread(s) per core:  2
Core(s) per socket:  8
Socket(s):           2
NUMA node(s):        2
Vendor ID:           AuthenticAMD
Model name:          AMD Opteron(tm) Processor 6212
Flags:               fpu vme de pse tsc msr pae mce cx8 apic sep mtrr
`;

const LSCPU_ARM = `Architecture:           aarch64
  CPU op-mode(s):       32-bit, 64-bit
CPU(s):                 4
  On-line CPU(s) list:  0-3
Vendor ID:              ARM
  Model name:           Cortex-A72
    Thread(s) per core: 1
    Core(s) per cluster: 4
    Socket(s):          -
    Cluster(s):         1
    Flags:              fp asimd evtstrm crc32 cpuid
`;

Deno.test("parseLscpu: util-linux 2.38 indented layout", () => {
  assert.deepEqual(parseLscpu(LSCPU_INTEL), {
    vendorId: "GenuineIntel",
    flags: "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov".split(" "),
    sockets: 1,
    coresPerSocket: 4,
    threadsPerCore: 2,
    cpus: 8,
    onlineList: "0-7",
  });
});

Deno.test("parseLscpu: older flat layout, aarch64 without sockets, empty text", () => {
  const amd = parseLscpu(LSCPU_OLD_AMD);
  assert.equal(amd.vendorId, "AuthenticAMD");
  assert.deepEqual([amd.sockets, amd.coresPerSocket, amd.threadsPerCore], [2, 8, 2]);
  assert.equal(amd.onlineList, "0-15,24-31");
  const arm = parseLscpu(LSCPU_ARM);
  assert.equal(arm.vendorId, "ARM");
  assert.equal(arm.sockets, undefined);
  assert.equal(arm.coresPerSocket, undefined);
  assert.equal(arm.threadsPerCore, 1);
  assert.deepEqual(parseLscpu(""), {});
});

Deno.test("parseLscpu: first occurrence wins (hybrid CPUs list one block per core type)", () => {
  const text = "Vendor ID: GenuineIntel\n  Core(s) per socket: 8\n  Core(s) per socket: 4\n";
  assert.equal(parseLscpu(text).coresPerSocket, 8);
});

Deno.test("parseCpuinfo: first processor's vendor and flags", () => {
  const text = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu pae apic\n\n" +
    "processor\t: 1\nvendor_id\t: Other\nflags\t\t: fpu\n";
  assert.deepEqual(parseCpuinfo(text), { vendorId: "GenuineIntel", flags: ["fpu", "pae", "apic"] });
  assert.deepEqual(parseCpuinfo(""), {});
});

Deno.test("libvirtVendor: only Intel and AMD have libvirt names", () => {
  assert.equal(libvirtVendor("GenuineIntel"), "Intel");
  assert.equal(libvirtVendor("AuthenticAMD"), "AMD");
  assert.equal(libvirtVendor("HygonGenuine"), undefined);
  assert.equal(libvirtVendor("ARM"), undefined);
  assert.equal(libvirtVendor(undefined), undefined);
});

Deno.test("countCpuList", () => {
  assert.equal(countCpuList("0-7\n"), 8);
  assert.equal(countCpuList("0"), 1);
  assert.equal(countCpuList("0-15,24-31"), 24);
  assert.equal(countCpuList("0,2,4-5"), 4);
  assert.equal(countCpuList(""), undefined);
  assert.equal(countCpuList("3-1"), undefined);
  assert.equal(countCpuList("a-b"), undefined);
  assert.equal(countCpuList(undefined), undefined);
});

const CPU_TREE = {
  "proc/cpuinfo": "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu pae\n",
  "sys/firmware/acpi/tables/DSDT": "",
  "sys/devices/system/cpu/online": "0-5\n",
};

Deno.test("collectCpu: lscpu answers; sysfs gives online CPUs; lscpu asked in C locale", async () => {
  const calls: [string, string[], RunOptions?][] = [];
  await withRoot(CPU_TREE, async (root) => {
    assert.deepEqual(await collectCpu(root, lscpuRunner(LSCPU_INTEL, calls)), {
      vendor: "Intel",
      acpi: true,
      apic: true,
      pae: true,
      topology: { sockets: 1, cores: 4, threads: 2 },
      onlineCpus: 6,
    });
  });
  assert.equal(calls.length, 1);
  assert.equal(calls[0][0], "lscpu");
  assert.deepEqual(calls[0][1], []);
  assert.equal(calls[0][2]?.env?.LC_ALL, "C");
});

Deno.test("collectCpu: no lscpu → /proc/cpuinfo vendor and flags, 1/1/1 topology", async () => {
  await withRoot(CPU_TREE, async (root) => {
    assert.deepEqual(await collectCpu(root, lscpuRunner(undefined)), {
      vendor: "AMD",
      acpi: true,
      apic: false,
      pae: true,
      topology: { sockets: 1, cores: 1, threads: 1 },
      onlineCpus: 6,
    });
  });
});

Deno.test("collectCpu: a throwing runner is the same as a missing lscpu", async () => {
  await withRoot(CPU_TREE, async (root) => {
    const facts = await collectCpu(root, () => Promise.reject(new Error("boom")));
    assert.equal(facts.vendor, "AMD");
    assert.deepEqual(facts.topology, { sockets: 1, cores: 1, threads: 1 });
  });
});

Deno.test("collectCpu: partial topology falls back to 1/1/1; unknown vendor left unset", async () => {
  await withRoot({}, async (root) => {
    const facts = await collectCpu(root, lscpuRunner(LSCPU_ARM));
    assert.deepEqual(facts, {
      acpi: false,
      apic: false,
      pae: false,
      topology: { sockets: 1, cores: 1, threads: 1 },
      onlineCpus: 4, // from lscpu's on-line list, sysfs being absent
    });
    assert.equal("vendor" in facts, false);
  });
});

Deno.test("collectCpu: online CPUs from lscpu list, then CPU(s), then the runtime", async () => {
  await withRoot({}, async (root) => {
    assert.equal((await collectCpu(root, lscpuRunner(LSCPU_OLD_AMD))).onlineCpus, 24);
    assert.equal((await collectCpu(root, lscpuRunner("CPU(s): 12\n"))).onlineCpus, 12);
    const fallback = (await collectCpu(root, lscpuRunner(undefined))).onlineCpus;
    assert.equal(fallback, Math.max(1, navigator.hardwareConcurrency ?? 1));
  });
});

Deno.test("collectCpu: lscpu without Vendor ID/Flags falls back per field to cpuinfo", async () => {
  await withRoot(CPU_TREE, async (root) => {
    const facts = await collectCpu(
      root,
      lscpuRunner("Socket(s): 2\nCore(s) per socket: 6\nThread(s) per core: 1\n"),
    );
    assert.equal(facts.vendor, "AMD");
    assert.equal(facts.pae, true);
    assert.deepEqual(facts.topology, { sockets: 2, cores: 6, threads: 1 });
  });
});
