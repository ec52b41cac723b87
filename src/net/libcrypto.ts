/**
 * The system's OpenSSL 3 libcrypto through Deno's FFI: the few EVP calls the
 * SSH packet ciphers need, on contexts that live as long as the keys do.
 * node:crypto under Deno makes a new cipher object per SSH packet; reusing
 * one EVP context per key is several times cheaper.
 *
 * `loadLibcrypto()` returns null (never throws, never prompts) when FFI is
 * not permitted, the library is missing or too old, or
 * VIRT_P2V_NO_LIBCRYPTO is set; callers then keep using node:crypto.
 *
 * Data is passed as raw addresses (see `addressOf`) so that a packet inside a
 * larger buffer needs no view object per call. Take addresses only of memory
 * that V8 never moves: an explicit `new ArrayBuffer(n)` or a large Buffer
 * (`Buffer.allocUnsafeSlow`), never a small typed array made on its own
 * (those can live on the moving heap); and keep the buffer referenced while
 * its address is in use.
 */

const LIBRARY_NAMES = ["libcrypto.so.3"];
/** OpenSSL 3.0.0: EVP_MAC and EVP_CIPHER_fetch exist from here on. */
const MIN_VERSION = 0x30000000n;

const SYMBOLS = {
  OpenSSL_version_num: { parameters: [], result: "u64" },
  EVP_CIPHER_fetch: { parameters: ["pointer", "buffer", "pointer"], result: "pointer" },
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_EncryptInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  EVP_EncryptUpdate: { parameters: ["pointer", "usize", "buffer", "usize", "i32"], result: "i32" },
  EVP_EncryptFinal_ex: { parameters: ["pointer", "usize", "buffer"], result: "i32" },
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "usize"], result: "i32" },
  EVP_MAC_fetch: { parameters: ["pointer", "buffer", "pointer"], result: "pointer" },
  EVP_MAC_CTX_new: { parameters: ["pointer"], result: "pointer" },
  EVP_MAC_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_MAC_init: { parameters: ["pointer", "usize", "usize", "pointer"], result: "i32" },
  EVP_MAC_update: { parameters: ["pointer", "usize", "usize"], result: "i32" },
  EVP_MAC_final: { parameters: ["pointer", "usize", "buffer", "usize"], result: "i32" },
} as const;

type RawSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
/** Deno takes a plain number for a `usize` too; addresses fit in 53 bits. */
type NumberArgs<F> = F extends (...args: infer A) => infer R
  ? (...args: { [K in keyof A]: A[K] extends bigint ? number : A[K] }) => R
  : never;
type Symbols = { [K in keyof RawSymbols]: NumberArgs<RawSymbols[K]> };
type Handle = Deno.PointerObject;

const EVP_CTRL_GCM_GET_TAG = 0x10;

export type CipherName = "AES-128-GCM" | "AES-256-GCM" | "ChaCha20";

export interface Libcrypto {
  /** A new encryption context for `name` with `key` and `iv` set. */
  encryptor(name: CipherName, key: Uint8Array, iv: Uint8Array): Encryptor;
  /** A new Poly1305 one-time authenticator. */
  poly1305(): Poly1305;
}

/** The address of a view's first byte, for the address parameters below (see above). */
export function addressOf(view: ArrayBufferView): number {
  const p = Deno.UnsafePointer.of(view);
  if (p === null) throw new Error("libcrypto: a buffer without memory");
  return Number(Deno.UnsafePointer.value(p));
}

/** Small fixed buffers of one context, off the V8 heap so their addresses hold. */
class Scratch {
  readonly bytes = new Uint8Array(new ArrayBuffer(256));
  readonly address = addressOf(this.bytes);
  /** An `int` or `size_t` out-parameter. */
  readonly outLen = this.bytes.subarray(0, 8);
  wipe() {
    this.bytes.fill(0);
  }
}

export class Encryptor {
  #ctx: Handle | null;
  readonly #s: Symbols;
  readonly #scratch = new Scratch();

  constructor(s: Symbols, cipher: Handle, key: Uint8Array, iv: Uint8Array) {
    this.#s = s;
    const ctx = s.EVP_CIPHER_CTX_new();
    if (ctx === null) throw new Error("libcrypto: EVP_CIPHER_CTX_new failed");
    this.#ctx = ctx;
    if (s.EVP_EncryptInit_ex(ctx, cipher, null, key, iv) !== 1) {
      this.free();
      throw new Error("libcrypto: EVP_EncryptInit_ex failed to set the key");
    }
  }

