import assert from "node:assert/strict";
import { resolveHost } from "./helpers/resolve_host.ts";
import { resolveConfig } from "../src/config/resolve.ts";
import { networkTarget } from "../src/remote/network_target.ts";
import type { Config } from "../src/config/types.ts";

const CTX = { fromProcCmdline: false, isRoot: false, randomName: () => "r4nd0m00" };

Deno.test("resolve: with nothing given, everything comes from the host and the defaults", () => {
  const expected: Config = {
    remote: { server: undefined, port: 22, hostKeys: [] },
    auth: { username: undefined, password: undefined, identityUrl: undefined, sudo: false },
    guestname: "pc42",
    vcpu: { physTopo: false, cores: 8 },
    memory: 16 * 2 ** 30,
    cpu: { vendor: "Intel", model: undefined, acpi: true, apic: true, pae: false },
    rtc: { basis: "utc", offset: 3600, offsetText: undefined },
    disks: ["sda", "nvme0n1"],
    removable: ["sr0"],
    interfaces: ["em1", "wlp2s0"],
    networkMap: [],
    output: {
      type: "local",
      allocation: undefined,
      connection: undefined,
      format: undefined,
      storage: "/var/tmp",
      misc: [],
    },
    pre: undefined,
    post: undefined,
    fail: undefined,
    skipTestConnection: false,
    dumpConfigAndExit: false,
    nbd: ["builtin"],
    reconnectSeconds: 600,
    channels: 0,
    bandwidthMbit: 0,
    compress: true,
    stage: { step: "none", dir: undefined, keep: false },
  };
  assert.deepEqual(resolveConfig({}, resolveHost(), CTX), expected);
});

Deno.test("resolve: every override beats the host", () => {
  const c = resolveConfig(
    {
      server: "conv",
      port: 2222,
      username: "bob",
      password: "pw",
      identityUrl: "file:///id",
      sudo: true,
      guestname: "g",
      physTopo: true,
      cores: 2,
      memory: 2 ** 30,
      cpuVendor: "AMD",
      cpuModel: "EPYC",
      acpi: false,
      apic: false,
      pae: true,
      rtcBasis: "localtime",
      rtcOffset: 7200,
      rtcOffsetText: "+2h",
      disks: ["sdb"],
      removable: [],
      interfaces: ["eth0"],
      networkMap: [{ iface: "eth0", target: "x" }],
      outputType: "libvirt",
      outputAllocation: "sparse",
      outputConnection: "qemu:///system",
      outputFormat: "qcow2",
      outputStorage: "default",
      outputMisc: ["a=1"],
      pre: "echo pre",
      post: "reboot",
      fail: "echo fail",
      skipTestConnection: true,
      dumpConfigAndExit: true,
      nbd: ["nbdkit", "builtin"],
      reconnectSeconds: 600,
      channels: 0,
      bandwidthMbit: 0,
      compress: true,
    },
    resolveHost(),
    CTX,
  );
  assert.deepEqual(c, {
    remote: { server: "conv", port: 2222, hostKeys: [] },
    auth: { username: "bob", password: "pw", identityUrl: "file:///id", sudo: true },
    guestname: "g",
    vcpu: { physTopo: true, cores: 2 },
    memory: 2 ** 30,
    cpu: { vendor: "AMD", model: "EPYC", acpi: false, apic: false, pae: true },
    rtc: { basis: "localtime", offset: 7200, offsetText: "+2h" },
    disks: ["sdb"],
    removable: [],
    interfaces: ["eth0"],
    networkMap: [{ iface: "eth0", target: "x" }],
    output: {
      type: "libvirt",
      allocation: "sparse",
      connection: "qemu:///system",
      format: "qcow2",
      storage: "default",
      misc: ["a=1"],
    },
    pre: "echo pre",
    post: "reboot",
    fail: "echo fail",
    skipTestConnection: true,
    dumpConfigAndExit: true,
    nbd: ["nbdkit", "builtin"],
    reconnectSeconds: 600,
    channels: 0,
    bandwidthMbit: 0,
    compress: true,
    stage: { step: "none", dir: undefined, keep: false },
  });
});

