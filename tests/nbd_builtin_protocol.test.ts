/**
 * The built-in NBD server byte by byte, over raw unix sockets: handshake and
 * options, every command, and every error path — bad flags and magics, unknown
 * and oversized options, out-of-range and oversized requests, writes, hostile
 * and vanishing clients — answered with an error or a closed connection,
 * never an exception, never disturbing other connections or exports.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createConnection } from "node:net";
import { makeLayoutImage } from "./helpers/nbd_images.ts";
import {
  type Chunk,
  goData,
  metaContextData,
  RawNbdClient,
  request,
} from "./helpers/nbd_raw_client.ts";
import { type ServedExport, withServer } from "./helpers/nbd_server.ts";
import { run, sha256File } from "./helpers/process.ts";
import { tempDir } from "./helpers/cleanup.ts";
import { unpackBlock } from "../src/nbd/zstd_block.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

// NBD numbers, spelled out here so the tests do not trust the server's table.
const OPT = { EXPORT_NAME: 1, ABORT: 2, LIST: 3, STARTTLS: 5, INFO: 6, GO: 7, SR: 8 };
const OPT_LIST_META = 9;
const OPT_SET_META = 10;
const REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META: 4,
  ERR_UNSUP: 0x80000001,
  ERR_INVALID: 0x80000003,
  ERR_UNKNOWN: 0x80000006,
  ERR_TOO_BIG: 0x80000009,
};
const CMD = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, CACHE: 5, WRITE_ZEROES: 6, BS: 7 };
const EPERM = 1, EINVAL = 22, EOVERFLOW = 75;
const CHUNK = { NONE: 0, DATA: 1, HOLE: 2, BLOCK_STATUS: 5, ERROR: 0x8001 };
const DONE = 1;
// HAS_FLAGS | READ_ONLY | SEND_FLUSH | CAN_MULTI_CONN | SEND_CACHE
const TFLAGS = 0x1 | 0x2 | 0x4 | 0x100 | 0x400;
const TFLAG_DF = 0x80;

const work = await tempDir({ prefix: "p2v-nbd-proto." });
addEventListener("unload", () => {
  try {
    Deno.removeSync(work, { recursive: true });
  } catch { /* already gone */ }
});
const SIZE = 64 * MiB;
const img = await makeLayoutImage(work, "layout.img", SIZE, [
  [1 * MiB, 1 * MiB],
  [40 * MiB, 64 * KiB],
  [SIZE - 4 * KiB, 4 * KiB],
]);
const imgSha = await sha256File(img.path);

/** Connect a raw client to `s`, run `fn`, always disconnect. */
async function client(s: ServedExport, fn: (c: RawNbdClient) => Promise<void>): Promise<void> {
  const c = await RawNbdClient.connect(s.socketPath);
  try {
    await fn(c);
  } finally {
    c.destroy();
    await c.closed;
  }
}

function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), `${what}: content differs`);
}

function expectDataChunk(ch: Chunk, cookie: bigint, offset: number, length: number) {
  assert.equal(ch.type, CHUNK.DATA, `chunk type for cookie ${cookie}`);
  assert.equal(ch.flags & DONE, DONE);
  assert.equal(ch.cookie, cookie);
  assert.equal(Number(ch.payload.readBigUInt64BE(0)), offset);
  assertBytes(ch.payload.subarray(8), img.expected(offset, length), `data at ${offset}`);
}

function expectErrorChunk(ch: Chunk, cookie: bigint, error: number) {
  assert.equal(ch.type, CHUNK.ERROR, `expected an error chunk, got type ${ch.type}`);
  assert.equal(ch.flags & DONE, DONE);
  assert.equal(ch.cookie, cookie);
  assert.equal(ch.payload.readUInt32BE(0), error);
  const msgLen = ch.payload.readUInt16BE(4);
  assert.equal(ch.payload.length, 6 + msgLen);
  assert.ok(msgLen > 0, "error chunks carry a message");
}

// --- handshake -------------------------------------------------------------

Deno.test("greets with NBDMAGIC, IHAVEOPT and the fixed-newstyle and no-zeroes flags", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      assert.equal(await c.greeting(), 0x3);
    }));
});

Deno.test("a client without the fixed-newstyle flag is disconnected", async () => {
  await withServer(img.path, async (s) => {
    await client(s, async (c) => {
      await c.greeting();
      c.sendClientFlags(0x2); // NO_ZEROES only: plain (non-fixed) newstyle
      assert.ok(await c.closesWithin(), "connection should be closed");
      assert.equal(c.buffered, 0);
    });
    assert.match(s.clientErrors.join("\n"), /fixed newstyle/);
  });
});

Deno.test("unknown client flags get the connection closed", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.greeting();
      c.sendClientFlags(0x1 | 0x8);
      assert.ok(await c.closesWithin());
      assert.equal(c.buffered, 0);
    }));
});

Deno.test("a bad option magic gets the connection closed", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.greeting();
      c.sendClientFlags(0x3);
      const h = Buffer.alloc(16);
      h.write("IHAVEOPX", 0);
      h.writeUInt32BE(OPT.GO, 8);
      c.write(h);
      assert.ok(await c.closesWithin());
      assert.equal(c.buffered, 0);
    }));
});

