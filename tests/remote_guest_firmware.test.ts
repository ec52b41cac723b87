import assert from "node:assert/strict";
import { chooseGuestFirmware } from "../src/remote/guest_firmware.ts";

Deno.test("guest firmware: stated only where our boot and the disks agree", () => {
  assert.deepEqual(
    chooseGuestFirmware({ boot: "uefi", secureBoot: true }, [false, true]).firmware,
    {
      type: "efi",
      secureBoot: true,
    },
  );
  assert.deepEqual(chooseGuestFirmware({ boot: "uefi", secureBoot: false }, [true]).firmware, {
    type: "efi",
    secureBoot: false,
  });
  assert.deepEqual(chooseGuestFirmware({ boot: "uefi" }, [true]).firmware, { type: "efi" });
  assert.deepEqual(chooseGuestFirmware({ boot: "bios" }, [false, false]).firmware, {
    type: "bios",
  });
});

Deno.test("guest firmware: a mismatch, an unreadable disk or unknown facts leave it to virt-v2v", () => {
  const cases = [
    chooseGuestFirmware({ boot: "uefi", secureBoot: true }, [false]),
    chooseGuestFirmware({ boot: "bios" }, [false, true]),
    chooseGuestFirmware({ boot: "uefi" }, [true, undefined]),
    chooseGuestFirmware(undefined, [true]),
  ];
  for (const c of cases) {
    assert.equal(c.firmware, undefined, c.why);
    assert.ok(c.why.length > 0);
  }
  assert.match(cases[0].why, /no EFI system partition/);
  assert.match(cases[1].why, /virt-v2v decides/);
});
