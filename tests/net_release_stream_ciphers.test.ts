import assert from "node:assert/strict";
import crypto from "node:crypto";
import { Buffer } from "node:buffer";

const original = crypto.createCipheriv;
const originalDecipher = crypto.createDecipheriv;
await import("../src/net/release_stream_ciphers.ts");

Deno.test("one-shot chacha20 ciphers give the same bytes after the leak workaround", () => {
  assert.notEqual(crypto.createCipheriv, original, "the workaround is not installed");
  for (let i = 0; i < 50; i++) {
    const key = crypto.randomBytes(32);
    const iv = crypto.randomBytes(16);
    const data = crypto.randomBytes(1 + i * 97);
    const expected = original("chacha20", key, iv).update(data);
    assert.deepEqual(crypto.createCipheriv("chacha20", key, iv).update(data), expected);
    assert.deepEqual(crypto.createDecipheriv("chacha20", key, iv).update(expected), data);
    assert.deepEqual(originalDecipher("chacha20", key, iv).update(expected), data);
  }
});

Deno.test("other ciphers are left alone", () => {
  const key = Buffer.alloc(16, 1);
  const iv = Buffer.alloc(16, 2);
  const c = crypto.createCipheriv("aes-128-ctr", key, iv);
  const a = c.update(Buffer.alloc(10, 3));
  const b = c.update(Buffer.alloc(10, 4)); // a second update must still work
  c.final();
  assert.equal(a.length + b.length, 20);
});

// RSS is per process and `deno test --parallel` runs other test files in the
// same process: measure in a child of our own, or their allocations count.
const MEASURE = `
  await import(${
  JSON.stringify(new URL("../src/net/release_stream_ciphers.ts", import.meta.url).href)
});
  const crypto = (await import("node:crypto")).default;
  const { Buffer } = await import("node:buffer");
  const key = Buffer.alloc(32, 1);
  const iv = Buffer.alloc(16, 0);
  const data = Buffer.alloc(4, 7);
  const run = (n) => {
    for (let i = 0; i < n; i++) crypto.createCipheriv("chacha20", key, iv).update(data);
  };
  run(20_000); // warm up allocators
  const before = Deno.memoryUsage().rss;
  run(200_000);
  console.log((Deno.memoryUsage().rss - before) / 1048576);
`;

Deno.test("200k one-shot chacha20 ciphers do not grow native memory", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", MEASURE],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(out.success, "the measuring process failed");
  const grownMiB = Number(new TextDecoder().decode(out.stdout).trim());
  assert.ok(Number.isFinite(grownMiB), "no measurement printed");
  // Unfinalised, these leak ~260 bytes each: ~50 MiB.
  assert.ok(grownMiB < 20, `native memory grew by ${grownMiB.toFixed(1)} MiB`);
});