Deno.test("unknown options get NBD_REP_ERR_UNSUP and a following NBD_OPT_GO still works", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.greeting();
      c.sendClientFlags(0x3);
      for (const [opt, data] of [[99, 100], [OPT.STARTTLS, 0], [11, 0], [0x7fffffff, 3]]) {
        c.sendOption(opt, new Uint8Array(data).fill(0xaa));
        const r = await c.optionReply();
        assert.equal(r.option, opt);
        assert.equal(r.type, REP.ERR_UNSUP, `option ${opt}`);
      }
      c.sendOption(OPT.GO, goData(""));
      const rs = await c.optionReplies();
      assert.equal(rs.at(-1)!.type, REP.ACK);
      c.sendRequest({ type: CMD.READ, cookie: 7n, offset: MiB, length: 4096 });
      const r = await c.simpleReply();
      assert.deepEqual(r, { error: 0, cookie: 7n });
      assertBytes(await c.read(4096), img.expected(MiB, 4096), "read after GO");
    }));
});

Deno.test("an option longer than 64 KiB gets NBD_REP_ERR_TOO_BIG and the connection closes", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.greeting();
      c.sendClientFlags(0x3);
      c.sendOption(OPT.GO, new Uint8Array(0), 0x7fffffff);
      const r = await c.optionReply();
      assert.equal(r.type, REP.ERR_TOO_BIG);
      assert.ok(await c.closesWithin());
    }));
});

Deno.test("malformed option data gets NBD_REP_ERR_INVALID without dropping the connection", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.greeting();
      c.sendClientFlags(0x3);
      const bad: [number, Uint8Array][] = [];
      const overrun = goData("x");
      overrun.writeUInt32BE(1000, 0); // name length beyond the data
      bad.push([OPT.GO, overrun]);
      const miscounted = goData("", [0, 3]);
      miscounted.writeUInt16BE(5, 4); // claims 5 information requests, has 2
      bad.push([OPT.INFO, miscounted]);
      bad.push([OPT.GO, new Uint8Array(3)]); // shorter than the fixed part
      bad.push([OPT.LIST, new Uint8Array(4)]); // LIST takes no data
      bad.push([OPT.SR, new Uint8Array(1)]); // STRUCTURED_REPLY takes no data
      bad.push([OPT_SET_META, metaContextData("", ["base:allocation"])]); // before SR
      for (const [opt, data] of bad) {
        c.sendOption(opt, data);
        const r = await c.optionReply();
        assert.equal(r.type, REP.ERR_INVALID, `option ${opt}`);
        assert.equal(r.option, opt);
      }
      c.sendOption(OPT.SR);
      assert.equal((await c.optionReply()).type, REP.ACK);
      c.sendOption(OPT.SR);
      assert.equal((await c.optionReply()).type, REP.ERR_INVALID, "second STRUCTURED_REPLY");
      const truncated = metaContextData("", ["base:allocation"]);
      c.sendOption(OPT_SET_META, truncated.subarray(0, truncated.length - 3));
      assert.equal((await c.optionReply()).type, REP.ERR_INVALID);
      const trailing = Buffer.concat([metaContextData("", []), Buffer.from([1])]);
      c.sendOption(OPT_LIST_META, trailing);
      assert.equal((await c.optionReply()).type, REP.ERR_INVALID);
      c.sendOption(OPT.GO, goData(""));
      assert.equal((await c.optionReplies()).at(-1)!.type, REP.ACK);
    }));
});

Deno.test("NBD_OPT_INFO / GO describe the export; unknown names get NBD_REP_ERR_UNKNOWN", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.greeting();
      c.sendClientFlags(0x3);
      c.sendOption(OPT.INFO, goData("no-such-export"));
      assert.equal((await c.optionReply()).type, REP.ERR_UNKNOWN);

      c.sendOption(OPT.INFO, goData("", [0, 1, 2, 3]));
      const rs = await c.optionReplies();
      assert.equal(rs.at(-1)!.type, REP.ACK);
      const infos = new Map(
        rs.filter((r) => r.type === REP.INFO).map((r) => [
          r.data.readUInt16BE(0),
          r.data,
        ]),
      );
      const exp = infos.get(0)!;
      assert.equal(exp.length, 12);
      assert.equal(Number(exp.readBigUInt64BE(2)), SIZE);
      assert.equal(exp.readUInt16BE(10), TFLAGS, "no DF without structured replies");
      const bs = infos.get(3)!;
      assert.deepEqual([bs.readUInt32BE(2), bs.readUInt32BE(6), bs.readUInt32BE(10)], [
        1,
        4096,
        32 * MiB,
      ]);
      assert.equal(infos.get(1)!.subarray(2).toString(), "");
      assert.match(infos.get(2)!.subarray(2).toString(), /layout\.img/);

      c.sendOption(OPT.SR);
      assert.equal((await c.optionReply()).type, REP.ACK);
      c.sendOption(OPT.GO, goData("", [3]));
      const go = await c.optionReplies();
      assert.equal(go.at(-1)!.type, REP.ACK);
      const info = go.find((r) => r.type === REP.INFO && r.data.readUInt16BE(0) === 0)!;
      assert.equal(info.data.readUInt16BE(10), TFLAGS | TFLAG_DF, "DF with structured replies");
    }));
});

