import assert from "node:assert/strict";
import { ConfigError } from "../src/errors.ts";
import { KERNEL_KEYS, overridesFromCmdline } from "../src/config/kernel_keys.ts";
import type { ConfigOverrides } from "../src/config/types.ts";

interface Case {
  key: string;
  alias?: string;
  /** Written after `KEY=`; may carry quotes. */
  value?: string;
  expected: ConfigOverrides;
}

/** One example per key of the parser; each is tried under the key and its alias. */
const CASES: Case[] = [
  {
    key: "p2v.remote.server",
    alias: "p2v.server",
    value: "conv.example.com",
    expected: { server: "conv.example.com" },
  },
  { key: "p2v.remote.port", alias: "p2v.port", value: "2222", expected: { port: 2222 } },
  { key: "p2v.auth.username", alias: "p2v.username", value: "bob", expected: { username: "bob" } },
  {
    key: "p2v.auth.password",
    alias: "p2v.password",
    value: '"se cret"',
    expected: { password: "se cret" },
  },
  {
    key: "p2v.auth.identity.url",
    alias: "p2v.identity",
    value: "https://keys.example.com/id_rsa",
    expected: { identityUrl: "https://keys.example.com/id_rsa" },
  },
  { key: "p2v.auth.sudo", alias: "p2v.sudo", value: "yes", expected: { sudo: true } },
  { key: "p2v.guestname", alias: "p2v.name", value: "web01", expected: { guestname: "web01" } },
  { key: "p2v.vcpu.phys_topo", value: "on", expected: { physTopo: true } },
  { key: "p2v.vcpu.cores", value: "4", expected: { cores: 4 } },
  { key: "p2v.memory", value: "4G", expected: { memory: 4 * 2 ** 30 } },
  { key: "p2v.cpu.vendor", value: "AMD", expected: { cpuVendor: "AMD" } },
  { key: "p2v.cpu.model", value: "IvyBridge", expected: { cpuModel: "IvyBridge" } },
  { key: "p2v.cpu.acpi", value: "0", expected: { acpi: false } },
  { key: "p2v.cpu.apic", value: "n", expected: { apic: false } },
  { key: "p2v.cpu.pae", value: "TRUE", expected: { pae: true } },
  { key: "p2v.rtc.basis", value: "localtime", expected: { rtcBasis: "localtime" } },
  {
    key: "p2v.rtc.offset",
    value: "-3600",
    expected: { rtcOffset: -3600, rtcOffsetText: "-3600" },
  },
  { key: "p2v.disks", value: "sda,,/dev/x", expected: { disks: ["sda", "", "/dev/x"] } },
  { key: "p2v.removable", value: "sr0", expected: { removable: ["sr0"] } },
  { key: "p2v.interfaces", value: "em1,wlp2s0", expected: { interfaces: ["em1", "wlp2s0"] } },
  {
    key: "p2v.network_map",
    alias: "p2v.network",
    value: "em1:wired,other",
    expected: { networkMap: [{ iface: "em1", target: "wired" }, { target: "other" }] },
  },
  { key: "p2v.output.type", alias: "p2v.o", value: "libvirt", expected: { outputType: "libvirt" } },
  {
    key: "p2v.output.allocation",
    alias: "p2v.oa",
    value: "preallocated",
    expected: { outputAllocation: "preallocated" },
  },
  {
    key: "p2v.output.connection",
    alias: "p2v.oc",
    value: "qemu:///system",
    expected: { outputConnection: "qemu:///system" },
  },
  {
    key: "p2v.output.format",
    alias: "p2v.of",
    value: "qcow2",
    expected: { outputFormat: "qcow2" },
  },
  {
    key: "p2v.output.storage",
    alias: "p2v.os",
    value: "default",
    expected: { outputStorage: "default" },
  },
  {
    key: "p2v.output.misc",
    alias: "p2v.oo",
    value: "a=1,b=2",
    expected: { outputMisc: ["a=1", "b=2"] },
  },
  { key: "p2v.pre", value: '"echo hi there"', expected: { pre: "echo hi there" } },
  { key: "p2v.post", value: "reboot", expected: { post: "reboot" } },
  { key: "p2v.fail", value: '"logger -t p2v failed"', expected: { fail: "logger -t p2v failed" } },
  { key: "p2v.skip_test_connection", expected: { skipTestConnection: true } },
  { key: "p2v.dump_config_and_exit", expected: { dumpConfigAndExit: true } },
  {
    key: "p2v.hostkey",
    value: "SHA256:wTtNgqLG1Vt3CFj2W35W1mE+Bk5kgVrCbTZXEyrXAr8",
    expected: { hostKeys: ["SHA256:wTtNgqLG1Vt3CFj2W35W1mE+Bk5kgVrCbTZXEyrXAr8"] },
  },
  { key: "p2v.nbd", value: "builtin,qemu-nbd", expected: { nbd: ["builtin", "qemu-nbd"] } },
  { key: "p2v.reconnect", value: "0", expected: { reconnectSeconds: 0 } },
  { key: "p2v.channels", value: "8", expected: { channels: 8 } },
  { key: "p2v.bandwidth", value: "200", expected: { bandwidthMbit: 200 } },
  { key: "p2v.compress", value: "0", expected: { compress: false } },
  { key: "p2v.stage", value: "precopy", expected: { stageStep: "precopy" } },
  { key: "p2v.stage.dir", value: "/srv/staging/", expected: { stageDir: "/srv/staging" } },
  { key: "p2v.stage.keep", value: undefined, expected: { stageKeep: true } },
];

