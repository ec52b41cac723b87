/**
 * The firmware physical.xml states for the guest. virt-v2v takes a stated
 * firmware over what its own inspection of the disks finds, so we state it
 * only where our boot and the disks agree: UEFI boot and an EFI system
 * partition on a chosen disk, or BIOS boot and none. Where they disagree (a
 * machine that started our medium in the other mode) or a disk could not be
 * read, we say nothing and virt-v2v decides from the disks.
 */

import type { FirmwareFacts } from "../collect/types.ts";

export interface GuestFirmware {
  type: "bios" | "efi";
  /** Only with `efi`, and only when known. */
  secureBoot?: boolean;
}

export interface GuestFirmwareChoice {
  firmware?: GuestFirmware;
  /** Why, for the debug log. */
  why: string;
}

/** `espOnDisks`: per chosen disk, whether it holds an EFI system partition (undefined: unknown). */
export function chooseGuestFirmware(
  facts: FirmwareFacts | undefined,
  espOnDisks: (boolean | undefined)[],
): GuestFirmwareChoice {
  if (facts === undefined) return { why: "the firmware of this machine is unknown" };
  if (espOnDisks.includes(undefined)) {
    return { why: "the partition table of a chosen disk could not be read" };
  }
  const esp = espOnDisks.includes(true);
  if (facts.boot === "uefi" && esp) {
    const firmware: GuestFirmware = { type: "efi" };
    if (facts.secureBoot !== undefined) firmware.secureBoot = facts.secureBoot;
    const sb = facts.secureBoot === undefined
      ? "Secure Boot state unknown"
      : `Secure Boot ${facts.secureBoot ? "on" : "off"}`;
    return { firmware, why: `UEFI boot and an EFI system partition (${sb})` };
  }
  if (facts.boot === "bios" && !esp) {
    return { firmware: { type: "bios" }, why: "BIOS boot and no EFI system partition" };
  }
  return {
    why: facts.boot === "uefi"
      ? "UEFI boot but no EFI system partition on the chosen disks: virt-v2v decides"
      : "BIOS boot but an EFI system partition on a chosen disk: virt-v2v decides",
  };
}