Deno.test("NBD_OPT_EXPORT_NAME of an unknown name closes the connection", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.greeting();
      c.sendClientFlags(0x3);
      c.sendOption(OPT.EXPORT_NAME, Buffer.from("wrong"));
      assert.ok(await c.closesWithin());
      assert.equal(c.buffered, 0);
    }));
});

Deno.test("NBD_OPT_EXPORT_NAME of the default export enters transmission, with or without padding", async () => {
  await withServer(img.path, async (s) => {
    for (const noZeroes of [false, true]) {
      await client(s, async (c) => {
        await c.greeting();
        c.sendClientFlags(noZeroes ? 0x3 : 0x1);
        c.sendOption(OPT.EXPORT_NAME);
        const r = await c.read(10);
        assert.equal(Number(r.readBigUInt64BE(0)), SIZE);
        assert.equal(r.readUInt16BE(8), TFLAGS);
        if (!noZeroes) assert.ok((await c.read(124)).every((b) => b === 0));
        c.sendRequest({ type: CMD.READ, cookie: 1n, offset: 40 * MiB, length: 512 });
        assert.deepEqual(await c.simpleReply(), { error: 0, cookie: 1n });
        assertBytes(await c.read(512), img.expected(40 * MiB, 512), "read");
      });
    }
  });
});

Deno.test("NBD_OPT_ABORT is acknowledged and the connection closed", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.greeting();
      c.sendClientFlags(0x3);
      c.sendOption(OPT.ABORT);
      assert.equal((await c.optionReply()).type, REP.ACK);
      assert.ok(await c.closesWithin());
    }));
});

Deno.test("NBD_OPT_LIST names the export; LIST_META_CONTEXT offers base:allocation", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.greeting();
      c.sendClientFlags(0x3);
      c.sendOption(OPT.LIST);
      const rs = await c.optionReplies();
      assert.deepEqual(rs.map((r) => r.type), [REP.SERVER, REP.ACK]);
      assert.equal(rs[0].data.readUInt32BE(0), 0, 'the default export, name ""');

      c.sendOption(OPT.SR);
      await c.optionReply();
      for (const queries of [[], ["base:"], ["base:allocation"]]) {
        c.sendOption(OPT_LIST_META, metaContextData("", queries));
        const ms = await c.optionReplies();
        assert.deepEqual(ms.map((r) => r.type), [REP.META, REP.ACK], `queries ${queries}`);
        assert.equal(ms[0].data.subarray(4).toString(), "base:allocation");
      }
      c.sendOption(OPT_LIST_META, metaContextData("", ["qemu:dirty-bitmap:x", "nonsense"]));
      assert.deepEqual((await c.optionReplies()).map((r) => r.type), [REP.ACK]);
      c.sendOption(OPT_SET_META, metaContextData("", ["base:allocation"]));
      const set = await c.optionReplies();
      assert.deepEqual(set.map((r) => r.type), [REP.META, REP.ACK]);
      assert.notEqual(set[0].data.readUInt32BE(0), 0, "a context id");
      c.sendOption(OPT_SET_META, metaContextData("elsewhere", ["base:allocation"]));
      assert.equal((await c.optionReply()).type, REP.ERR_UNKNOWN);
    }));
});

// --- transmission: simple replies ------------------------------------------

Deno.test("simple replies: reads return the image's bytes; out-of-range and bad requests get errors", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      const { size } = await c.handshake();
      assert.equal(size, SIZE);
      const good: [number, number][] = [
        [0, 4096], // hole
        [MiB - 512, 8192], // hole → data boundary, unaligned
        [40 * MiB, 64 * KiB],
        [SIZE - 4096, 4096], // the last bytes
        [12345, 1], // one odd byte
      ];
      for (const [i, [off, len]] of good.entries()) {
        c.sendRequest({ type: CMD.READ, cookie: BigInt(i), offset: off, length: len });
        assert.deepEqual(await c.simpleReply(), { error: 0, cookie: BigInt(i) });
        assertBytes(await c.read(len), img.expected(off, len), `read ${off}+${len}`);
      }
      const bad: [string, Parameters<RawNbdClient["sendRequest"]>[0], number][] = [
        [
          "straddles the end",
          { type: CMD.READ, cookie: 100n, offset: SIZE - 4096, length: 8192 },
          EINVAL,
        ],
        [
          "starts past the end",
          { type: CMD.READ, cookie: 101n, offset: SIZE + 1, length: 0 },
          EINVAL,
        ],
        ["offset 2^63", { type: CMD.READ, cookie: 102n, offset: 1n << 63n, length: 512 }, EINVAL],
        [
          "offset 2^64-1",
          { type: CMD.READ, cookie: 103n, offset: (1n << 64n) - 1n, length: 1 },
          EINVAL,
        ],
        ["over 32 MiB", { type: CMD.READ, cookie: 104n, offset: 0, length: 32 * MiB + 1 }, EINVAL],
        [
          "DF not negotiated",
          { type: CMD.READ, flags: 4, cookie: 105n, offset: 0, length: 512 },
          EINVAL,
        ],
        [
          "FUA on a read",
          { type: CMD.READ, flags: 1, cookie: 106n, offset: 0, length: 512 },
          EINVAL,
        ],
        ["unknown command", { type: 42, cookie: 107n, offset: 0, length: 512 }, EINVAL],
        [
          "flush with flags",
          { type: CMD.FLUSH, flags: 1, cookie: 108n, offset: 0, length: 0 },
          EINVAL,
        ],
        ["cache past the end", { type: CMD.CACHE, cookie: 109n, offset: SIZE, length: 1 }, EINVAL],
        [
          "block status without a context",
          { type: CMD.BS, cookie: 110n, offset: 0, length: 512 },
          EINVAL,
        ],
      ];
      for (const [what, req, err] of bad) {
        c.sendRequest(req);
        assert.deepEqual(await c.simpleReply(), { error: err, cookie: req.cookie }, what);
      }
      c.sendRequest({ type: CMD.READ, cookie: 200n, offset: SIZE, length: 0 });
      assert.deepEqual(await c.simpleReply(), { error: 0, cookie: 200n }, "empty read at the end");
      c.sendRequest({ type: CMD.FLUSH, cookie: 201n, offset: 0, length: 0 });
      assert.deepEqual(await c.simpleReply(), { error: 0, cookie: 201n }, "flush");
      c.sendRequest({ type: CMD.CACHE, cookie: 202n, offset: 0, length: SIZE });
      assert.deepEqual(await c.simpleReply(), { error: 0, cookie: 202n }, "cache");
      // Still serving after all that.
      c.sendRequest({ type: CMD.READ, cookie: 0xdeadbeefcafef00dn, offset: MiB, length: 4096 });
      assert.deepEqual(await c.simpleReply(), { error: 0, cookie: 0xdeadbeefcafef00dn });
      assertBytes(await c.read(4096), img.expected(MiB, 4096), "read after errors");
    }));
});

