import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { chooseNbdBackend, nbdExportStarter } from "../src/nbd/backends.ts";
import { makeDenseImage, MiB } from "./helpers/images.ts";
import { RawNbdClient } from "./helpers/nbd_raw_client.ts";
import { tempDir } from "./helpers/cleanup.ts";

Deno.test("the built-in export tells the conversion what its clients do wrong", async () => {
  const dir = await tempDir({ prefix: "p2v-backends." });
  const image = await makeDenseImage(dir, "disk.img", 1 * MiB);
  const seen: string[] = [];
  const exp = await nbdExportStarter("builtin")(image, {
    readError: (offset) => seen.push(`read ${offset}`),
    clientError: (message) => seen.push(`client ${message}`),
    internalError: (message) => seen.push(`internal ${message}`),
  });
  const socketPath = join(dir, "nbd.sock");
  const server = createServer({ allowHalfOpen: true }, (s) => exp.attach(s));
  await new Promise<void>((r) => server.listen(socketPath, r));
  try {
    assert.equal(exp.size, 1 * MiB);
    const c = await RawNbdClient.connect(socketPath);
    await c.handshake();
    c.sendRequest({ type: 0, cookie: 1n, offset: 0, length: 512 }, 0x12345678);
    assert.ok(await c.closesWithin());
    assert.deepEqual(seen, ["client bad request magic 0x12345678"]);
  } finally {
    await new Promise((r) => server.close(r));
    await exp.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the first installed NBD server of p2v.nbd is taken; builtin always is", () => {
  const looked: string[] = [];
  const installed = (b: string) => {
    looked.push(b);
    return b === "nbdkit";
  };
  assert.equal(chooseNbdBackend(["qemu-nbd", "nbdkit", "builtin"], installed), "nbdkit");
  assert.deepEqual(looked, ["qemu-nbd", "nbdkit"]);
  assert.equal(chooseNbdBackend(["qemu-nbd", "builtin"], () => false), "builtin");
  assert.throws(() => chooseNbdBackend(["qemu-nbd"], () => false), /none of the NBD servers/);
});