function word(key: string, value: string | undefined): string {
  return value === undefined ? key : `${key}=${value}`;
}

Deno.test("kernel keys: the test table covers every key and alias the parser knows", () => {
  const tested = CASES.map((c) => `${c.key}|${c.alias ?? ""}`).sort();
  const known = KERNEL_KEYS.map((k) => `${k.key}|${k.alias ?? ""}`).sort();
  assert.deepEqual(tested, known);
});

for (const c of CASES) {
  for (const key of c.alias === undefined ? [c.key] : [c.key, c.alias]) {
    Deno.test(`kernel keys: ${key} is mapped`, () => {
      const r = overridesFromCmdline(`root=/dev/sda1 ${word(key, c.value)} quiet`);
      assert.deepEqual(r.overrides, c.expected);
      assert.deepEqual(r.warnings, []);
    });
  }
}

Deno.test("kernel keys: all keys together, as the original's own test wrote them", () => {
  const r = overridesFromCmdline(
    "p2v.server=localhost p2v.port=123 p2v.username=user p2v.password=secret " +
      "p2v.skip_test_connection p2v.name=test p2v.vcpu.cores=4 p2v.memory=1G " +
      "p2v.disks=sda,sdb,sdc p2v.removable=sdd p2v.interfaces=eth0,eth1 p2v.o=local " +
      "p2v.oa=sparse p2v.oc=qemu:///session p2v.of=raw p2v.os=/var/tmp " +
      "p2v.oo=opt1=val1,opt2=val2 p2v.network=em1:wired,other p2v.dump_config_and_exit",
  );
  assert.deepEqual(r.overrides, {
    server: "localhost",
    port: 123,
    username: "user",
    password: "secret",
    skipTestConnection: true,
    guestname: "test",
    cores: 4,
    memory: 2 ** 30,
    disks: ["sda", "sdb", "sdc"],
    removable: ["sdd"],
    interfaces: ["eth0", "eth1"],
    outputType: "local",
    outputAllocation: "sparse",
    outputConnection: "qemu:///session",
    outputFormat: "raw",
    outputStorage: "/var/tmp",
    outputMisc: ["opt1=val1", "opt2=val2"],
    networkMap: [{ iface: "em1", target: "wired" }, { target: "other" }],
    dumpConfigAndExit: true,
  });
  assert.deepEqual(r.warnings, []);
});

Deno.test("kernel keys: non-p2v keys, including ip=, are ignored silently", () => {
  const r = overridesFromCmdline(
    "BOOT_IMAGE=/vmlinuz root=live:CDLABEL=x ip=dhcp console=ttyS0 rd.live.image quiet\n",
  );
  assert.deepEqual(r.overrides, {});
  assert.deepEqual(r.warnings, []);
});

Deno.test("kernel keys: the first occurrence of a key wins", () => {
  const r = overridesFromCmdline("p2v.port=2222 p2v.port=3333 p2v.name=a p2v.name=b");
  assert.equal(r.overrides.port, 2222);
  assert.equal(r.overrides.guestname, "a");
  assert.ok(r.warnings.some((w) => w.includes("p2v.port") && w.includes("more than once")));
});