Deno.test("writes, trims and write-zeroes get EPERM; a write's payload is skipped; the image is unchanged", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.handshake();
      for (const len of [4096, 3 * MiB + 17]) {
        const payload = Buffer.alloc(len, 0x5a);
        c.write(
          Buffer.concat([
            request({ type: CMD.WRITE, cookie: 1n, offset: MiB, length: len }),
            payload,
          ]),
        );
        assert.deepEqual(await c.simpleReply(), { error: EPERM, cookie: 1n });
      }
      // A write claiming a payload past the end is refused the same way.
      c.write(Buffer.concat([
        request({ type: CMD.WRITE, flags: 1, cookie: 2n, offset: SIZE, length: 8 }),
        Buffer.alloc(8),
      ]));
      assert.deepEqual(await c.simpleReply(), { error: EPERM, cookie: 2n });
      c.sendRequest({ type: CMD.TRIM, cookie: 3n, offset: 0, length: MiB });
      assert.deepEqual(await c.simpleReply(), { error: EPERM, cookie: 3n });
      c.sendRequest({ type: CMD.WRITE_ZEROES, cookie: 4n, offset: 0, length: MiB });
      assert.deepEqual(await c.simpleReply(), { error: EPERM, cookie: 4n });
      c.sendRequest({ type: CMD.READ, cookie: 5n, offset: MiB, length: 4096 });
      assert.deepEqual(await c.simpleReply(), { error: 0, cookie: 5n });
      assertBytes(await c.read(4096), img.expected(MiB, 4096), "data after refused writes");
    }));
  assert.equal(await sha256File(img.path), imgSha);
});

// --- transmission: structured replies ----------------------------------------

Deno.test("structured replies: data chunks, hole chunks for holes, error chunks with a message", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      const { flags } = await c.handshake({ structured: true });
      assert.equal(flags, TFLAGS | TFLAG_DF);
      c.sendRequest({ type: CMD.READ, cookie: 1n, offset: MiB, length: 64 * KiB });
      expectDataChunk(await c.chunk(), 1n, MiB, 64 * KiB);
      c.sendRequest({ type: CMD.READ, flags: 4, cookie: 2n, offset: MiB - 4096, length: 8192 });
      expectDataChunk(await c.chunk(), 2n, MiB - 4096, 8192); // DF, part hole part data
      c.sendRequest({ type: CMD.READ, cookie: 3n, offset: 8 * MiB, length: 256 * KiB });
      const hole = await c.chunk();
      assert.equal(hole.type, CHUNK.HOLE);
      assert.equal(hole.flags & DONE, DONE);
      assert.equal(Number(hole.payload.readBigUInt64BE(0)), 8 * MiB);
      assert.equal(hole.payload.readUInt32BE(8), 256 * KiB);
      c.sendRequest({ type: CMD.READ, cookie: 4n, offset: SIZE - 10, length: 20 });
      expectErrorChunk(await c.chunk(), 4n, EINVAL);
      c.sendRequest({ type: CMD.READ, cookie: 5n, offset: 0, length: 32 * MiB + 4096 });
      expectErrorChunk(await c.chunk(), 5n, EOVERFLOW);
      c.sendRequest({ type: CMD.READ, cookie: 6n, offset: 0, length: 0 });
      const none = await c.chunk();
      assert.deepEqual([none.type, none.flags, none.payload.length], [CHUNK.NONE, DONE, 0]);
      c.sendRequest({ type: CMD.WRITE_ZEROES, cookie: 7n, offset: 0, length: 4096 });
      expectErrorChunk(await c.chunk(), 7n, EPERM);
      c.sendRequest({ type: CMD.READ, cookie: 8n, offset: 32 * MiB, length: 32 * MiB });
      const big = await c.chunk(); // the maximum payload in one read
      assert.equal(big.type, CHUNK.DATA);
      assert.equal(big.payload.length, 8 + 32 * MiB);
    }));
});

