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
 * version or when the module has another shape nothing is installed, and
 * without libcrypto the wrapper always passes on: ssh2 runs as it is.
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

const PINNED = ssh2Package.version === PINNED_SSH2_VERSION &&
  typeof ssh2CreateCipher === "function";

/**
 * Whether outgoing AEAD packets are encrypted with libcrypto in this process.
 * The library is loaded on first use (the first connection), not at start-up.
 */
export function libcryptoCiphersInUse(): boolean {
  return PINNED && loadLibcrypto() !== null;
}

if (PINNED) {
  ssh2Module.createCipher = (config) => {
    const lib = loadLibcrypto();
    let ours: SshOutboundCipher | null = null;
    try {
      if (lib !== null) ours = libcryptoCipher(lib, config);
    } catch {
      // libcrypto refused this key (it never should): ssh2's own code still works.
    }
    return ours ?? ssh2CreateCipher(config);
  };
}

/**
 * Our cipher preference. With libcrypto, AES-GCM first: with AES-NI it costs
 * both ends the least CPU per byte. With ssh2's node:crypto code, chacha20 is
 * much cheaper than its AES-GCM.
 */
export function cipherPreference(): CipherAlgorithm[] {
  const aeadFirst: CipherAlgorithm[] = libcryptoCiphersInUse()
    ? ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com"]
    : ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"];
  return [...aeadFirst, "aes128-ctr", "aes192-ctr", "aes256-ctr"];
}