Deno.test("resolve: no hostname gives a random 8-character name", () => {
  assert.equal(resolveConfig({}, resolveHost({ hostname: undefined }), CTX).guestname, "r4nd0m00");
  assert.equal(resolveConfig({}, resolveHost({ hostname: "" }), CTX).guestname, "r4nd0m00");
  const name = resolveConfig({}, resolveHost({ hostname: undefined }), {
    fromProcCmdline: false,
    isRoot: false,
  }).guestname;
  assert.match(name, /^[a-z0-9]{8}$/);
});

Deno.test("resolve: a test disk replaces the host's disks and removable drives", () => {
  const c = resolveConfig({}, resolveHost(), { ...CTX, testDisk: "/var/tmp/t.img" });
  assert.deepEqual(c.disks, ["/var/tmp/t.img"]);
  assert.deepEqual(c.removable, []);
  const given = resolveConfig({ disks: ["sdz"], removable: ["sr1"] }, resolveHost(), {
    ...CTX,
    testDisk: "/t.img",
  });
  assert.deepEqual(given.disks, ["sdz"]);
  assert.deepEqual(given.removable, ["sr1"]);
});

Deno.test("resolve: empty lists given stay empty instead of taking the host's", () => {
  const c = resolveConfig({ disks: [], removable: [], interfaces: [] }, resolveHost(), CTX);
  assert.deepEqual([c.disks, c.removable, c.interfaces], [[], [], []]);
});

Deno.test("resolve: at least one vCPU even if detection found none", () => {
  const h = resolveHost();
  assert.equal(resolveConfig({}, { ...h, cpu: { ...h.cpu, onlineCpus: 0 } }, CTX).vcpu.cores, 1);
});

Deno.test("resolve: the result does not share arrays with its inputs", () => {
  const o = { disks: ["sda"], networkMap: [{ target: "x" }], outputMisc: ["a=1"] };
  const c = resolveConfig(o, resolveHost(), CTX);
  c.disks.push("sdb");
  c.networkMap[0].target = "y";
  c.output.misc.push("b=2");
  assert.deepEqual(o, { disks: ["sda"], networkMap: [{ target: "x" }], outputMisc: ["a=1"] });
});

Deno.test("resolve: poweroff is the default post command only as root from /proc/cmdline", () => {
  const post = (isRoot: boolean, fromProcCmdline: boolean) =>
    resolveConfig({}, resolveHost(), { isRoot, fromProcCmdline }).post;
  assert.equal(post(true, true), "poweroff");
  assert.equal(post(true, false), undefined);
  assert.equal(post(false, true), undefined);
  assert.equal(post(false, false), undefined);
});

Deno.test("resolve: a given post command, even an empty one, suppresses poweroff", () => {
  const ctx = { isRoot: true, fromProcCmdline: true };
  assert.equal(resolveConfig({ post: "" }, resolveHost(), ctx).post, "");
  assert.equal(resolveConfig({ post: "reboot" }, resolveHost(), ctx).post, "reboot");
});

Deno.test("network map: the first matching entry wins, bare targets match all", () => {
  const map = [{ target: "other" }, { iface: "em1", target: "x" }];
  assert.equal(networkTarget(map, "em1"), "other");
  assert.equal(networkTarget(map, "eth0"), "other");
  const map2 = [{ iface: "em1", target: "wired" }, { iface: "em2", target: "mgmt" }, {
    target: "other",
  }];
  assert.equal(networkTarget(map2, "em1"), "wired");
  assert.equal(networkTarget(map2, "em2"), "mgmt");
  assert.equal(networkTarget(map2, "wlan0"), "other");
});

Deno.test("network map: no match, or an empty map, gives default", () => {
  assert.equal(networkTarget([], "em1"), "default");
  assert.equal(networkTarget([{ iface: "em1", target: "x" }], "em10"), "default");
  assert.equal(networkTarget([{ iface: "em10", target: "x" }], "em1"), "default");
});