Deno.test("NBD_CMD_BLOCK_STATUS reports holes and data, honours REQ_ONE, needs a context", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.handshake({ structured: true, meta: true });
      const extentsOf = (ch: Chunk) => {
        assert.equal(ch.type, CHUNK.BLOCK_STATUS);
        assert.equal(ch.flags & DONE, DONE);
        const out: [number, number][] = [];
        for (let p = 4; p < ch.payload.length; p += 8) {
          out.push([ch.payload.readUInt32BE(p), ch.payload.readUInt32BE(p + 4)]);
        }
        return out;
      };
      c.sendRequest({ type: CMD.BS, cookie: 1n, offset: 0, length: SIZE });
      assert.deepEqual(extentsOf(await c.chunk()), [
        [MiB, 3],
        [MiB, 0],
        [38 * MiB, 3],
        [64 * KiB, 0],
        [SIZE - 40 * MiB - 64 * KiB - 4096, 3],
        [4096, 0],
      ]);
      c.sendRequest({ type: CMD.BS, cookie: 2n, offset: MiB + 4096, length: 39 * MiB });
      assert.deepEqual(extentsOf(await c.chunk()), [
        [MiB - 4096, 0],
        [38 * MiB, 3],
        [4096, 0], // clipped to the request
      ]);
      c.sendRequest({ type: CMD.BS, flags: 8, cookie: 3n, offset: 0, length: SIZE });
      assert.deepEqual(extentsOf(await c.chunk()), [[MiB, 3]]);
      c.sendRequest({ type: CMD.BS, flags: 8, cookie: 4n, offset: 0, length: 4096 });
      assert.deepEqual(extentsOf(await c.chunk()), [[4096, 3]]);
      c.sendRequest({ type: CMD.BS, cookie: 5n, offset: SIZE - 4096, length: 8192 });
      expectErrorChunk(await c.chunk(), 5n, EINVAL);
      c.sendRequest({ type: CMD.BS, cookie: 6n, offset: 0, length: 0 });
      expectErrorChunk(await c.chunk(), 6n, EINVAL);
      c.sendRequest({ type: CMD.BS, flags: 1, cookie: 7n, offset: 0, length: 512 });
      expectErrorChunk(await c.chunk(), 7n, EINVAL);
    }));
  // Without SET_META_CONTEXT, block status is refused.
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.handshake({ structured: true });
      c.sendRequest({ type: CMD.BS, cookie: 9n, offset: 0, length: 4096 });
      expectErrorChunk(await c.chunk(), 9n, EINVAL);
    }));
});

Deno.test("block status without hole detection reports all data; zeroes read are still holes", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.handshake({ structured: true, meta: true });
      c.sendRequest({ type: CMD.BS, cookie: 1n, offset: 0, length: SIZE });
      const ch = await c.chunk();
      assert.deepEqual([ch.payload.readUInt32BE(4), ch.payload.readUInt32BE(8)], [SIZE, 0]);
      assert.equal(ch.payload.length, 12);
      c.sendRequest({ type: CMD.READ, cookie: 2n, offset: 8 * MiB, length: 4096 });
      // Read, they are zeroes: a hole on the wire all the same.
      const zeroes = await c.chunk();
      assert.equal(zeroes.type, CHUNK.HOLE);
      assert.equal(zeroes.payload.readUInt32BE(8), 4096);
      c.sendRequest({ type: CMD.READ, cookie: 3n, offset: MiB, length: 4096 });
      expectDataChunk(await c.chunk(), 3n, MiB, 4096);
    }), { seeker: null });
});

// --- concurrency and lifecycle -------------------------------------------------

/** Deterministic pseudo-random numbers for repeatable tests. */
function prng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

Deno.test("hundreds of requests in flight are all answered, each with its own cookie", async () => {
  const rand = prng(42);
  for (const structured of [false, true]) {
    await withServer(img.path, (s) =>
      client(s, async (c) => {
        await c.handshake({ structured });
        const reqs = new Map<bigint, [number, number]>();
        const batch: Buffer[] = [];
        for (let i = 0; i < 300; i++) {
          const len = 1 + Math.floor(rand() * 256 * KiB);
          // Bias towards the data areas so most replies carry real bytes.
          const base = [MiB, 40 * MiB, SIZE - 300 * KiB, 0][i % 4];
          const off = Math.min(SIZE - len, base + Math.floor(rand() * 300 * KiB));
          const cookie = (BigInt(i) << 32n) | 0xabcdn;
          reqs.set(cookie, [off, len]);
          batch.push(request({ type: CMD.READ, cookie, offset: off, length: len }));
        }
        c.write(Buffer.concat(batch));
        while (reqs.size > 0) {
          let cookie: bigint;
          let payload: Buffer;
          if (structured) {
            const ch = await c.chunk();
            cookie = ch.cookie;
            const want = reqs.get(cookie);
            assert.ok(want, `unexpected cookie ${cookie}`);
            if (ch.type === CHUNK.HOLE) {
              payload = Buffer.alloc(ch.payload.readUInt32BE(8));
            } else {
              expectDataChunk(ch, cookie, want[0], want[1]);
              payload = ch.payload.subarray(8);
            }
          } else {
            const r = await c.simpleReply();
            cookie = r.cookie;
            assert.equal(r.error, 0);
            const want = reqs.get(cookie);
            assert.ok(want, `unexpected cookie ${cookie}`);
            payload = await c.read(want[1]);
          }
          const [off, len] = reqs.get(cookie)!;
          assertBytes(payload, img.expected(off, len), `cookie ${cookie}`);
          reqs.delete(cookie);
        }
      }));
  }
});

