/**
 * Which firmware started this machine, and whether Secure Boot was on.
 *
 * The Secure Boot state is the one-byte value of the EFI global variable
 * `SecureBoot`, read through efivarfs (its file starts with four bytes of
 * attributes). Without efivarfs mounted the state is unknown rather than
 * guessed from the kernel's lockdown, which can also be set by hand.
 */

import { join } from "node:path";
import { exists, readBytes } from "./sysfs.ts";
import type { FirmwareFacts } from "./types.ts";

/** The EFI global variable GUID that `SecureBoot` lives under. */
const EFI_GLOBAL_VARIABLE = "8be4df61-93ca-11d2-aa0d-00e098032b8c";

export async function collectFirmware(root: string): Promise<FirmwareFacts> {
  if (!await exists(join(root, "sys/firmware/efi"))) return { boot: "bios" };
  const variable = await readBytes(
    join(root, "sys/firmware/efi/efivars", `SecureBoot-${EFI_GLOBAL_VARIABLE}`),
  );
  // Four bytes of attributes, then the value: 1 on, 0 off.
  if (variable === undefined || variable.length !== 5 || variable[4] > 1) return { boot: "uefi" };
  return { boot: "uefi", secureBoot: variable[4] === 1 };
}
