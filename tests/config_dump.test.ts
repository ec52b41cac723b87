import assert from "node:assert/strict";
import type { HostFacts } from "../src/collect/types.ts";
import { dumpConfig } from "../src/config/dump.ts";
import { overridesFromCmdline } from "../src/config/kernel_keys.ts";
import { resolveConfig } from "../src/config/resolve.ts";
import type { Config } from "../src/config/types.ts";
import { VERSION } from "../src/version.ts";

const FULL: Config = {
  remote: { server: "conv.example.com", port: 2222, hostKeys: [] },
  auth: {
    username: "bob",
    password: "hunter2",
    identityUrl: "https://keys.example.com/id",
    sudo: true,
  },
  guestname: "web01",
  vcpu: { physTopo: true, cores: 4 },
  memory: 4294967296,
  cpu: { vendor: "Intel", model: "IvyBridge", acpi: true, apic: false, pae: true },
  rtc: { basis: "utc", offset: 7200, offsetText: "+2h" },
  disks: ["sda", "/var/tmp/x.img"],
  removable: ["sr0", "sr1"],
  interfaces: ["em1", "wlp2s0"],
  networkMap: [{ iface: "em1", target: "wired" }, { target: "other" }],
  output: {
    type: "libvirt",
    allocation: "preallocated",
    connection: "qemu:///system",
    format: "qcow2",
    storage: "default",
    misc: ["a=1", "b=2"],
  },
  pre: "echo pre",
  post: "reboot",
  fail: "echo fail",
  skipTestConnection: true,
  dumpConfigAndExit: true,
  nbd: ["builtin", "qemu-nbd"],
  reconnectSeconds: 600,
  channels: 0,
  bandwidthMbit: 0,
  compress: true,
  stage: { step: "none", dir: undefined, keep: false },
};

Deno.test("dump: a full configuration, password masked", () => {
  assert.equal(VERSION, "2.0.0");
  assert.equal(
    dumpConfig(FULL),
    `local version        2.0.0
remote version       unknown
remote.server        conv.example.com
remote.port          2222
auth.username        bob
auth.password        ***
auth.identity.url    https://keys.example.com/id
auth.sudo            true
guestname            web01
vcpu.phys_topo       true
vcpu.cores           4
memory               4294967296
cpu.vendor           Intel
cpu.model            IvyBridge
cpu.acpi             true
cpu.apic             false
cpu.pae              true
rtc.basis            utc
rtc.offset           7200
disks                sda /var/tmp/x.img
removable            sr0 sr1
interfaces           em1 wlp2s0
network_map          em1:wired other
output.type          libvirt
output.allocation    preallocated
output.connection    qemu:///system
output.format        qcow2
output.storage       default
output.misc          a=1 b=2
remote.hostkey       (none)
nbd                  builtin qemu-nbd
reconnect            600
channels             auto
bandwidth            unlimited
compress             yes
stage                none
stage.dir            (none)
stage.keep           no
`,
  );
});

Deno.test("dump: unset values, before any test connection", () => {
  const minimal: Config = {
    ...FULL,
    remote: { server: undefined, port: 22, hostKeys: [] },
    auth: { sudo: false },
    vcpu: { physTopo: false, cores: 1 },
    cpu: { acpi: false, apic: false, pae: false },
    rtc: { basis: "unknown", offset: 0 },
    disks: [],
    removable: [],
    interfaces: [],
    networkMap: [],
    output: { type: "local", storage: "/var/tmp", misc: [] },
  };
  assert.equal(
    dumpConfig(minimal),
    `local version        2.0.0
remote version       unknown
remote.server        (none)
remote.port          22
auth.username        (none)
auth.password        (none)
auth.identity.url    (none)
auth.sudo            false
guestname            web01
vcpu.phys_topo       false
vcpu.cores           1
memory               4294967296
cpu.vendor           (none)
cpu.model            (none)
cpu.acpi             false
cpu.apic             false
cpu.pae              false
rtc.basis            unknown
rtc.offset           0
disks                (none)
removable            (none)
interfaces           (none)
network_map          (none)
output.type          local
output.allocation    none
output.connection    (none)
output.format        (none)
output.storage       /var/tmp
output.misc          (none)
remote.hostkey       (none)
nbd                  builtin qemu-nbd
reconnect            600
channels             auto
bandwidth            unlimited
compress             yes
stage                none
stage.dir            (none)
stage.keep           no
`,
  );
});

