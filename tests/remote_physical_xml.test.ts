import assert from "node:assert/strict";
import { create } from "xmlbuilder2";
import type { Config, NetworkMapEntry } from "../src/config/types.ts";
import {
  buildPhysicalXml,
  diskTargetDev,
  driveLetters,
  PhysicalXmlError,
  type PhysicalXmlInput,
} from "../src/remote/physical_xml.ts";
import { networkTarget } from "../src/remote/network_target.ts";
import { VERSION } from "../src/version.ts";

// --- fixtures ---------------------------------------------------------------

function makeConfig(patch: Partial<Config> = {}): Config {
  return {
    remote: { server: "conv.example.com", port: 22, hostKeys: [] },
    auth: { username: "root", sudo: false },
    guestname: "physbox",
    vcpu: { physTopo: false, cores: 4 },
    memory: 4 * 1024 * 1024 * 1024,
    cpu: { vendor: "Intel", acpi: true, apic: true, pae: true },
    rtc: { basis: "utc", offset: 0 },
    disks: ["sda"],
    removable: [],
    interfaces: [],
    networkMap: [],
    output: { type: "local", storage: "/var/tmp", misc: [] },
    skipTestConnection: false,
    dumpConfigAndExit: false,
    nbd: ["builtin"],
    reconnectSeconds: 600,
    channels: 0,
    bandwidthMbit: 0,
    compress: true,
    stage: { step: "none", dir: undefined, keep: false },
    ...patch,
  };
}

function makeInput(patch: Partial<PhysicalXmlInput> = {}): PhysicalXmlInput {
  return {
    config: makeConfig(),
    arch: "x86_64",
    hostTopology: { sockets: 2, cores: 4, threads: 2 },
    disks: [{ name: "sda", remotePort: 40001 }],
    macs: {},
    ...patch,
  };
}

// A minimal view of the DOM that xmlbuilder2's parser returns.
interface El {
  tagName: string;
  textContent: string | null;
  nodeType: number;
  childNodes: ArrayLike<El>;
  getAttribute(name: string): string | null;
  hasAttribute(name: string): boolean;
  getAttributeNames(): string[];
  getElementsByTagName(name: string): ArrayLike<El>;
}
interface Doc {
  documentElement: El;
  childNodes: ArrayLike<{ nodeType: number; nodeValue: string | null }>;
  getElementsByTagName(name: string): ArrayLike<El>;
}

function parse(xml: string): Doc {
  return create(xml).node as unknown as Doc;
}

function all(doc: Doc | El, tag: string): El[] {
  return Array.from(doc.getElementsByTagName(tag));
}

function one(doc: Doc | El, tag: string): El {
  const found = all(doc, tag);
  assert.equal(found.length, 1, `expected exactly one <${tag}>`);
  return found[0];
}

function attrs(el: El): Record<string, string> {
  return Object.fromEntries(el.getAttributeNames().map((n) => [n, el.getAttribute(n) ?? ""]));
}

// Child elements (the parser's `children` also lists deeper descendants).
function childElements(el: El): El[] {
  return Array.from(el.childNodes).filter((n) => n.nodeType === 1);
}

function childTags(el: El): string[] {
  return childElements(el).map((c) => c.tagName);
}

// --- the full text ------------------------------------------------------------