  /** Restart with a new IV (nonce and counter), keeping the key. */
  setIv(iv: Uint8Array): void {
    check(this.#s.EVP_EncryptInit_ex(this.#live(), null, null, null, iv), "EVP_EncryptInit_ex");
  }

  /** Feed additional authenticated data (AEAD modes). */
  aad(address: number, length: number): void {
    const s = this.#s;
    check(s.EVP_EncryptUpdate(this.#live(), 0, this.#scratch.outLen, address, length), "aad");
  }

  /** Encrypt `length` bytes at `from` to `to` (the same address encrypts in place). */
  update(to: number, from: number, length: number): void {
    const s = this.#s;
    check(s.EVP_EncryptUpdate(this.#live(), to, this.#scratch.outLen, from, length), "update");
  }

  /** Finish an AES-GCM message and write its 16-byte tag at `tagAddress`. */
  finishGcm(tagAddress: number): void {
    const s = this.#s;
    const ctx = this.#live();
    // GCM is a stream mode: final writes no bytes, only computes the tag.
    check(s.EVP_EncryptFinal_ex(ctx, this.#scratch.address, this.#scratch.outLen), "final");
    check(s.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tagAddress), "get tag");
  }

  /** Release the context (OpenSSL wipes the key schedule). Idempotent. */
  free(): void {
    if (this.#ctx !== null) this.#s.EVP_CIPHER_CTX_free(this.#ctx);
    this.#ctx = null;
    this.#scratch.wipe();
  }

  #live(): Handle {
    if (this.#ctx === null) throw new Error("libcrypto: cipher used after free");
    return this.#ctx;
  }
}

export class Poly1305 {
  #ctx: Handle | null;
  readonly #s: Symbols;
  readonly #scratch = new Scratch();

  constructor(s: Symbols, mac: Handle) {
    this.#s = s;
    this.#ctx = s.EVP_MAC_CTX_new(mac);
    if (this.#ctx === null) throw new Error("libcrypto: EVP_MAC_CTX_new failed");
  }

  /** Write the 16-byte tag of `length` bytes at `data` under the 32-byte key at `key` to `tag`. */
  tag(key: number, data: number, length: number, tag: number): void {
    const s = this.#s;
    const ctx = this.#ctx;
    if (ctx === null) throw new Error("libcrypto: MAC used after free");
    check(s.EVP_MAC_init(ctx, key, 32, null), "EVP_MAC_init");
    check(s.EVP_MAC_update(ctx, data, length), "EVP_MAC_update");
    check(s.EVP_MAC_final(ctx, tag, this.#scratch.outLen, 16), "EVP_MAC_final");
  }

  free(): void {
    if (this.#ctx !== null) this.#s.EVP_MAC_CTX_free(this.#ctx);
    this.#ctx = null;
  }
}

function check(result: number, what: string): void {
  if (result !== 1) throw new Error(`libcrypto: ${what} failed`);
}

const cString = (s: string) => new TextEncoder().encode(s + "\0");

let cached: Libcrypto | null | undefined;

/** The system's libcrypto, or null when it cannot be used here (see the module comment). */
export function loadLibcrypto(): Libcrypto | null {
  if (cached === undefined) cached = tryLoad();
  return cached;
}

function tryLoad(): Libcrypto | null {
  if (Deno.build.os !== "linux") return null;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    if (
      Deno.permissions.querySync({ name: "env", variable: "VIRT_P2V_NO_LIBCRYPTO" }).state ===
        "granted" && Deno.env.get("VIRT_P2V_NO_LIBCRYPTO")
    ) return null;
  } catch {
    return null;
  }
  for (const name of LIBRARY_NAMES) {
    try {
      const lib = Deno.dlopen(name, SYMBOLS);
      const made = fromSymbols(lib.symbols as unknown as Symbols);
      if (made !== null) return made;
      lib.close();
    } catch {
      // Not installed under this name, or without these symbols (not OpenSSL 3).
    }
  }
  return null;
}

function fromSymbols(s: Symbols): Libcrypto | null {
  if (s.OpenSSL_version_num() < MIN_VERSION) return null;
  const ciphers = new Map<CipherName, Handle>();
  for (const name of ["AES-128-GCM", "AES-256-GCM", "ChaCha20"] as const) {
    const handle = s.EVP_CIPHER_fetch(null, cString(name), null);
    if (handle === null) return null;
    ciphers.set(name, handle);
  }
  const mac = s.EVP_MAC_fetch(null, cString("POLY1305"), null);
  if (mac === null) return null;
  return {
    encryptor: (name, key, iv) => new Encryptor(s, ciphers.get(name)!, key, iv),
    poly1305: () => new Poly1305(s, mac),
  };
}
