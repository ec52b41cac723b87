import assert from "node:assert/strict";
import { join } from "node:path";
import { nameThisProcess } from "../src/system/process_name.ts";
import { tempDir } from "./helpers/cleanup.ts";

Deno.test("a process renamed by nameThisProcess shows the new name in /proc", async () => {
  const code = `import { nameThisProcess } from ${
    JSON.stringify(
      new URL("../src/system/process_name.ts", import.meta.url).href,
    )
  };
const ok = nameThisProcess("p2v-name-test-longer-than-15");
console.log(ok, Deno.readTextFileSync("/proc/self/comm").trim());`;
  const out = await new Deno.Command(Deno.execPath(), { args: ["eval", code] }).output();
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "true p2v-name-test-l");
});

Deno.test("nameThisProcess says false where the name cannot be set", async () => {
  const dir = await tempDir({ prefix: "p2v-comm." });
  assert.equal(nameThisProcess("x", join(dir, "missing", "comm")), false);
});