Deno.test("physical.xml: full document, exact text", () => {
  const xml = buildPhysicalXml({
    config: makeConfig({
      guestname: "physbox",
      memory: 4 * 1024 * 1024 * 1024,
      vcpu: { physTopo: false, cores: 4 },
      cpu: { vendor: "Intel", model: "Haswell", acpi: true, apic: true, pae: false },
      rtc: { basis: "utc", offset: 3600 },
      disks: ["sda", "nvme0n1", "/var/tmp/disk.img"],
      removable: ["sr0"],
      interfaces: ["em1", "eth0"],
      networkMap: [{ target: "other" }, { iface: "em1", target: "x" }],
    }),
    arch: "x86_64",
    hostTopology: { sockets: 2, cores: 8, threads: 2 },
    disks: [
      { name: "sda", remotePort: 40001 },
      { name: "nvme0n1", remotePort: 40002 },
      { name: "/var/tmp/disk.img", remotePort: 40003 },
    ],
    macs: { em1: "52:54:00:12:34:56" },
  });

  const expected = `<?xml version="1.0"?>
<!-- virt-p2v ${VERSION} -->
<!-- NOTE!

  virt-p2v writes this file only to tell virt-v2v on the conversion
  server what the physical machine looks like.  It is a minimal
  description of that machine, not a real libvirt guest definition.
  virt-v2v produces the real output (libvirt XML or other metadata)
  itself, and that has little in common with this file.

  Do not try to load this XML into libvirt. -->
<domain type="physical">
  <name>physbox</name>
  <memory unit="KiB">4194304</memory>
  <currentMemory unit="KiB">4194304</currentMemory>
  <vcpu>4</vcpu>
  <cpu match="minimum">
    <vendor>Intel</vendor>
    <model fallback="allow">Haswell</model>
    <topology sockets="1" cores="4" threads="1"/>
  </cpu>
  <clock offset="variable" basis="utc" adjustment="3600"/>
  <os>
    <type arch="x86_64">hvm</type>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <devices>
    <disk type="network" device="disk">
      <driver name="qemu" type="raw"/>
      <source protocol="nbd">
        <host name="localhost" port="40001"/>
      </source>
      <target dev="sda"/>
    </disk>
    <disk type="network" device="disk">
      <driver name="qemu" type="raw"/>
      <source protocol="nbd">
        <host name="localhost" port="40002"/>
      </source>
      <target dev="nvme0n1"/>
    </disk>
    <disk type="network" device="disk">
      <driver name="qemu" type="raw"/>
      <source protocol="nbd">
        <host name="localhost" port="40003"/>
      </source>
      <target dev="sdc"/>
    </disk>
    <disk type="network" device="cdrom">
      <driver name="qemu" type="raw"/>
      <target dev="sr0"/>
    </disk>
    <interface type="network">
      <source network="other"/>
      <target dev="em1"/>
      <mac address="52:54:00:12:34:56"/>
    </interface>
    <interface type="network">
      <source network="other"/>
      <target dev="eth0"/>
    </interface>
  </devices>
</domain>
`;
  assert.equal(xml, expected);
});

Deno.test("physical.xml: declaration and both comments come before the root element", () => {
  const xml = buildPhysicalXml(makeInput());
  assert.ok(xml.startsWith('<?xml version="1.0"?>\n<!-- virt-p2v '));
  const doc = parse(xml);
  const top = Array.from(doc.childNodes);
  assert.deepEqual(top.map((n) => n.nodeType), [8, 8, 1]); // comment, comment, element
  assert.equal(top[0].nodeValue, ` virt-p2v ${VERSION} `);
  assert.match(top[1].nodeValue ?? "", /minimal\s+description/);
  assert.match(top[1].nodeValue ?? "", /not.*load.*libvirt/is);
  assert.equal(doc.documentElement.tagName, "domain");
  assert.deepEqual(attrs(doc.documentElement), { type: "physical" });
  assert.deepEqual(childTags(doc.documentElement), [
    "name",
    "memory",
    "currentMemory",
    "vcpu",
    "cpu",
    "clock",
    "os",
    "features",
    "devices",
  ]);
  assert.ok(xml.endsWith("</domain>\n"));
});

// --- disks ----------------------------------------------------------------------

Deno.test("physical.xml: no disks gives an empty <devices/>", () => {
  const xml = buildPhysicalXml(makeInput({ disks: [] }));
  assert.match(xml, /\n {2}<devices\/>\n/);
  assert.equal(all(parse(xml), "disk").length, 0);
});

Deno.test("physical.xml: one disk given as an absolute path is sda", () => {
  const doc = parse(
    buildPhysicalXml(makeInput({ disks: [{ name: "/dev/mapper/x", remotePort: 1 }] })),
  );
  const disk = one(doc, "disk");
  assert.deepEqual(attrs(disk), { type: "network", device: "disk" });
  assert.deepEqual(childTags(disk), ["driver", "source", "target"]);
  assert.deepEqual(attrs(one(disk, "driver")), { name: "qemu", type: "raw" });
  assert.deepEqual(attrs(one(disk, "source")), { protocol: "nbd" });
  assert.deepEqual(attrs(one(disk, "host")), { name: "localhost", port: "1" });
  assert.deepEqual(attrs(one(disk, "target")), { dev: "sda" });
});