Deno.test("dump: an empty password still shows as set, never in clear", () => {
  const text = dumpConfig({ ...FULL, auth: { ...FULL.auth, password: "" } });
  assert.match(text, /^auth\.password {8}\*\*\*$/m);
  assert.ok(!dumpConfig(FULL).includes("hunter2"));
});

Deno.test("dump: empty list items stay visible as double spaces", () => {
  const text = dumpConfig({ ...FULL, disks: ["sda", "", "sdb"] });
  assert.match(text, /^disks {16}sda {2}sdb$/m);
});

const HOST: HostFacts = {
  disks: [{ name: "vda", sizeBytes: 1e10 }],
  removable: [],
  interfaces: [{ name: "ens3" }],
  cpu: {
    vendor: "AMD",
    acpi: true,
    apic: true,
    pae: true,
    topology: { sockets: 1, cores: 2, threads: 1 },
    onlineCpus: 2,
  },
  memory: 2 ** 31,
  rtc: { basis: "localtime", offset: 0 },
  hostname: "box",
  arch: "x86_64",
};

Deno.test("dump: what the original's own command-line test greps for", () => {
  const { overrides } = overridesFromCmdline(
    "p2v.server=localhost p2v.port=123 p2v.username=user p2v.password=secret " +
      "p2v.skip_test_connection p2v.name=test p2v.vcpu.cores=4 p2v.memory=1G " +
      "p2v.disks=sda,sdb,sdc p2v.removable=sdd p2v.interfaces=eth0,eth1 p2v.o=local " +
      "p2v.oa=sparse p2v.oc=qemu:///session p2v.of=raw p2v.os=/var/tmp " +
      "p2v.oo=opt1=val1,opt2=val2 p2v.network=em1:wired,other p2v.dump_config_and_exit",
  );
  const out = dumpConfig(resolveConfig(overrides, HOST, { fromProcCmdline: false, isRoot: true }));
  for (
    const re of [
      /^remote\.server.*localhost/m,
      /^remote\.port.*123/m,
      /^auth\.username.*user/m,
      /^auth\.sudo.*false/m,
      /^guestname.*test/m,
      /^vcpu.phys_topo.*false/m,
      /^vcpu.cores.*4/m,
      new RegExp(`^memory.*${1024 * 1024 * 1024}`, "m"),
      /^disks.*sda sdb sdc/m,
      /^removable.*sdd/m,
      /^interfaces.*eth0 eth1/m,
      /^network_map.*em1:wired other/m,
      /^output\.type.*local/m,
      /^output\.allocation.*sparse/m,
      /^output\.connection.*qemu:\/\/\/session/m,
      /^output\.format.*raw/m,
      /^output\.storage.*\/var\/tmp/m,
      /^output\.misc.*opt1=val1 opt2=val2/m,
    ]
  ) {
    assert.match(out, re);
  }
  assert.ok(!out.includes("secret"));
  assert.match(out, /^cpu\.vendor {11}AMD$/m);
  assert.match(out, /^rtc\.basis {12}localtime$/m);
});

Deno.test("dump: rtc.offset prints the parsed number of seconds", () => {
  const { overrides } = overridesFromCmdline("p2v.rtc.offset=-1h p2v.rtc.basis=utc");
  const out = dumpConfig(resolveConfig(overrides, HOST, { fromProcCmdline: false, isRoot: false }));
  assert.match(out, /^rtc\.offset {11}-3600$/m);
});

Deno.test("dump: a password inside the identity URL is masked, the rest of the URL kept", () => {
  const text = dumpConfig({
    ...FULL,
    auth: { ...FULL.auth, identityUrl: "https://keyuser:s3cr3t@keys.example.com/id" },
  });
  assert.match(text, /^auth\.identity\.url {4}https:\/\/keyuser:\*\*\*@keys\.example\.com\/id$/m);
  assert.ok(!text.includes("s3cr3t"));
});