Deno.test("NBD_CMD_DISC: requests sent before it are answered, then the connection closes", async () => {
  await withServer(img.path, (s) =>
    client(s, async (c) => {
      await c.handshake();
      const batch = [];
      for (let i = 0; i < 20; i++) {
        batch.push(
          request({ type: CMD.READ, cookie: BigInt(i), offset: MiB + i * 4096, length: 64 * KiB }),
        );
      }
      batch.push(request({ type: CMD.DISC, cookie: 99n, offset: 0, length: 0 }));
      batch.push(request({ type: CMD.READ, cookie: 100n, offset: 0, length: 512 })); // ignored
      c.write(Buffer.concat(batch));
      const seen = new Set<bigint>();
      for (let i = 0; i < 20; i++) {
        const r = await c.simpleReply();
        assert.equal(r.error, 0);
        const n = Number(r.cookie);
        assertBytes(await c.read(64 * KiB), img.expected(MiB + n * 4096, 64 * KiB), `read ${n}`);
        seen.add(r.cookie);
      }
      assert.equal(seen.size, 20);
      assert.ok(await c.closesWithin());
      assert.equal(c.buffered, 0, "nothing after the DISC");
    }));
});

Deno.test("a bad request magic closes the connection", async () => {
  await withServer(img.path, async (s) => {
    await client(s, async (c) => {
      await c.handshake();
      c.sendRequest({ type: CMD.READ, cookie: 1n, offset: 0, length: 512 }, 0x12560953);
      assert.ok(await c.closesWithin());
    });
    assert.match(s.clientErrors.join("\n"), /bad request magic/);
  });
});

Deno.test("clients vanishing mid-read, mid-request or mid-handshake do not disturb the server", async () => {
  await withServer(img.path, async (s) => {
    // 64 × 1 MiB reads in flight, then gone.
    await client(s, async (c) => {
      await c.handshake();
      const batch = [];
      for (let i = 0; i < 64; i++) {
        batch.push(request({ type: CMD.READ, cookie: BigInt(i), offset: i * MiB, length: MiB }));
      }
      c.write(Buffer.concat(batch));
      await c.read(16); // the first reply has started arriving
    });
    // Half a request header, then EOF.
    await client(s, async (c) => {
      await c.handshake();
      c.write(request({ type: CMD.READ, cookie: 1n, offset: 0, length: 512 }).subarray(0, 13));
      c.socket.end();
      assert.ok(await c.closesWithin());
    });
    // A write announcing 1 MiB of payload that never comes.
    await client(s, async (c) => {
      await c.handshake();
      c.write(request({ type: CMD.WRITE, cookie: 1n, offset: 0, length: MiB }));
      c.write(new Uint8Array(100));
      await c.simpleReply();
      c.socket.end();
      assert.ok(await c.closesWithin());
    });
    // Half an option.
    await client(s, async (c) => {
      await c.greeting();
      c.sendClientFlags(3);
      c.sendOption(OPT.GO, goData("", [3]), 100);
      c.socket.end();
      assert.ok(await c.closesWithin());
    });
    // Gone before the greeting is even read.
    const raw = createConnection({ path: s.socketPath });
    raw.on("error", () => {});
    await new Promise((r) => raw.once("connect", r));
    raw.destroy();
    await new Promise((r) => raw.once("close", r));
    // And the server still serves.
    await client(s, async (c) => {
      await c.handshake();
      c.sendRequest({ type: CMD.READ, cookie: 1n, offset: 40 * MiB, length: 4096 });
      assert.equal((await c.simpleReply()).error, 0);
      assertBytes(await c.read(4096), img.expected(40 * MiB, 4096), "read");
    });
  });
});