Deno.test("physical.xml: three disks keep their order, ports and names; a path is named by index", () => {
  const doc = parse(buildPhysicalXml(makeInput({
    disks: [
      { name: "sda", remotePort: 50000 },
      { name: "/x.img", remotePort: 50001 },
      { name: "cciss/c0d0", remotePort: 65535 },
    ],
  })));
  const disks = all(doc, "disk");
  assert.deepEqual(disks.map((d) => one(d, "target").getAttribute("dev")), [
    "sda",
    "sdb",
    "cciss/c0d0",
  ]);
  assert.deepEqual(disks.map((d) => one(d, "host").getAttribute("port")), [
    "50000",
    "50001",
    "65535",
  ]);
});

Deno.test("physical.xml: drive letters go past z like the kernel's", () => {
  assert.equal(driveLetters(0), "a");
  assert.equal(driveLetters(1), "b");
  assert.equal(driveLetters(25), "z");
  assert.equal(driveLetters(26), "aa");
  assert.equal(driveLetters(27), "ab");
  assert.equal(driveLetters(51), "az");
  assert.equal(driveLetters(52), "ba");
  assert.equal(driveLetters(701), "zz");
  assert.equal(driveLetters(702), "aaa");
  assert.equal(diskTargetDev("/images/a.img", 26), "sdaa");
  assert.equal(diskTargetDev("vdb", 26), "vdb");
  assert.throws(() => driveLetters(-1), RangeError);

  const disks = Array.from({ length: 28 }, (_, i) => ({ name: `/img${i}`, remotePort: 1000 + i }));
  const devs = all(parse(buildPhysicalXml(makeInput({ disks }))), "target")
    .map((t) => t.getAttribute("dev"));
  assert.equal(devs[0], "sda");
  assert.equal(devs[25], "sdz");
  assert.equal(devs[26], "sdaa");
  assert.equal(devs[27], "sdab");
});

Deno.test("physical.xml: invalid NBD ports are refused", () => {
  for (const remotePort of [0, 65536, 1.5, NaN]) {
    assert.throws(
      () => buildPhysicalXml(makeInput({ disks: [{ name: "sda", remotePort }] })),
      PhysicalXmlError,
    );
  }
});

// --- removable drives -------------------------------------------------------------

Deno.test("physical.xml: removable drives are cdroms with a driver, a target and no source", () => {
  const doc = parse(buildPhysicalXml(makeInput({
    config: makeConfig({ removable: ["sr0", "", "sr1"] }),
  })));
  const disks = all(doc, "disk");
  assert.equal(disks.length, 3);
  assert.equal(disks[0].getAttribute("device"), "disk");
  const cdroms = disks.filter((d) => d.getAttribute("device") === "cdrom");
  assert.equal(cdroms.length, 2, "the empty list item is skipped");
  for (const [i, cd] of cdroms.entries()) {
    assert.deepEqual(attrs(cd), { type: "network", device: "cdrom" });
    assert.deepEqual(childTags(cd), ["driver", "target"]);
    assert.deepEqual(attrs(one(cd, "driver")), { name: "qemu", type: "raw" });
    assert.equal(one(cd, "target").getAttribute("dev"), `sr${i}`);
  }
  // Disks come first, then cdroms.
  assert.deepEqual(disks.map((d) => d.getAttribute("device")), ["disk", "cdrom", "cdrom"]);
});

// --- interfaces and the network map ---------------------------------------------

function interfaces(input: PhysicalXmlInput): { dev: string; network: string; mac?: string }[] {
  const doc = parse(buildPhysicalXml(input));
  return all(doc, "interface").map((el) => {
    assert.deepEqual(attrs(el), { type: "network" });
    const macs = all(el, "mac");
    assert.deepEqual(
      childTags(el),
      macs.length ? ["source", "target", "mac"] : ["source", "target"],
    );
    const out: { dev: string; network: string; mac?: string } = {
      dev: one(el, "target").getAttribute("dev") ?? "",
      network: one(el, "source").getAttribute("network") ?? "",
    };
    if (macs.length) out.mac = macs[0].getAttribute("address") ?? "";
    return out;
  });
}

function withNet(
  ifaces: string[],
  networkMap: NetworkMapEntry[],
  macs: Record<string, string | undefined> = {},
) {
  return makeInput({ config: makeConfig({ interfaces: ifaces, networkMap }), macs });
}