Deno.test("kernel keys: a later invalid duplicate is never parsed", () => {
  assert.equal(overridesFromCmdline("p2v.port=22 p2v.port=abc").overrides.port, 22);
});

Deno.test("kernel keys: the canonical key beats its alias wherever each appears", () => {
  assert.equal(overridesFromCmdline("p2v.server=a p2v.remote.server=b").overrides.server, "b");
  assert.equal(overridesFromCmdline("p2v.remote.server=b p2v.server=a").overrides.server, "b");
  assert.equal(
    overridesFromCmdline("p2v.oa=fast p2v.output.allocation=sparse").overrides
      .outputAllocation,
    "sparse",
  );
  const r = overridesFromCmdline("p2v.o=null p2v.o=qemu p2v.output.type=local");
  assert.equal(r.overrides.outputType, "local");
  assert.ok(r.warnings.some((w) => w.includes("p2v.o is ignored because p2v.output.type")));
});

Deno.test("kernel keys: the alias is used when the canonical key is absent", () => {
  assert.equal(overridesFromCmdline("p2v.server=a p2v.server=c").overrides.server, "a");
});

Deno.test("kernel keys: unknown p2v keys warn and are ignored", () => {
  // A bare `p2v` has no `p2v.` prefix: it is not ours, so no warning.
  const r = overridesFromCmdline("p2v.servr=conv p2v.hostkeys=SHA256:abc p2v p2v.server=x");
  assert.deepEqual(r.overrides, { server: "x" });
  assert.equal(r.warnings.length, 2);
  assert.ok(r.warnings.every((w) => w.includes("unknown key")));
  assert.ok(r.warnings.some((w) => w.includes("p2v.servr")));
});

Deno.test("kernel keys: p2v.hostkey takes SHA256 fingerprints and rejects anything else", () => {
  const fp1 = "SHA256:wTtNgqLG1Vt3CFj2W35W1mE+Bk5kgVrCbTZXEyrXAr8";
  const fp2 = "SHA256:OK/vzn74wpC+E3UV1AWCtxp0tauMokdSCCBrC40HFQY";
  assert.deepEqual(overridesFromCmdline(`p2v.hostkey=${fp1},${fp2}`).overrides, {
    hostKeys: [fp1, fp2],
  });
  for (const bad of ["p2v.hostkey", "p2v.hostkey=SHA256:abc", "p2v.hostkey=MD5:aa:bb"]) {
    assert.throws(() => overridesFromCmdline(bad), /^ConfigError: p2v\.hostkey: .*SHA256/);
  }
});

Deno.test("kernel keys: p2v.identity=/path is the key's file:// URL", () => {
  assert.equal(
    overridesFromCmdline("p2v.identity=/root/.ssh/id_rsa").overrides.identityUrl,
    "file:///root/.ssh/id_rsa",
  );
});

Deno.test("kernel keys: identity.file keys are not accepted from the command line", () => {
  const r = overridesFromCmdline(
    "p2v.auth.identity.file=/tmp/id p2v.auth.identity.file_needs_update=1",
  );
  assert.deepEqual(r.overrides, {});
  assert.equal(r.warnings.length, 2);
  assert.ok(r.warnings.every((w) => w.includes("cannot be set on the kernel command line")));
});

Deno.test("kernel keys: warnings never show a password", () => {
  const r = overridesFromCmdline(
    'p2v.password=Xyzzy1 p2v.password=Xyzzy2 p2v.auth.password="Xyzzy3',
  );
  assert.equal(r.overrides.password, "Xyzzy3");
  assert.equal(r.warnings.length, 3);
  assert.ok(!r.warnings.join("\n").includes("Xyzzy"), r.warnings.join("\n"));
});

Deno.test("kernel keys: an empty or bare command means run nothing", () => {
  assert.equal(overridesFromCmdline("p2v.post=").overrides.post, "");
  assert.equal(overridesFromCmdline("p2v.post").overrides.post, "");
  assert.equal(overridesFromCmdline("p2v.pre=").overrides.pre, "");
  assert.equal(overridesFromCmdline("p2v.fail").overrides.fail, "");
  assert.equal(overridesFromCmdline("p2v.server=x").overrides.post, undefined);
});

