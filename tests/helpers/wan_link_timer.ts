/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The wake-up thread of tests/helpers/wan_link.ts. The main thread's
 * setTimeout fires a millisecond or two late (it rounds to whole
 * milliseconds, then waits for the next tick), which would add that much to
 * every emulated delay. A futex wait here wakes within a fraction of a
 * millisecond, and a message to the main thread costs tens of microseconds.
 *
 * Shared memory: Int32 [0] is a generation the main thread bumps whenever the
 * target changes (-1: stop); Float64 [1] is the target, in epoch
 * milliseconds (timeOrigin + now), Infinity for none. One message per
 * target reached.
 */
const LEAD_MS = 0.15;

self.onmessage = (event: MessageEvent<SharedArrayBuffer>) => {
  const generation = new Int32Array(event.data, 0, 1);
  const target = new Float64Array(event.data, 8, 1);
  // Ready: loading this module can take a while the first time (type-checking).
  self.postMessage("ready");
  for (;;) {
    const seen = Atomics.load(generation, 0);
    if (seen < 0) break;
    // Fire a little early: the message takes about that long to reach the main thread.
    const wait = target[0] - LEAD_MS - (performance.timeOrigin + performance.now());
    if (wait <= 0) {
      self.postMessage(0);
      // Fired for this target: sleep until the main thread sets another.
      Atomics.wait(generation, 0, seen);
    } else {
      Atomics.wait(generation, 0, seen, wait === Infinity ? undefined : wait);
    }
  }
  self.close();
};