Deno.test("physical.xml: interfaces with and without a MAC address", () => {
  assert.deepEqual(
    interfaces(withNet(["em1", "eth0", "wlp2s0"], [], {
      em1: "aa:bb:cc:dd:ee:ff",
      eth0: undefined,
      wlp2s0: "",
    })),
    [
      { dev: "em1", network: "default", mac: "aa:bb:cc:dd:ee:ff" },
      { dev: "eth0", network: "default" },
      { dev: "wlp2s0", network: "default" },
    ],
  );
});

Deno.test("physical.xml: MAC lookup ignores inherited object properties", () => {
  assert.deepEqual(interfaces(withNet(["constructor", "__proto__", "toString"], [])), [
    { dev: "constructor", network: "default" },
    { dev: "__proto__", network: "default" },
    { dev: "toString", network: "default" },
  ]);
});

Deno.test("physical.xml: network map `other,em1:x` sends em1 to other", () => {
  assert.deepEqual(
    interfaces(withNet(["em1", "eth0"], [{ target: "other" }, { iface: "em1", target: "x" }])),
    [{ dev: "em1", network: "other" }, { dev: "eth0", network: "other" }],
  );
});

Deno.test("physical.xml: network map `eth0:br0,default2`", () => {
  assert.deepEqual(
    interfaces(
      withNet(["em1", "eth0"], [{ iface: "eth0", target: "br0" }, { target: "default2" }]),
    ),
    [{ dev: "em1", network: "default2" }, { dev: "eth0", network: "br0" }],
  );
});

Deno.test("physical.xml: interfaces without a map entry use default", () => {
  assert.deepEqual(
    interfaces(withNet(["em1", "eth0"], [{ iface: "em1", target: "x" }])),
    [{ dev: "em1", network: "x" }, { dev: "eth0", network: "default" }],
  );
  assert.deepEqual(interfaces(withNet([], [{ target: "x" }])), []);
});

Deno.test("networkTarget: first matching entry wins, else default", () => {
  assert.equal(networkTarget([], "eth0"), "default");
  assert.equal(networkTarget([{ target: "other" }, { iface: "em1", target: "x" }], "em1"), "other");
  assert.equal(networkTarget([{ iface: "em1", target: "x" }, { target: "other" }], "em1"), "x");
  assert.equal(networkTarget([{ iface: "em1", target: "x" }, { target: "other" }], "em2"), "other");
  assert.equal(
    networkTarget([{ iface: "em1", target: "x" }, { iface: "em1", target: "y" }], "em1"),
    "x",
  );
  // An interface name is matched exactly, never as a prefix.
  assert.equal(networkTarget([{ iface: "em1", target: "x" }], "em10"), "default");
  assert.equal(networkTarget([{ iface: "em10", target: "x" }], "em1"), "default");
});

// --- clock ------------------------------------------------------------------------

function clockOf(rtc: Config["rtc"]): Record<string, string> | undefined {
  const doc = parse(buildPhysicalXml(makeInput({ config: makeConfig({ rtc }) })));
  const clocks = all(doc, "clock");
  assert.ok(clocks.length <= 1);
  if (clocks.length === 0) return undefined;
  assert.deepEqual(childTags(clocks[0]), []);
  return attrs(clocks[0]);
}

Deno.test("physical.xml: clock for every RTC basis and offset", () => {
  assert.equal(clockOf({ basis: "unknown", offset: 0 }), undefined);
  assert.equal(clockOf({ basis: "unknown", offset: 3600 }), undefined);
  assert.deepEqual(clockOf({ basis: "utc", offset: 0 }), { offset: "utc" });
  assert.deepEqual(clockOf({ basis: "utc", offset: 3600 }), {
    offset: "variable",
    basis: "utc",
    adjustment: "3600",
  });
  assert.deepEqual(clockOf({ basis: "utc", offset: -19800 }), {
    offset: "variable",
    basis: "utc",
    adjustment: "-19800",
  });
  assert.deepEqual(clockOf({ basis: "localtime", offset: 0 }), { offset: "localtime" });
  // The offset is not used for a local-time clock.
  assert.deepEqual(clockOf({ basis: "localtime", offset: 7200 }), { offset: "localtime" });
});

Deno.test("physical.xml: exact clock element text", () => {
  const xml = (rtc: Config["rtc"]) => buildPhysicalXml(makeInput({ config: makeConfig({ rtc }) }));
  assert.ok(xml({ basis: "utc", offset: 0 }).includes('\n  <clock offset="utc"/>\n'));
  assert.ok(
    xml({ basis: "utc", offset: -3600 }).includes(
      '\n  <clock offset="variable" basis="utc" adjustment="-3600"/>\n',
    ),
  );
  assert.ok(xml({ basis: "localtime", offset: 0 }).includes('\n  <clock offset="localtime"/>\n'));
  assert.ok(!xml({ basis: "unknown", offset: 0 }).includes("<clock"));
});

