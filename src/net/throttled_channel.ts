/**
 * A forwarded channel whose outgoing bytes (our NBD replies: the disk's
 * data) pass the bandwidth cap first; what comes in (virt-v2v's requests)
 * is not held. Everything else — end, errors, close — passes both ways.
 */
import { Duplex } from "node:stream";
import type { RateLimit } from "./rate_limit.ts";

export function throttleOutgoing(channel: Duplex, limit: RateLimit): Duplex {
  const wrapped = new Duplex({
    read() {
      channel.resume();
    },
    write(chunk: Uint8Array, _encoding, callback) {
      limit.take(chunk.length, () => {
        if (channel.destroyed) return callback(new Error("the channel is closed"));
        // Done only once the channel is done with the bytes: the sender
        // reuses its buffer after that.
        channel.write(chunk, (err) => callback(err ?? null));
      });
    },
    final(callback) {
      channel.end();
      callback();
    },
    destroy(err, callback) {
      channel.destroy(err ?? undefined);
      callback(err);
    },
  });
  channel.on("data", (data: Uint8Array) => {
    if (!wrapped.push(data)) channel.pause();
  });
  channel.on("end", () => wrapped.push(null));
  channel.on("error", (err: Error) => wrapped.destroy(err));
  channel.on("close", () => {
    if (!wrapped.destroyed) wrapped.destroy();
  });
  return wrapped;
}
