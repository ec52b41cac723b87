/**
 * Works around a memory leak of Deno's node:crypto (seen in Deno 2.9.6): a
 * Cipheriv/Decipheriv whose `final()` is never called keeps ~260 bytes of
 * native memory forever, even after garbage collection. ssh2's
 * chacha20-poly1305 code makes three one-shot `chacha20` ciphers per SSH
 * packet and never finalises them: ~30 MiB leaked per GiB sent, which would
 * exhaust memory on a real disk.
 *
 * Every ssh2 use of `chacha20` is a single `update()`, so finalising right
 * after it changes no output (a stream cipher's `final()` returns nothing)
 * and frees the native state. This must run before ssh2 is loaded: ssh2
 * copies `createCipheriv`/`createDecipheriv` out of the module when it loads.
 */
import crypto from "node:crypto";

type Factory = typeof crypto.createCipheriv;

function finalisingAfterUpdate(factory: Factory, algorithm: string): Factory {
  return ((...args: Parameters<Factory>) => {
    const cipher = factory(...args);
    if (String(args[0]).toLowerCase() !== algorithm) return cipher;
    const update = cipher.update.bind(cipher) as (...a: unknown[]) => unknown;
    (cipher as unknown as { update: (...a: unknown[]) => unknown }).update = (...a) => {
      const out = update(...a);
      cipher.final();
      return out;
    };
    return cipher;
  }) as Factory;
}

crypto.createCipheriv = finalisingAfterUpdate(crypto.createCipheriv, "chacha20");
crypto.createDecipheriv = finalisingAfterUpdate(
  crypto.createDecipheriv as unknown as Factory,
  "chacha20",
) as unknown as typeof crypto.createDecipheriv;