Deno.test("random garbage gets errors or a closed connection, never a crash", async () => {
  const rand = prng(7);
  const bytes = (n: number) =>
    Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  await withServer(img.path, async (s) => {
    for (let round = 0; round < 40; round++) {
      await client(s, async (c) => {
        const phase = round % 4;
        if (phase === 0) {
          c.write(bytes(1 + Math.floor(rand() * 200))); // before even reading the greeting
        } else {
          await c.greeting();
          c.sendClientFlags(3);
          if (phase === 1) {
            c.write(bytes(1 + Math.floor(rand() * 200)));
          } else if (phase === 2) {
            // Well-framed options with random numbers and contents.
            for (let i = 0; i < 5; i++) {
              const opt = 3 + Math.floor(rand() * 20); // avoid EXPORT_NAME/ABORT
              c.sendOption(opt === 7 ? 77 : opt, bytes(Math.floor(rand() * 64)));
              const r = await c.optionReplies();
              assert.ok(r.length > 0);
            }
          } else {
            c.sendOption(OPT.GO, goData(""));
            await c.optionReplies();
            // Valid magic, random everything else, then raw garbage.
            for (let i = 0; i < 10; i++) {
              const h = Buffer.concat([Buffer.from("25609513", "hex"), bytes(24)]);
              h.writeUInt16BE(h.readUInt16BE(6) % 9 === 1 ? 0 : h.readUInt16BE(6) % 9, 6); // no WRITE
              h.writeUInt32BE(h.readUInt32BE(24) % (4 * MiB), 24);
              c.write(h);
            }
            c.write(bytes(50));
          }
        }
        // Either the server closes on us, or it keeps answering: both are fine.
        await c.closesWithin(200);
      });
    }
    await client(s, async (c) => {
      await c.handshake({ structured: true });
      c.sendRequest({ type: CMD.READ, cookie: 1n, offset: MiB, length: 4096 });
      expectDataChunk(await c.chunk(), 1n, MiB, 4096);
    });
  });
});

Deno.test("a client that never reads its replies is throttled; another connection is still served", async () => {
  await withServer(img.path, async (s) => {
    const hog = await RawNbdClient.connect(s.socketPath);
    try {
      await hog.handshake();
      hog.socket.pause(); // never read another byte
      const batch = [];
      for (let i = 0; i < 1000; i++) {
        batch.push(
          request({ type: CMD.READ, cookie: BigInt(i), offset: (i % 63) * MiB, length: MiB }),
        );
      }
      hog.write(Buffer.concat(batch));
      await new Promise((r) => setTimeout(r, 500));
      const sent = s.exp.bytesSent;
      // The server stops at its buffer budget (8 MiB by default) plus what socket buffers took.
      assert.ok(sent >= 4 * MiB, `server answered only ${sent} bytes`);
      assert.ok(sent < 16 * MiB, `server kept producing replies: ${sent} bytes`);
      await client(s, async (c) => {
        await c.handshake();
        for (let i = 0; i < 8; i++) {
          c.sendRequest({ type: CMD.READ, cookie: BigInt(i), offset: MiB, length: MiB });
          assert.equal((await c.simpleReply()).error, 0);
          assertBytes(await c.read(MiB), img.expected(MiB, MiB), "read beside the hog");
        }
      });
    } finally {
      hog.destroy();
      await hog.closed;
    }
  });
});

Deno.test("a second export keeps serving correctly while another is abused", async () => {
  const other = await makeLayoutImage(work, "other.img", 96 * MiB, [[0, 96 * MiB]]);
  const out = `${work}/other.copy`;
  await withServer(img.path, async (abused) => {
    await withServer(other.path, async (good) => {
      let stop = false;
      const abuse = (async () => {
        const rand = prng(99);
        for (let i = 0; i < 200 && !stop; i++) {
          const c = await RawNbdClient.connect(abused.socketPath);
          try {
            await c.greeting();
            c.sendClientFlags(3);
            c.sendOption(OPT.GO, goData(""));
            await c.optionReplies();
            const junk = Buffer.alloc(28 * 8);
            for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(rand() * 256);
            junk.writeUInt32BE(0x25609513, 0);
            c.write(junk);
            await c.closesWithin(100);
          } finally {
            c.destroy();
            await c.closed;
          }
        }
      })();
      try {
        await run("nbdcopy", [good.uri, out]);
      } finally {
        stop = true;
        await abuse;
      }
      assert.equal(await sha256File(out), await sha256File(other.path));
      assert.equal(good.clientErrors.length, 0);
    });
    assert.ok(abused.clientErrors.length > 0, "the abuse was noticed");
  });
  await Deno.remove(out);
  await Deno.remove(other.path);
});

Deno.test("stop() closes live connections; later attach()es are refused", async () => {
  await withServer(img.path, async (s) => {
    const c = await RawNbdClient.connect(s.socketPath);
    try {
      await c.handshake();
      c.sendRequest({ type: CMD.READ, cookie: 1n, offset: 0, length: MiB });
      await s.exp.stop();
      assert.ok(await c.closesWithin());
      assert.equal(s.exp.connections, 0);
    } finally {
      c.destroy();
      await c.closed;
    }
    const late = await RawNbdClient.connect(s.socketPath);
    assert.ok(await late.closesWithin(), "attach after stop closes the stream");
    assert.equal(late.buffered, 0);
    late.destroy();
    await late.closed;
  });
});

Deno.test("the image is opened O_RDONLY", async () => {
  await withServer(img.path, async () => {
    const flags: number[] = [];
    for await (const e of Deno.readDir("/proc/self/fd")) {
      try {
        if (await Deno.readLink(`/proc/self/fd/${e.name}`) !== img.path) continue;
        const info = await Deno.readTextFile(`/proc/self/fdinfo/${e.name}`);
        flags.push(parseInt(/^flags:\s+([0-7]+)/m.exec(info)![1], 8));
      } catch { /* fd closed meanwhile */ }
    }
    assert.equal(flags.length, 1, "exactly one descriptor on the image");
    assert.equal(flags[0] & 3, 0, "O_ACCMODE is O_RDONLY");
  });
  assert.equal(await sha256File(img.path), imgSha);
});

