import assert from "node:assert/strict";
import { launcherDescriptors } from "../src/system/launcher_files.ts";

Deno.test("only the listed descriptors that are in-memory files are taken, never 0-2", () => {
  const links: Record<number, string> = {
    1: "/memfd:deno (deleted)",
    4: "/memfd:deno (deleted)",
    5: "/memfd:libc.so.6 (deleted)",
    6: "/dev/pts/0",
    7: "socket:[123]",
  };
  const linkOf = (fd: number) => links[fd] ?? null;
  assert.deepEqual(launcherDescriptors("1,4,5,6,7,8,x,-3,", linkOf), [4, 5]);
  assert.deepEqual(launcherDescriptors("", linkOf), []);
});
