/**
 * Our libcrypto packet ciphers against ssh2's own node:crypto ones: for the
 * same key, IV, sequence number and plaintext packet they must write the
 * same bytes, and ssh2's decipher must accept what we write.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { libcryptoCipher, ssh2CreateCipher } from "../src/net/ssh2_fast_ciphers.ts";
import { loadLibcrypto } from "../src/net/libcrypto.ts";
import type { SshOutboundCipher } from "../src/net/ssh_aead_ciphers.ts";
import ssh2Crypto from "ssh2/lib/protocol/crypto.js";

// ssh2's chacha20-poly1305 needs its WebAssembly Poly1305 loaded.
await ssh2Crypto.init;
const lib = loadLibcrypto();

const AEAD = [
  "aes128-gcm@openssh.com",
  "aes256-gcm@openssh.com",
  "chacha20-poly1305@openssh.com",
];
/** Payload sizes around block and padding boundaries, and full channel packets. */
const SIZES = [0, 1, 2, 3, 7, 8, 9, 11, 12, 15, 16, 17, 31, 32, 33, 100, 1000, 4096, 32768, 32777];

interface Pair {
  ours: SshOutboundCipher;
  theirs: SshOutboundCipher;
  oursOut: Buffer[];
  theirsOut: Buffer[];
}

function makePair(name: string, key: Buffer, iv: Buffer, seqno: number): Pair {
  const cipherInfo = ssh2Crypto.CIPHER_INFO[name];
  const oursOut: Buffer[] = [];
  const theirsOut: Buffer[] = [];
  // Each side gets its own IV copy: ssh2 increments the one it is given.
  const config = (out: Buffer[]) => ({
    outbound: {
      onWrite: (b: Buffer) => out.push(Buffer.from(b)),
      seqno,
      cipherInfo,
      cipherKey: key,
      cipherIV: Buffer.from(iv),
      forceNative: true,
    },
  });
  const ours = libcryptoCipher(lib!, config(oursOut));
  assert.ok(ours, `no libcrypto cipher for ${name}`);
  return { ours, theirs: ssh2CreateCipher(config(theirsOut)), oursOut, theirsOut };
}

function keyAndIv(name: string): { key: Buffer; iv: Buffer } {
  const info = ssh2Crypto.CIPHER_INFO[name];
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(info.keyLen)));
  const iv = Buffer.from(crypto.getRandomValues(new Uint8Array(Math.max(info.ivLen, 1))));
  // GCM: make the invocation counter carry across bytes within a few packets.
  if (info.ivLen === 12) iv.fill(0xff, 5, 11).writeUInt8(0xfe, 11);
  return { key, iv: info.ivLen === 0 ? Buffer.alloc(0) : iv };
}

/** Send `payload` through both ciphers with identical plaintext (padding included). */
function sendBoth(pair: Pair, payload: Uint8Array) {
  const packet = pair.ours.allocPacket(payload.length);
  packet.set(payload, 5);
  const packetLength = packet.readUInt32BE(0) + 4;
  const theirs = pair.theirs.allocPacket(payload.length);
  assert.equal(theirs.readUInt32BE(0) + 4, packetLength, "the two lay packets out differently");
  theirs.set(packet.subarray(0, packetLength));
  pair.oursOut.length = 0;
  pair.theirsOut.length = 0;
  pair.ours.encrypt(packet);
  pair.theirs.encrypt(theirs);
  assert.equal(pair.oursOut.length, 1, "one write per packet");
  return { ours: pair.oursOut[0], theirs: Buffer.concat(pair.theirsOut) };
}

for (const name of AEAD) {
  Deno.test(`${name}: libcrypto writes the same bytes as ssh2's node:crypto cipher`, () => {
    assert.ok(lib, "libcrypto.so.3 is not loadable here");
    const { key, iv } = keyAndIv(name);
    // Start just below 2^32 so the sequence number wraps to 0 during the run.
    const pair = makePair(name, key, iv, 0xffffffff - 5);
    for (const size of SIZES) {
      const payload = crypto.getRandomValues(new Uint8Array(size));
      const { ours, theirs } = sendBoth(pair, payload);
      assert.equal(ours.length, theirs.length, `length differs for a ${size}-byte payload`);
      assert.ok(ours.equals(theirs), `bytes differ for a ${size}-byte payload`);
      assert.equal(pair.ours.outSeqno, pair.theirs.outSeqno);
    }
    assert.ok(pair.ours.outSeqno < 100, "the sequence number did not wrap");
  });

  Deno.test(`${name}: ssh2's decipher accepts our packets and returns the payloads`, () => {
    assert.ok(lib, "libcrypto.so.3 is not loadable here");
    const { key, iv } = keyAndIv(name);
    const info = ssh2Crypto.CIPHER_INFO[name];
    const pair = makePair(name, key, iv, 7);
    const received: Buffer[] = [];
    const decipher = ssh2Crypto.createDecipher({
      inbound: {
        onPayload: (p: Buffer) => {
          received.push(Buffer.from(p));
        },
        seqno: 7,
        decipherInfo: info,
        decipherKey: key,
        decipherIV: Buffer.from(iv),
        forceNative: true,
      },
    });
    const sent: Uint8Array[] = [];
    const stream: Buffer[] = [];
    for (const size of SIZES) {
      const payload = crypto.getRandomValues(new Uint8Array(size + 1));
      sent.push(payload);
      stream.push(sendBoth(pair, payload).ours);
    }
    // Feed the stream in odd-sized pieces, as TCP may deliver it.
    const all = Buffer.concat(stream);
    for (let at = 0; at < all.length; at += 1337) {
      const piece = all.subarray(at, Math.min(at + 1337, all.length));
      decipher.decrypt(piece, 0, piece.length);
    }
    assert.equal(received.length, sent.length);
    for (let i = 0; i < sent.length; i++) assert.deepEqual(new Uint8Array(received[i]), sent[i]);
  });

  Deno.test(`${name}: a packet not laid out by allocPacket is still encrypted correctly`, () => {
    assert.ok(lib, "libcrypto.so.3 is not loadable here");
    const { key, iv } = keyAndIv(name);
    const pair = makePair(name, key, iv, 1);
    const theirs = pair.theirs.allocPacket(50);
    crypto.getRandomValues(theirs.subarray(5, 55));
    const foreign = Buffer.from(theirs); // exactly the packet, no room for the tag
    pair.theirs.encrypt(theirs);
    pair.ours.encrypt(foreign);
    assert.ok(pair.oursOut[0].equals(Buffer.concat(pair.theirsOut)));
  });

  Deno.test(`${name}: after free() nothing more is written`, () => {
    assert.ok(lib, "libcrypto.so.3 is not loadable here");
    const { key, iv } = keyAndIv(name);
    const pair = makePair(name, key, iv, 0);
    pair.ours.free();
    pair.ours.encrypt(pair.ours.allocPacket(10));
    assert.equal(pair.oursOut.length, 0);
    pair.ours.free(); // idempotent
  });
}

Deno.test("other ciphers are left to ssh2", () => {
  assert.ok(lib, "libcrypto.so.3 is not loadable here");
  const cipherInfo = ssh2Crypto.CIPHER_INFO["aes128-ctr"];
  const made = libcryptoCipher(lib, {
    outbound: {
      onWrite: () => {},
      seqno: 0,
      cipherInfo,
      cipherKey: Buffer.alloc(16),
      cipherIV: Buffer.alloc(16),
    },
  });
  assert.equal(made, null);
});
