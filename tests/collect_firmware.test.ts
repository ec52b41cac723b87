import assert from "node:assert/strict";
import { collectFirmware } from "../src/collect/firmware.ts";
import { type Tree, withRoot } from "./collect_sysroot.ts";

const SECURE_BOOT = "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";
/** Attributes NV+BS+RT, then the value. */
const variable = (value: number) => new Uint8Array([0x06, 0, 0, 0, value]);

Deno.test("firmware: no /sys/firmware/efi is a BIOS boot", async () => {
  await withRoot({ "sys/firmware/acpi/tables/DSDT": "x" }, async (root) => {
    assert.deepEqual(await collectFirmware(root), { boot: "bios" });
  });
});

Deno.test("firmware: UEFI with the SecureBoot variable on, off, missing or malformed", async () => {
  const cases: [Uint8Array | undefined, boolean | undefined][] = [
    [variable(1), true],
    [variable(0), false],
    [undefined, undefined],
    [new Uint8Array([6, 0, 0, 0]), undefined],
    [variable(7), undefined],
  ];
  for (const [bytes, want] of cases) {
    const tree: Tree = bytes === undefined
      ? { "sys/firmware/efi/runtime": "" }
      : { "sys/firmware/efi/runtime": "", [SECURE_BOOT]: bytes };
    await withRoot(tree, async (root) => {
      const got = await collectFirmware(root);
      assert.deepEqual(
        got,
        want === undefined ? { boot: "uefi" } : { boot: "uefi", secureBoot: want },
      );
    });
  }
});
