/** Facts read from the physical machine (SPEC §4). Read-only discovery. */

export interface DiskInfo {
  /** Kernel name (`sda`, `nvme0n1`, `cciss/c0d0`). */
  name: string;
  /** Size in bytes (`/sys/block/X/size` × 512). */
  sizeBytes: number;
  model?: string;
  serial?: string;
}

export interface RemovableInfo {
  name: string;
  model?: string;
}

export interface InterfaceInfo {
  name: string;
  /** MAC address, lowercase `aa:bb:cc:dd:ee:ff`, when the kernel exposes one. */
  mac?: string;
}

export interface CpuTopology {
  sockets: number;
  cores: number;
  threads: number;
}

export interface CpuFacts {
  /** `Intel`, `AMD`, or undefined. */
  vendor?: string;
  acpi: boolean;
  apic: boolean;
  pae: boolean;
  topology: CpuTopology;
  /** Online logical CPUs. */
  onlineCpus: number;
}

export interface RtcFacts {
  basis: "unknown" | "utc" | "localtime";
  /** Seconds. */
  offset: number;
}

export interface HostFacts {
  disks: DiskInfo[];
  removable: RemovableInfo[];
  interfaces: InterfaceInfo[];
  cpu: CpuFacts;
  /** Host RAM rounded up to a power of two, in bytes. */
  memory: number;
  rtc: RtcFacts;
  /** Short hostname (before the first dot), or undefined. */
  hostname?: string;
  /** `x86_64`, `aarch64`, … */
  arch: string;
}
