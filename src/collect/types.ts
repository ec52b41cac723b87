/** Facts read from the physical machine. Read-only discovery. */

export interface DiskInfo {
  /** Kernel name (`sda`, `nvme0n1`, `cciss/c0d0`). */
  name: string;
  /** Size in bytes (`/sys/block/X/size` × 512). */
  sizeBytes: number;
  model?: string;
  serial?: string;
  /** Kernel names of the other paths to the same LUN (multipath), not listed on their own. */
  otherPaths?: string[];
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

export interface FirmwareFacts {
  /** How this boot was started: the machine's firmware in the mode it used for our medium. */
  boot: "bios" | "uefi";
  /** Secure Boot on or off, when UEFI and efivarfs tell; undefined when unknown. */
  secureBoot?: boolean;
}

export interface HostFacts {
  /** Fixed disks to offer for conversion (not the root disk, not the boot medium). */
  disks: DiskInfo[];
  removable: RemovableInfo[];
  /**
   * Fixed disks the machine booted from (our USB stick or disk image), left
   * out of `disks`; absent when there are none.
   */
  bootMedium?: DiskInfo[];
  /**
   * Fixed disks that hold the running system (a live system converting its
   * other disks), left out of `disks`; absent when there are none.
   */
  runningSystem?: DiskInfo[];
  /**
   * Groups spanning two or more of the disks above (boot medium included),
   * or with a member on none of them; absent when none.
   */
  diskGroups?: DiskGroup[];
  interfaces: InterfaceInfo[];
  cpu: CpuFacts;
  /** Host RAM rounded up to a power of two, in bytes. */
  memory: number;
  rtc: RtcFacts;
  /** Short hostname (before the first dot), or undefined. */
  hostname?: string;
  /** `x86_64`, `aarch64`, … */
  arch: string;
  /** How this machine booted; absent when not collected. */
  firmware?: FirmwareFacts;
}

/** Disks that hold one volume group or RAID array between them: converted all together or not at all. */
export interface DiskGroup {
  /** `lvm`: the PVs of one volume group; `md`: the members of one md RAID array. */
  kind: "lvm" | "md";
  /** The volume group's name, or the array's name (`host:0`), else its UUID. */
  name: string;
  /** Names of the whole disks (as DiskInfo.name) holding a member, sorted. */
  disks: string[];
  /**
   * PVs of the volume group on none of those disks, as the group's metadata
   * last saw them (`/dev/sdc2`, else the PV's id); absent when there are none.
   */
  absent?: string[];
}
