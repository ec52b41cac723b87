import assert from "node:assert/strict";
import { NbdRequestReader } from "../src/nbd/request_counter.ts";

/** One client option: IHAVEOPT, option, length, data. */
function option(code: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(16 + data.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x49484156);
  v.setUint32(4, 0x454f5054);
  v.setUint32(8, code);
  v.setUint32(12, data.length);
  b.set(data, 16);
  return b;
}

function request(type: number, length = 512, extended = false): Uint8Array {
  const b = new Uint8Array(extended ? 32 : 28);
  const v = new DataView(b.buffer);
  v.setUint32(0, extended ? 0x21e41c71 : 0x25609513);
  v.setUint16(6, type);
  if (extended) v.setBigUint64(24, BigInt(length));
  else v.setUint32(24, length);
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const handshake = concat(
  new Uint8Array([0, 0, 0, 3]),
  option(8), // structured replies
  option(10, new TextEncoder().encode("xxxxxxxxbase:allocation")), // meta context
  option(7, new Uint8Array(6)), // GO
);

Deno.test("request counter: a handshake alone counts nothing; a disconnect is not a request", () => {
  const r = new NbdRequestReader();
  r.push(concat(handshake, request(2)));
  assert.equal(r.requests, 0);
});

Deno.test("request counter: reads, block status and writes with payload, in pieces of any size", () => {
  const write = request(1, 4096);
  const stream = concat(
    handshake,
    request(0),
    request(7),
    write,
    new Uint8Array(4096).fill(0x25), // payload that looks like request magic
    request(0, 65536, true),
    request(2),
  );
  for (const size of [1, 3, 7, 28, 1000, stream.length]) {
    const r = new NbdRequestReader();
    for (let at = 0; at < stream.length; at += size) r.push(stream.subarray(at, at + size));
    assert.equal(r.requests, 4, `chunks of ${size}`);
  }
});

Deno.test("request counter: a stream it cannot follow stops counting, without throwing", () => {
  const r = new NbdRequestReader();
  r.push(concat(handshake, request(0), new Uint8Array(64).fill(0xff), request(0)));
  assert.equal(r.requests, 1);
});
