/** Choices fed by the conversion server: however long the list it sends, the dialog copes. */
import assert from "node:assert/strict";
import { parseMachineReadable } from "../src/remote/virt_v2v_probe.ts";
import { Choice } from "../src/screens/choice.ts";

const manyOutputs = (n: number) =>
  ["virt-v2v-2.0", "libguestfs-rewrite", "input:libvirt"]
    .concat(Array.from({ length: n }, (_, i) => `output:mode${i}`))
    .join("\n");

Deno.test("choice: --machine-readable with 200,000 output modes gives a bounded list", () => {
  const caps = parseMachineReadable(manyOutputs(200_000));
  assert.ok(caps.outputs.length <= 64, `${caps.outputs.length} output modes kept`);
  assert.deepEqual(caps.outputs.slice(0, 2), ["mode0", "mode1"]);
  assert.deepEqual(caps.inputs, ["libvirt"]);
  // Duplicates and absurd names are not choices.
  const odd = parseMachineReadable(
    "libguestfs-rewrite\noutput:local\noutput:local\noutput:" + "x".repeat(1000),
  );
  assert.deepEqual(odd.outputs, ["local"]);
});

Deno.test("choice: a list of 500,000 options still renders", () => {
  const options = Array.from({ length: 500_000 }, (_, i) => `option${i}`);
  const choice = new Choice("Output", options, "option7");
  const text = choice.render(true).segs.map((s) => s.text).join("");
  assert.match(text, /^< option7 +>$/);
  assert.equal(text.length, "< option499999 >".length);
});
