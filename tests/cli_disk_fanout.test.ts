/** The arguments the job script gives `virt-p2v --disk-fanout`, and bad ones refused in one line. */
import assert from "node:assert/strict";
import { parseFanoutArgs } from "../src/cli/disk_fanout.ts";
import { UserError } from "../src/errors.ts";

const BASE = [
  "--pid-file",
  "relay-fanout.pid",
  "--addresses",
  "127.0.0.1,::1",
  "--connections",
  "6",
  "--retry-delay-ms",
  "1000",
  "--bound-ms",
  "660000",
  "--disk",
  "40001=/tmp/d/disk0.sock",
];

Deno.test("disk fan-out arguments: zstd only when asked", () => {
  const plain = parseFanoutArgs(BASE);
  assert.equal(plain.zstd, false);
  assert.deepEqual(plain.addresses, ["127.0.0.1", "::1"]);
  assert.deepEqual(plain.disks, [{ port: 40001, upstreamSocket: "/tmp/d/disk0.sock" }]);
  assert.equal(parseFanoutArgs([...BASE, "--compress", "zstd"]).zstd, true);
  assert.equal(parseFanoutArgs([...BASE, "--compress", "none"]).zstd, false);
});

Deno.test("disk fan-out arguments: a bad value names the argument", () => {
  for (
    const [args, pattern] of [
      [[...BASE, "--compress", "lz4"], /--compress must be zstd or none, not "lz4"/],
      [[...BASE, "--compress"], /--compress needs a value/],
      [[...BASE, "--disk", "0=/x"], /--disk must be PORT=\/SOCKET/],
      [BASE.slice(2), /pidFile is missing/],
    ] as const
  ) {
    assert.throws(() => parseFanoutArgs([...args]), (err: Error) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes("\n"));
      return true;
    });
  }
});
