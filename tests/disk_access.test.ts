/**
 * Disks that cannot be read are an error before the connection: unattended,
 * the one error line names them and what to do, and no server is contacted.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { unreadableDisks } from "../src/engine/disk_access.ts";
import { tempDir } from "./helpers/cleanup.ts";
import { p2vArgs, runP2v } from "./helpers/p2v.ts";
import { freePort } from "./helpers/process.ts";

const work = await tempDir({ prefix: "p2v-access-" });
const readable = join(work, "disk.img");
await Deno.writeFile(readable, new Uint8Array(4096));
const locked = join(work, "locked.img");
await Deno.writeFile(locked, new Uint8Array(4096));
await Deno.chmod(locked, 0o000);

Deno.test("unreadableDisks: what exists and opens is fine; the rest is named with what to do", async () => {
  assert.equal(await unreadableDisks([readable], ["sda"]), undefined);
  assert.equal(
    await unreadableDisks([], ["sda"]),
    "no disks selected for conversion; set p2v.disks",
  );
  assert.equal(
    await unreadableDisks([readable, "sdq9", work], ["sda", "nvme0n1"]),
    `disk /dev/sdq9 does not exist; ${work} is neither a disk nor an image file; ` +
      "check p2v.disks (this machine's disks: sda, nvme0n1)",
  );
  assert.equal(
    await unreadableDisks(["/dev/p2v-no-such-disk"], []),
    "disk /dev/p2v-no-such-disk does not exist; check p2v.disks (this machine's disks: none)",
  );
});

Deno.test("unattended: a disk this user may not read is one error line, before any connection", async () => {
  // Nobody listens on the port: had the program connected, the error would say so.
  const port = freePort();
  const r = await runP2v(
    p2vArgs(`p2v.server=127.0.0.1 p2v.port=${port} p2v.disks=${readable},${locked} p2v.post=`),
    {
      // Root without the capabilities that override file permissions reads as any user does.
      wrapper: ["setpriv", "--bounding-set=-dac_override,-dac_read_search"],
      timeoutMs: 60_000,
    },
  );
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(
    r.stderr.trim(),
    `virt-p2v: error: cannot read disk ${locked} as user root (uid 0): Permission denied; ` +
      "check its permissions",
  );
  assert.doesNotMatch(r.stdout, /Connecting|control connection/i);
});
