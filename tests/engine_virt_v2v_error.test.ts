/** virt-v2v's own error line, found in its output and made safe to carry into our last line. */
import assert from "node:assert/strict";
import {
  MAX_ERROR_COLUMNS,
  virtV2vErrorOf,
  VirtV2vErrorWatch,
} from "../src/engine/virt_v2v_error.ts";

function lastError(lines: string[]): string | undefined {
  const watch = new VirtV2vErrorWatch();
  for (const line of lines) watch.see(line);
  return watch.last;
}

Deno.test("virt-v2v error: the reason of its error line, nothing from other lines", () => {
  assert.equal(
    virtV2vErrorOf("virt-v2v: error: cannot find libvirt pool 'default'"),
    "cannot find libvirt pool 'default'",
  );
  assert.equal(virtV2vErrorOf("[  10.0] Finishing off"), undefined);
  assert.equal(virtV2vErrorOf("virt-v2v: warning: no SELinux"), undefined);
  assert.equal(virtV2vErrorOf("virt-v2v: error: "), undefined);
  assert.equal(virtV2vErrorOf("libguestfs: trace: virt-v2v: error: in the middle"), undefined);
});

Deno.test("virt-v2v error: colours (--colours) and hostile controls are dropped", () => {
  assert.equal(
    virtV2vErrorOf("\x1b[1;31mvirt-v2v: error: no root device found\x1b[0m\r"),
    "no root device found",
  );
  const hostile = virtV2vErrorOf("virt-v2v: error: x\x1b]0;owned\x07\x1b[2J\x9b6n y")!;
  assert.equal(hostile, "x y");
});

Deno.test("virt-v2v error: a flood on the error line is cut and marked", () => {
  const reason = virtV2vErrorOf(`virt-v2v: error: ${"a".repeat(100_000)}`)!;
  assert.equal(reason, `${"a".repeat(MAX_ERROR_COLUMNS)} ...`);
  // Wide characters count as the columns they take.
  const wide = virtV2vErrorOf(`virt-v2v: error: ${"界".repeat(1000)}`)!;
  assert.equal(wide, `${"界".repeat(MAX_ERROR_COLUMNS / 2)} ...`);
});

Deno.test("virt-v2v error: the last error wins; the lines after it are not part of it", () => {
  assert.equal(
    lastError([
      "virt-v2v: error: an earlier one",
      "",
      "[  3.0] Converting",
      "virt-v2v: error: inspection could not detect the source guest (or physical machine).",
      "[  10.0] Finishing off",
      "",
      "If reporting bugs, run virt-v2v with debugging enabled and include the",
      "complete output:",
    ]),
    "inspection could not detect the source guest (or physical machine).",
  );
  assert.equal(lastError(["[  1.0] Opening the source", "Copying disk sda"]), undefined);
});