Deno.test("structured replies: allocated zeroes are sent as a hole, data beside them as data", async () => {
  // Written, not sparse: the file system has blocks for the zeroes.
  const path = `${work}/zeroes.img`;
  const bytes = new Uint8Array(4 * MiB);
  crypto.getRandomValues(bytes.subarray(3 * MiB + 100, 3 * MiB + 101 + 4096));
  bytes[3 * MiB + 100] = 1; // surely not zero
  await Deno.writeFile(path, bytes);
  await withServer(path, (s) =>
    client(s, async (c) => {
      await c.handshake({ structured: true });
      c.sendRequest({ type: CMD.READ, cookie: 1n, offset: 0, length: MiB });
      const hole = await c.chunk();
      assert.equal(hole.type, CHUNK.HOLE);
      assert.equal(Number(hole.payload.readBigUInt64BE(0)), 0);
      assert.equal(hole.payload.readUInt32BE(8), MiB);
      c.sendRequest({ type: CMD.READ, cookie: 2n, offset: 3 * MiB, length: MiB });
      const data = await c.chunk();
      assert.deepEqual([data.type, data.cookie], [CHUNK.DATA, 2n]);
      assert.equal(Number(data.payload.readBigUInt64BE(0)), 3 * MiB);
      assertBytes(data.payload.subarray(8), bytes.subarray(3 * MiB, 4 * MiB), "data beside zeroes");
    }));
  // Simple replies have no holes: the zeroes themselves.
  await withServer(path, (s) =>
    client(s, async (c) => {
      await c.handshake({ structured: false });
      c.sendRequest({ type: CMD.READ, cookie: 3n, offset: 0, length: 64 * KiB });
      assert.deepEqual(await c.simpleReply(), { error: 0, cookie: 3n });
      assertBytes(await c.read(64 * KiB), new Uint8Array(64 * KiB), "zeroes in a simple reply");
    }));
});

Deno.test("our zstd option: refused before structured replies; then reads that pack well come packed", async () => {
  const OPT_ZSTD = 0x70327601;
  const CHUNK_ZSTD = 0x7076;
  // 1 MiB of text (packs well), then 1 MiB of random bytes (does not).
  const path = `${work}/packable.img`;
  const random = new Uint8Array(MiB);
  for (let i = 0; i < MiB; i += 65536) crypto.getRandomValues(random.subarray(i, i + 65536));
  const text = new TextEncoder().encode("a line of a log file, again and again\n".repeat(30_000))
    .subarray(0, MiB);
  const bytes = new Uint8Array(2 * MiB);
  bytes.set(text, 0);
  bytes.set(random, MiB);
  await Deno.writeFile(path, bytes);
  await withServer(path, (s) =>
    client(s, async (c) => {
      await c.greeting();
      c.sendClientFlags(3);
      c.sendOption(OPT_ZSTD);
      assert.equal((await c.optionReply()).type, REP.ERR_INVALID, "zstd before structured");
      c.sendOption(OPT.SR);
      assert.equal((await c.optionReply()).type, REP.ACK);
      c.sendOption(OPT_ZSTD, new Uint8Array(1));
      assert.equal((await c.optionReply()).type, REP.ERR_INVALID, "zstd option with data");
      c.sendOption(OPT_ZSTD);
      assert.equal((await c.optionReply()).type, REP.ACK);
      c.sendOption(OPT.GO, goData("", []));
      const rs = await c.optionReplies();
      assert.equal(rs[rs.length - 1].type, REP.ACK);

      c.sendRequest({ type: CMD.READ, cookie: 1n, offset: 0, length: MiB });
      const packed = await c.chunk();
      assert.deepEqual([packed.type, packed.flags & DONE, packed.cookie], [CHUNK_ZSTD, DONE, 1n]);
      assert.equal(Number(packed.payload.readBigUInt64BE(0)), 0);
      assert.equal(packed.payload.readUInt32BE(8), MiB);
      assert.ok(packed.payload.length < MiB / 8, `packed into ${packed.payload.length} bytes`);
      assertBytes(await unpackBlock(packed.payload.subarray(12), MiB), text, "unpacked text");

      c.sendRequest({ type: CMD.READ, cookie: 2n, offset: MiB, length: MiB });
      const plain = await c.chunk();
      assert.deepEqual([plain.type, plain.cookie], [CHUNK.DATA, 2n]);
      assertBytes(plain.payload.subarray(8), random, "random data as it is");

      // Too short to be worth a frame: sent as it is.
      c.sendRequest({ type: CMD.READ, cookie: 3n, offset: 0, length: 512 });
      const small = await c.chunk();
      assert.equal(small.type, CHUNK.DATA);
      assertBytes(small.payload.subarray(8), text.subarray(0, 512), "a small read");
    }));
  // Without the option nothing is ever packed.
  await withServer(path, (s) =>
    client(s, async (c) => {
      await c.handshake({ structured: true });
      c.sendRequest({ type: CMD.READ, cookie: 4n, offset: 0, length: MiB });
      const ch = await c.chunk();
      assert.equal(ch.type, CHUNK.DATA);
      assertBytes(ch.payload.subarray(8), text, "text as it is");
    }));
});
