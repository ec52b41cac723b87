/**
 * Outgoing SSH packet encryption with libcrypto contexts kept for the life of
 * the keys, for the two AEAD ciphers OpenSSH prefers:
 *   aes128-gcm@openssh.com, aes256-gcm@openssh.com (RFC 5647): the packet
 *     length is authenticated but sent in clear; the 12-byte IV's last 8
 *     bytes are a big-endian counter incremented per packet;
 *   chacha20-poly1305@openssh.com (OpenSSH's PROTOCOL.chacha20poly1305): the
 *     64-byte key is a main key then a length key; both run ChaCha20 with the
 *     packet sequence number as nonce; block 0 of the main stream is the
 *     one-time Poly1305 key, block 1 on encrypts the packet; the tag covers
 *     the encrypted length and packet.
 *
 * Each object has the shape ssh2 1.17 expects of an outbound cipher
 * (`outSeqno`, `allocPacket`, `encrypt`, `free`): packets are laid out in a
 * `PacketSlab` with room for the tag, encrypted in place, and handed to
 * `onWrite` as ONE buffer each (ssh2's own code writes length, body and tag
 * separately).
 */
import type { Buffer } from "node:buffer";
import {
  addressOf,
  type CipherName,
  type Encryptor,
  type Libcrypto,
  type Poly1305,
} from "./libcrypto.ts";
import { PacketSlab } from "./packet_slab.ts";

const TAG_BYTES = 16;

/** What ssh2 hands its cipher factory (`createCipher(config).outbound`), as far as we use it. */
export interface OutboundConfig {
  onWrite: (packet: Buffer) => void;
  seqno: number;
  cipherKey: Uint8Array;
  cipherIV?: Uint8Array;
}

/** The outbound cipher interface of ssh2 1.17 (lib/protocol/crypto.js). */
export interface SshOutboundCipher {
  outSeqno: number;
  allocPacket(payloadLength: number): Buffer;
  encrypt(packet: Buffer): void;
  free(): void;
}

abstract class SlabCipher implements SshOutboundCipher {
  outSeqno: number;
  #dead = false;
  readonly #onWrite: (packet: Buffer) => void;
  readonly #slab: PacketSlab;

  constructor(config: OutboundConfig, private readonly blockBytes: number, slab: PacketSlab) {
    this.outSeqno = config.seqno;
    this.#onWrite = config.onWrite;
    this.#slab = slab;
  }

  /** Encrypt in place `packetLength` bytes at `address` and write the tag right after them. */
  protected abstract seal(address: number, packetLength: number, seqno: number): void;
  protected abstract release(): void;

  allocPacket(payloadLength: number): Buffer {
    // Both ciphers align what follows the 4-byte length field to their block size.
    let packetLength = 4 + 1 + payloadLength;
    let padding = this.blockBytes - ((packetLength - 4) & (this.blockBytes - 1));
    if (padding < 4) padding += this.blockBytes;
    packetLength += padding;
    const packet = this.#slab.take(packetLength + TAG_BYTES);
    packet.writeUInt32BE(packetLength - 4, 0);
    packet[4] = padding;
    this.#slab.randomFill(packet, 5 + payloadLength, padding);
    return packet;
  }

  encrypt(packet: Buffer): void {
    if (this.#dead) return;
    const packetLength = packet.readUInt32BE(0) + 4;
    const total = packetLength + TAG_BYTES;
    let out = packet.length === total ? packet : packet.subarray(0, total);
    let address = this.#slab.addressIn(out);
    if (address < 0 || out.length < total) {
      // Not laid out by allocPacket just now: copy it into the slab, with room for the tag.
      out = this.#slab.take(total);
      out.set(packet.subarray(0, packetLength));
      address = this.#slab.addressIn(out);
    }
    this.seal(address, packetLength, this.outSeqno);
    this.#onWrite(out);
    this.outSeqno = (this.outSeqno + 1) >>> 0;
  }

  free(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.release();
  }
}

export class AesGcmCipher extends SlabCipher {
  readonly #enc: Encryptor;
  readonly #iv: Uint8Array;

  constructor(lib: Libcrypto, name: CipherName, config: OutboundConfig, slab = new PacketSlab()) {
    super(config, 16, slab);
    if (config.cipherIV?.length !== 12) throw new Error("AES-GCM needs a 12-byte IV");
    this.#iv = Uint8Array.from(config.cipherIV);
    this.#enc = lib.encryptor(name, config.cipherKey, this.#iv);
  }

  protected seal(address: number, packetLength: number): void {
    const enc = this.#enc;
    enc.setIv(this.#iv);
    enc.aad(address, 4);
    enc.update(address + 4, address + 4, packetLength - 4);
    enc.finishGcm(address + packetLength);
    incrementCounter(this.#iv);
  }

  protected release(): void {
    this.#enc.free();
    this.#iv.fill(0);
  }
}

/** RFC 5647's invocation counter: the IV's last 8 bytes, big-endian. */
function incrementCounter(iv: Uint8Array): void {
  for (let i = 11; i >= 4; i--) {
    iv[i] = (iv[i] + 1) & 0xff;
    if (iv[i] !== 0) return;
  }
}

export class ChaChaPolyCipher extends SlabCipher {
  readonly #main: Encryptor;
  readonly #length: Encryptor;
  readonly #mac: Poly1305;
  /** ChaCha20 IV as OpenSSL takes it: 8-byte little-endian block counter, 8-byte nonce. */
  readonly #iv = new Uint8Array(16);
  /** 64 zero bytes, then the one-time Poly1305 key (block 0 of the main stream). */
  readonly #scratch = new Uint8Array(new ArrayBuffer(128));
  readonly #zeros = addressOf(this.#scratch);
  readonly #polyKey = this.#zeros + 64;

  constructor(lib: Libcrypto, config: OutboundConfig, slab = new PacketSlab()) {
    super(config, 8, slab);
    if (config.cipherKey.length !== 64) throw new Error("chacha20-poly1305 needs a 64-byte key");
    this.#main = lib.encryptor("ChaCha20", config.cipherKey.subarray(0, 32), this.#iv);
    this.#length = lib.encryptor("ChaCha20", config.cipherKey.subarray(32), this.#iv);
    this.#mac = lib.poly1305();
  }

  protected seal(address: number, packetLength: number, seqno: number): void {
    const iv = this.#iv;
    // The nonce is the 64-bit sequence number; ours never exceeds 32 bits.
    iv[12] = seqno >>> 24;
    iv[13] = seqno >>> 16;
    iv[14] = seqno >>> 8;
    iv[15] = seqno;
    this.#length.setIv(iv);
    this.#length.update(address, address, 4);
    this.#main.setIv(iv);
    // Block 0 gives the MAC key; the packet is then encrypted from block 1.
    this.#main.update(this.#polyKey, this.#zeros, 64);
    this.#main.update(address + 4, address + 4, packetLength - 4);
    this.#mac.tag(this.#polyKey, address, packetLength, address + packetLength);
  }

  protected release(): void {
    this.#main.free();
    this.#length.free();
    this.#mac.free();
    this.#scratch.fill(0);
  }
}