// --- CPU ---------------------------------------------------------------------------

function cpuOf(input: PhysicalXmlInput) {
  const doc = parse(buildPhysicalXml(input));
  const cpu = one(doc, "cpu");
  return {
    vcpu: one(doc, "vcpu").textContent,
    cpuAttrs: attrs(cpu),
    children: childTags(cpu),
    topology: attrs(one(cpu, "topology")),
    vendor: all(cpu, "vendor")[0]?.textContent,
    model: all(cpu, "model")[0],
  };
}

Deno.test("physical.xml: without phys_topo, 1 socket x cores x 1 thread", () => {
  const c = cpuOf(makeInput({
    config: makeConfig({ vcpu: { physTopo: false, cores: 6 } }),
    hostTopology: { sockets: 2, cores: 8, threads: 2 },
  }));
  assert.equal(c.vcpu, "6");
  assert.deepEqual(c.cpuAttrs, { match: "minimum" });
  assert.deepEqual(c.topology, { sockets: "1", cores: "6", threads: "1" });
});

Deno.test("physical.xml: with phys_topo, the host's topology", () => {
  const c = cpuOf(makeInput({
    config: makeConfig({ vcpu: { physTopo: true, cores: 6 } }),
    hostTopology: { sockets: 2, cores: 8, threads: 2 },
  }));
  assert.equal(c.vcpu, "32");
  assert.deepEqual(c.topology, { sockets: "2", cores: "8", threads: "2" });
});

Deno.test("physical.xml: impossible CPU counts are refused", () => {
  assert.throws(
    () =>
      buildPhysicalXml(makeInput({ config: makeConfig({ vcpu: { physTopo: false, cores: 0 } }) })),
    PhysicalXmlError,
  );
  assert.throws(
    () =>
      buildPhysicalXml(makeInput({
        config: makeConfig({ vcpu: { physTopo: true, cores: 1 } }),
        hostTopology: { sockets: 1, cores: 2.5, threads: 1 },
      })),
    PhysicalXmlError,
  );
});

Deno.test("physical.xml: vendor and model each present or absent", () => {
  const cpu = (vendor?: string, model?: string) =>
    cpuOf(
      makeInput({
        config: makeConfig({ cpu: { vendor, model, acpi: true, apic: true, pae: true } }),
      }),
    );

  let c = cpu(undefined, undefined);
  assert.deepEqual(c.children, ["topology"]);

  c = cpu("AMD", undefined);
  assert.deepEqual(c.children, ["vendor", "topology"]);
  assert.equal(c.vendor, "AMD");

  c = cpu(undefined, "Skylake-Client");
  assert.deepEqual(c.children, ["model", "topology"]);
  assert.equal(c.model.textContent, "Skylake-Client");
  assert.deepEqual(attrs(c.model), { fallback: "allow" });

  c = cpu("Intel", "Westmere");
  assert.deepEqual(c.children, ["vendor", "model", "topology"]);
});

// --- features, memory, os ----------------------------------------------------------

Deno.test("physical.xml: features list exactly the enabled flags", () => {
  const features = (acpi: boolean, apic: boolean, pae: boolean) => {
    const xml = buildPhysicalXml(makeInput({ config: makeConfig({ cpu: { acpi, apic, pae } }) }));
    return { xml, tags: childTags(one(parse(xml), "features")) };
  };
  assert.deepEqual(features(true, true, true).tags, ["acpi", "apic", "pae"]);
  assert.deepEqual(features(false, true, false).tags, ["apic"]);
  assert.deepEqual(features(true, false, true).tags, ["acpi", "pae"]);
  const none = features(false, false, false);
  assert.deepEqual(none.tags, []);
  assert.ok(none.xml.includes("\n  <features/>\n"));
  for (const el of childElements(one(parse(features(true, true, true).xml), "features"))) {
    assert.deepEqual(el.getAttributeNames(), []);
    assert.equal(el.textContent, "");
  }
});

