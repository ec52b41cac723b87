/**
 * A second host for tests that need a real network between us and the
 * server: a network namespace joined to ours by a veth pair. Taking its end
 * of the pair down black-holes the link (packets vanish, nothing is reset),
 * as a pulled cable or a dead switch does.
 */
import { registerNetns, unregisterNetns } from "./cleanup.ts";
import { run } from "./process.ts";

export interface TestHost {
  netns: string;
  /** The host's address, as we reach it. */
  address: string;
  /** Drop (`true`) or pass again (`false`) every packet between us and it. */
  blackHole(on: boolean): Promise<void>;
  remove(): Promise<void>;
}

let counter = 0;

export async function makeTestHost(): Promise<TestHost> {
  const id = `${Deno.pid % 10000}${counter++}`;
  const netns = `p2vhost${id}`;
  const ours = `p2vh${id}a`;
  const theirs = `p2vh${id}b`;
  // A /30 per host from 10.213.0.0/16, so parallel tests never collide.
  const n = (Deno.pid * 8 + counter * 4) % 65536;
  const base = `10.213.${Math.floor(n / 256)}.${n % 256 & ~3}`;
  const [a, b, c, d] = base.split(".").map(Number);
  const local = `${a}.${b}.${c}.${d + 1}`;
  const address = `${a}.${b}.${c}.${d + 2}`;
  await run("ip", ["netns", "add", netns]);
  // Deleting the namespace deletes the pair too.
  registerNetns(netns);
  await run("ip", ["link", "add", ours, "type", "veth", "peer", "name", theirs]);
  await run("ip", ["link", "set", theirs, "netns", netns]);
  await run("ip", ["addr", "add", `${local}/30`, "dev", ours]);
  await run("ip", ["link", "set", ours, "up"]);
  await run("ip", ["-n", netns, "addr", "add", `${address}/30`, "dev", theirs]);
  await run("ip", ["-n", netns, "link", "set", theirs, "up"]);
  await run("ip", ["-n", netns, "link", "set", "lo", "up"]);
  return {
    netns,
    address,
    async blackHole(on) {
      await run("ip", ["-n", netns, "link", "set", theirs, on ? "down" : "up"]);
    },
    async remove() {
      await run("ip", ["netns", "del", netns], { check: false });
      await run("ip", ["link", "del", ours], { check: false });
      unregisterNetns(netns);
    },
  };
}
