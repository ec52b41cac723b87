import type { HostFacts } from "../../src/collect/types.ts";

/** The machine the config tests resolve against: two disks, a CD, two NICs, 8 CPUs. */
export function resolveHost(extra: Partial<HostFacts> = {}): HostFacts {
  return {
    disks: [{ name: "sda", sizeBytes: 1e12 }, { name: "nvme0n1", sizeBytes: 5e11 }],
    removable: [{ name: "sr0" }],
    interfaces: [{ name: "em1", mac: "52:54:00:00:00:01" }, { name: "wlp2s0" }],
    cpu: {
      vendor: "Intel",
      acpi: true,
      apic: true,
      pae: false,
      topology: { sockets: 1, cores: 4, threads: 2 },
      onlineCpus: 8,
    },
    memory: 16 * 2 ** 30,
    rtc: { basis: "utc", offset: 3600 },
    hostname: "pc42",
    arch: "x86_64",
    ...extra,
  };
}
