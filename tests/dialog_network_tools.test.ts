/**
 * The Network screen's tools. This machine's own network is only READ; the
 * static-address path runs for real inside a network namespace made for
 * the test (a veth pair), removed afterwards.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createNetworkTools,
  parseIpAddr,
  parseIpLink,
  parseResolvConf,
} from "../src/cli/network_tools.ts";
import { run } from "./helpers/process.ts";
import { tempDir } from "./helpers/cleanup.ts";

const IP_LINK =
  `1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
4: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\\    link/ether 02:FC:00:00:00:01 brd ff:ff:ff:ff:ff:ff
5: v1@v0: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000\\    link/ether f6:3c:eb:e2:84:07 brd ff:ff:ff:ff:ff:ff
`;

const IP_ADDR =
  `1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever
4: eth0    inet6 fe80::fc:ff:fe00:1/64 scope link \\       valid_lft forever preferred_lft forever
`;

Deno.test("network tools: ip -o output and resolv.conf are read right", () => {
  assert.deepEqual(parseIpLink(IP_LINK), [
    { name: "lo", state: "UNKNOWN", addresses: [] },
    { name: "eth0", state: "UP", mac: "02:fc:00:00:00:01", addresses: [] },
    { name: "v1", state: "DOWN", mac: "f6:3c:eb:e2:84:07", addresses: [] },
  ]);
  assert.deepEqual(
    [...parseIpAddr(IP_ADDR)],
    [["lo", ["127.0.0.1/8", "::1/128"]], ["eth0", ["192.0.2.2/24", "fe80::fc:ff:fe00:1/64"]]],
  );
  assert.deepEqual(
    parseResolvConf("# generated\nnameserver 10.0.0.1\n  nameserver 2001:db8::53\nsearch x\n"),
    ["10.0.0.1", "2001:db8::53"],
  );
});

Deno.test("network tools: a system without ip or a DHCP client is told so", async () => {
  const ran: string[] = [];
  const tools = createNetworkTools({
    findTool: () => Promise.resolve(undefined),
    run: (cmd) => {
      ran.push(cmd);
      return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    },
    resolvConf: "/nonexistent/resolv.conf",
  });
  const status = await tools.status();
  assert.equal(status.hasIp, false);
  assert.equal(status.dhcpClient, undefined);
  assert.deepEqual(status.problems, [
    "/nonexistent/resolv.conf cannot be read: no name servers are known.",
  ]);
  assert.deepEqual(await tools.dhcp("eth0"), {
    ok: false,
    log: ["No DHCP client: neither udhcpc nor dhclient is installed on this system."],
  });
  assert.deepEqual(await tools.setStatic({ iface: "eth0", address: "10.0.0.5/24" }), {
    ok: false,
    log: ["The ip command is not installed: cannot set an address."],
  });
  assert.deepEqual(ran, [], "nothing was run");
});

Deno.test("network tools: DHCP uses udhcpc before dhclient, with the interface up first", async () => {
  const ran: string[][] = [];
  const tools = createNetworkTools({
    findTool: (name) =>
      Promise.resolve(["ip", "udhcpc", "dhclient"].includes(name) ? `/sbin/${name}` : undefined),
    run: (cmd, args) => {
      ran.push([cmd, ...args]);
      return Promise.resolve({ code: 0, stdout: "lease of 10.0.0.9 obtained", stderr: "" });
    },
  });
  const r = await tools.dhcp("eth1");
  assert.equal(r.ok, true);
  assert.deepEqual(ran, [
    ["/sbin/ip", "link", "set", "dev", "eth1", "up"],
    ["/sbin/udhcpc", "-i", "eth1", "-n", "-q", "-f", "-t", "5", "-T", "3"],
  ]);
  assert.ok(r.log.includes("lease of 10.0.0.9 obtained"));
});

Deno.test("network tools: this machine's state is read (and never changed)", async () => {
  const tools = createNetworkTools();
  const status = await tools.status();
  // setup.sh installs iproute2: a missing `ip` is a broken setup, not a reason to pass.
  assert.ok(status.hasIp, "the ip command is missing: run ./setup.sh");
  const lo = status.interfaces.find((i) => i.name === "lo");
  assert.ok(lo, "lo is always there");
  assert.ok(lo.addresses.includes("127.0.0.1/8"));
});

Deno.test("network tools: a static address set for real inside a private network namespace", async () => {
  const ns = `p2vtest${Deno.pid}`;
  const add = await run("ip", ["netns", "add", ns], { check: false });
  assert.equal(add.code, 0, `ip netns add failed (the tests run as root): ${add.stderr}`);
  const dir = await tempDir({ prefix: "p2v-netns." });
  try {
    await run("ip", ["-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    await run("ip", ["-n", ns, "link", "set", "v1", "up"]);
    const resolvConf = join(dir, "resolv.conf");
    await Deno.writeTextFile(resolvConf, "nameserver 192.0.2.53\n");
    const tools = createNetworkTools({ prefix: ["ip", "netns", "exec", ns], resolvConf });

    const r = await tools.setStatic({
      iface: "v0",
      address: "198.51.100.7/24",
      gateway: "198.51.100.1",
      dns: "198.51.100.53",
    });
    assert.equal(r.ok, true, r.log.join("\n"));
    const status = await tools.status();
    const v0 = status.interfaces.find((i) => i.name === "v0");
    assert.ok(v0?.addresses.includes("198.51.100.7/24"), JSON.stringify(status));
    assert.ok(status.defaultRoutes.some((l) => l.startsWith("default via 198.51.100.1 dev v0")));
    assert.deepEqual(status.dns, ["198.51.100.53", "192.0.2.53"]);

    // A failing step stops the sequence and says why.
    const bad = await tools.setStatic({ iface: "nosuch0", address: "198.51.100.8/24" });
    assert.equal(bad.ok, false);
    assert.match(bad.log.join("\n"), /ip exited with status/);
  } finally {
    await run("ip", ["netns", "del", ns], { check: false });
    await Deno.remove(dir, { recursive: true });
  }
});