Deno.test("physical.xml: memory in KiB, rounded down", () => {
  const mem = (memory: number) => {
    const doc = parse(buildPhysicalXml(makeInput({ config: makeConfig({ memory }) })));
    return [one(doc, "memory"), one(doc, "currentMemory")].map((
      e,
    ) => [attrs(e).unit, e.textContent]);
  };
  assert.deepEqual(mem(2 * 1024 ** 3), [["KiB", "2097152"], ["KiB", "2097152"]]);
  assert.deepEqual(mem(1536), [["KiB", "1"], ["KiB", "1"]]);
  assert.deepEqual(mem(64 * 1024 ** 4), [["KiB", String(64 * 1024 ** 3)], [
    "KiB",
    String(64 * 1024 ** 3),
  ]]);
});

Deno.test("physical.xml: os type carries the host architecture", () => {
  const doc = parse(buildPhysicalXml(makeInput({ arch: "aarch64" })));
  const type = one(one(doc, "os"), "type");
  assert.deepEqual(attrs(type), { arch: "aarch64" });
  assert.equal(type.textContent, "hvm");
});

// --- escaping ---------------------------------------------------------------------------

Deno.test("physical.xml: special characters are escaped in text and attributes", () => {
  const nasty = `<&"'>`;
  const xml = buildPhysicalXml(makeInput({
    config: makeConfig({
      guestname: nasty,
      cpu: { vendor: `A&B`, model: `<m>"`, acpi: false, apic: false, pae: false },
      interfaces: ["eth0"],
      networkMap: [{ target: `net"<&'>` }],
    }),
    macs: { eth0: `"><x/>` },
  }));
  assert.ok(xml.includes("<name>&lt;&amp;\"'&gt;</name>"));
  assert.ok(xml.includes('<source network="net&quot;&lt;&amp;\'&gt;"/>'));
  assert.ok(!xml.includes("<x/>"));
  const doc = parse(xml);
  assert.equal(one(doc, "name").textContent, nasty);
  assert.equal(one(doc, "vendor").textContent, "A&B");
  assert.equal(one(doc, "model").textContent, `<m>"`);
  assert.equal(all(doc, "source").at(-1)?.getAttribute("network"), `net"<&'>`);
  assert.equal(one(doc, "mac").getAttribute("address"), `"><x/>`);
  // Non-ASCII text is kept as it is.
  const utf = parse(
    buildPhysicalXml(makeInput({ config: makeConfig({ guestname: "Zürich-😀" }) })),
  );
  assert.equal(one(utf, "name").textContent, "Zürich-😀");
});

Deno.test("physical.xml: characters XML cannot carry are refused with a clear error", () => {
  const build = (patch: Partial<Config>, macs: Record<string, string> = {}) => () =>
    buildPhysicalXml(makeInput({ config: makeConfig(patch), macs }));
  assert.throws(build({ guestname: "a\x01b" }), /guest name contains a character/);
  assert.throws(build({ guestname: "a\rb" }), PhysicalXmlError);
  assert.throws(build({ guestname: "a\ud800b" }), PhysicalXmlError);
  assert.throws(
    build({ interfaces: ["eth0"], networkMap: [{ target: "a\nb" }] }),
    /network of interface eth0/,
  );
  assert.throws(build({ interfaces: ["eth0"] }, { eth0: "aa\tbb" }), /MAC address/);
  // Newlines and tabs are fine in element text.
  const doc = parse(buildPhysicalXml(makeInput({ config: makeConfig({ guestname: "a\tb" }) })));
  assert.equal(one(doc, "name").textContent, "a\tb");
});

Deno.test("physical.xml: firmware in libvirt's auto-selection form, Secure Boot as a feature", () => {
  const none = parse(buildPhysicalXml(makeInput()));
  assert.deepEqual(attrs(one(none, "os")), {});
  assert.equal(all(none, "firmware").length, 0);

  const bios = parse(buildPhysicalXml(makeInput({ firmware: { type: "bios" } })));
  assert.deepEqual(attrs(one(bios, "os")), { firmware: "bios" });
  assert.equal(all(bios, "firmware").length, 0);

  for (const on of [true, false]) {
    const doc = parse(buildPhysicalXml(makeInput({ firmware: { type: "efi", secureBoot: on } })));
    const os = one(doc, "os");
    assert.deepEqual(attrs(os), { firmware: "efi" });
    const feature = one(one(os, "firmware"), "feature");
    assert.deepEqual(attrs(feature), { enabled: on ? "yes" : "no", name: "secure-boot" });
  }
});
