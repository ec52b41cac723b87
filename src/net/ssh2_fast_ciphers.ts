/**
 * Makes ssh2 encrypt outgoing packets with `ssh_aead_ciphers.ts` (libcrypto
 * through FFI) instead of its node:crypto code, which under Deno creates new
 * cipher objects per packet and writes each packet in three or four pieces.
 * Only the outbound direction: it carries the disk data; what comes back
 * (NBD requests, window adjustments) is small and stays with ssh2.
 *
 * How: ssh2's key exchange takes `createCipher` from lib/protocol/crypto.js
 * when it loads, so this module wraps that export first; ssh_session.ts
 * imports it before ssh2. The wrapper builds our cipher for the AEAD ciphers
 * and passes everything else (and any case it does not recognise) to ssh2.
 * This depends on ssh2's internals, so it is pinned: with another ssh2
 * version, without libcrypto, or when the module has another shape, nothing
 * is installed and ssh2 runs as it is.
 */
// Must be evaluated before ssh2's crypto.js copies node:crypto's functions.
import "./release_stream_ciphers.ts";
// @ts-types="npm:@types/ssh2@1.15.6"
import type { CipherAlgorithm } from "ssh2";
import ssh2Crypto from "ssh2/lib/protocol/crypto.js";
import ssh2Package from "ssh2/package.json" with { type: "json" };
import { type CipherName, type Libcrypto, loadLibcrypto } from "./libcrypto.ts";
import {
  AesGcmCipher,
  ChaChaPolyCipher,
  type OutboundConfig,
  type SshOutboundCipher,
} from "./ssh_aead_ciphers.ts";

/** The ssh2 version whose internals this was written against and tested with. */
export const PINNED_SSH2_VERSION = "1.17.0";

interface Ssh2CipherConfig {
  outbound?: OutboundConfig & { cipherInfo?: { sslName?: string } };
}

interface Ssh2CryptoModule {
  createCipher: (config: Ssh2CipherConfig) => SshOutboundCipher;
}

const LIBCRYPTO_NAMES: Record<string, CipherName> = {
  "aes-128-gcm": "AES-128-GCM",
  "aes-256-gcm": "AES-256-GCM",
};

/** Our cipher for this configuration, or null to let ssh2 make its own. */
export function libcryptoCipher(
  lib: Libcrypto,
  config: Ssh2CipherConfig,
): SshOutboundCipher | null {
  const out = config?.outbound;
  if (typeof out?.onWrite !== "function" || !(out.cipherKey instanceof Uint8Array)) return null;
  if (!Number.isInteger(out.seqno) || out.seqno < 0 || out.seqno > 0xffffffff) return null;
  const sslName = out.cipherInfo?.sslName ?? "";
  if (sslName === "chacha20") return new ChaChaPolyCipher(lib, out);
  const gcm = LIBCRYPTO_NAMES[sslName];
  return gcm === undefined ? null : new AesGcmCipher(lib, gcm, out);
}

const ssh2Module = ssh2Crypto as Ssh2CryptoModule;

/** ssh2's own outbound cipher factory (node:crypto), as it was before this module ran. */
export const ssh2CreateCipher = ssh2Module.createCipher;

function install(): boolean {
  const mod = ssh2Module;
  if (ssh2Package.version !== PINNED_SSH2_VERSION || typeof ssh2CreateCipher !== "function") {
    return false;
  }
  const lib = loadLibcrypto();
  if (lib === null) return false;
  mod.createCipher = (config) => {
    let ours: SshOutboundCipher | null = null;
    try {
      ours = libcryptoCipher(lib, config);
    } catch {
      // libcrypto refused this key (it never should): ssh2's own code still works.
    }
    return ours ?? ssh2CreateCipher(config);
  };
  return true;
}

/** Whether outgoing packets are encrypted with libcrypto in this process. */
export const LIBCRYPTO_CIPHERS_INSTALLED = install();

/**
 * Our cipher preference. With libcrypto, AES-GCM first: AES-NI makes it the
 * cheapest for both ends. With ssh2's node:crypto code, chacha20 is much
 * faster than its AES-GCM.
 */
export const CIPHER_PREFERENCE: CipherAlgorithm[] = LIBCRYPTO_CIPHERS_INSTALLED
  ? [
    "aes128-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
  ]
  : [
    "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
  ];