Deno.test("kernel keys: an empty list value is an empty list, not unset", () => {
  const r = overridesFromCmdline("p2v.interfaces= p2v.disks p2v.oo=");
  assert.deepEqual(r.overrides, { interfaces: [], disks: [], outputMisc: [] });
});

Deno.test("kernel keys: flags may be turned off explicitly", () => {
  const r = overridesFromCmdline("p2v.skip_test_connection=0 p2v.dump_config_and_exit=no");
  assert.deepEqual(r.overrides, { skipTestConnection: false, dumpConfigAndExit: false });
});

Deno.test("kernel keys: empty optional strings mean unset; oa=none means unset", () => {
  const r = overridesFromCmdline("p2v.password= p2v.username= p2v.of= p2v.oc= p2v.oa=none");
  assert.equal(r.overrides.password, undefined);
  assert.equal(r.overrides.username, undefined);
  assert.equal(r.overrides.outputFormat, undefined);
  assert.equal(r.overrides.outputConnection, undefined);
  assert.equal(r.overrides.outputAllocation, undefined);
});

Deno.test("kernel keys: memory sizes", () => {
  const mem = (v: string) => overridesFromCmdline(`p2v.memory=${v}`).overrides.memory;
  assert.equal(mem("1G"), 2 ** 30);
  assert.equal(mem("1GiB"), 2 ** 30);
  assert.equal(mem("1GB"), 1e9);
  assert.equal(mem("512M"), 512 * 2 ** 20);
  assert.equal(mem("4G"), 4 * 2 ** 30);
});

/** [command line, key the message must start with, text it must contain]. */
const INVALID: [string, string, string][] = [
  ["p2v.port=abc", "p2v.port", "is not a valid port: expected a whole number from 1 to 65535"],
  ["p2v.port=0", "p2v.port", "is not a valid port"],
  ["p2v.port=70000", "p2v.port", "is not a valid port"],
  ["p2v.port=22abc", "p2v.port", "is not a valid port"],
  ["p2v.remote.port=", "p2v.remote.port", "is not a valid port"],
  ["p2v.memory=12", "p2v.memory", "has no unit"],
  ["p2v.memory=2048", "p2v.memory", "2048 is almost always meant as 2048M"],
  ["p2v.memory=lots", "p2v.memory", "is not a valid size"],
  ["p2v.memory=0G", "p2v.memory", "greater than zero"],
  ["p2v.oa=fast", "p2v.oa", "is not a valid output allocation: expected sparse, preallocated"],
  ["p2v.output.allocation=Sparse", "p2v.output.allocation", "is not a valid output allocation"],
  ["p2v.vcpu.cores=0", "p2v.vcpu.cores", "is not a valid number of vCPUs"],
  ["p2v.sudo=flase", "p2v.sudo", "is not a valid boolean"],
  ["p2v.cpu.pae=maybe", "p2v.cpu.pae", "is not a valid boolean"],
  ["p2v.skip_test_connection=please", "p2v.skip_test_connection", "is not a valid boolean"],
  ["p2v.rtc.basis=UTC", "p2v.rtc.basis", "is not a valid RTC basis"],
  ["p2v.rtc.offset=east", "p2v.rtc.offset", "is not a valid RTC offset"],
  ["p2v.network=em1:", "p2v.network", "is not a valid network map"],
  ["p2v.identity=id_rsa", "p2v.identity", "is not a valid identity URL"],
  ["p2v.identity=~/.ssh/id_rsa", "p2v.identity", "expected the absolute path of a private key"],
  ["p2v.server=", "p2v.server", "the value is empty"],
  ["p2v.server", "p2v.server", "the value is empty"],
  ["p2v.remote.server=", "p2v.remote.server", "the value is empty"],
  ["p2v.name=", "p2v.name", "the value is empty"],
  ["p2v.o=", "p2v.o", "the value is empty"],
  ["p2v.os=", "p2v.os", "the value is empty"],
];

for (const [line, key, text] of INVALID) {
  Deno.test(`kernel keys: ${line} is a one-line error naming ${key}`, () => {
    assert.throws(() => overridesFromCmdline(line), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.ok(err.message.startsWith(`${key}: `), err.message);
      assert.ok(err.message.includes(text), err.message);
      assert.ok(!err.message.includes("\n"), err.message);
      return true;
    });
  });
}
