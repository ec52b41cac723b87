import assert from "node:assert/strict";
import { resolveHost } from "./helpers/resolve_host.ts";
import { kernelLine, kernelLineText, quoteValue, sizeValue } from "../src/config/kernel_line.ts";
import { KERNEL_KEYS, overridesFromCmdline } from "../src/config/kernel_keys.ts";
import { resolveConfig, type ResolveContext } from "../src/config/resolve.ts";
import { tokeniseCmdline } from "../src/config/tokenise.ts";
import type { Config } from "../src/config/types.ts";
import { parseSize } from "../src/config/values.ts";

/** A real boot as root: the context in which `p2v.post` defaults to poweroff. */
const CTX: ResolveContext = { fromProcCmdline: true, isRoot: true, randomName: () => "r4nd0m00" };

function configFrom(cmdline: string, facts = resolveHost()): Config {
  return resolveConfig(overridesFromCmdline(cmdline).overrides, facts, CTX);
}

function detectedOn(facts = resolveHost()): Config {
  return resolveConfig({}, facts, CTX);
}

/** The line for `config`, read back by our own parser on the same machine. */
function roundTrip(
  config: Config,
  facts = resolveHost(),
): { text: string; back: Config; notes: string[] } {
  const line = kernelLine({ config, detected: detectedOn(facts) });
  const text = kernelLineText(line);
  const parsed = overridesFromCmdline(text);
  assert.deepEqual(parsed.warnings, [], `the line ${text} gives warnings`);
  return { text, back: resolveConfig(parsed.overrides, facts, CTX), notes: line.notes };
}

function withoutPassword(config: Config): Config {
  return { ...config, auth: { ...config.auth, password: undefined } };
}

Deno.test("kernel line: only the server when nothing else was changed", () => {
  const config = configFrom("p2v.server=conv.example.com");
  const { text, back, notes } = roundTrip(config);
  assert.equal(text, "p2v.server=conv.example.com");
  assert.deepEqual(back, config);
  assert.deepEqual(notes, []);
});

Deno.test("kernel line: the line starts an unattended conversion (it names the server)", () => {
  const config = configFrom("p2v.server=conv p2v.o=null");
  const { overrides } = overridesFromCmdline(kernelLineText(kernelLine({
    config,
    detected: detectedOn(),
  })));
  // main.ts converts unattended exactly when a server is set.
  assert.equal(overrides.server, "conv");
  const none = kernelLine({ config: detectedOn(), detected: detectedOn() });
  assert.deepEqual(none.words, []);
  assert.match(none.notes.join(" "), /No conversion server/);
});

Deno.test("kernel line: every setting changed from what was detected reads back the same", () => {
  const cmdline = [
    "p2v.server=conv.example.com",
    "p2v.port=2222",
    "p2v.hostkey=SHA256:uZ7mqkRoSViM2b9ntTNK4KN4tHdmb7VU3STJlWCOpXs",
    "p2v.reconnect=30",
    "p2v.channels=6",
    "p2v.bandwidth=80",
    "p2v.compress=0",
    "p2v.stage=cutover",
    "p2v.stage.dir=/srv/staging",
    "p2v.stage.keep",
    "p2v.nbd=nbdkit,builtin",
    "p2v.username=p2v",
    '"p2v.identity=/root/.ssh/id p2v"',
    "p2v.sudo",
    '"p2v.name=web 01"',
    "p2v.vcpu.phys_topo",
    "p2v.vcpu.cores=3",
    "p2v.memory=1536M",
    "p2v.cpu.vendor=AMD",
    "p2v.cpu.model=EPYC",
    "p2v.cpu.acpi=0",
    "p2v.cpu.apic=no",
    "p2v.cpu.pae",
    "p2v.rtc.basis=localtime",
    "p2v.rtc.offset=-2h",
    "p2v.disks=nvme0n1,/dev/disk/by-id/x",
    "p2v.removable=",
    "p2v.interfaces=em1",
    "p2v.network=em1:ovirtmgmt,other:net:1",
    "p2v.o=libvirt",
    "p2v.oa=preallocated",
    "p2v.oc=qemu:///system",
    "p2v.of=qcow2",
    "p2v.os=default",
    "p2v.oo=a=b,c",
    'p2v.pre="echo hello  there"',
    "p2v.post=reboot",
    "p2v.fail=",
    "p2v.skip_test_connection",
  ].join(" ");
  const config = configFrom(cmdline);
  const { text, back, notes } = roundTrip(config);
  assert.deepEqual(back, config);
  assert.deepEqual(notes, []);
  // A value with blanks is one quoted word; the double blank inside it is kept.
  assert.ok(text.includes('p2v.pre="echo hello  there"'), text);
  assert.ok(text.includes('p2v.name="web 01"'), text);
  assert.ok(text.includes("p2v.rtc.offset=-2h"), text);
  assert.ok(text.includes("p2v.cpu.acpi=0 p2v.cpu.apic=0 p2v.cpu.pae"), text);
});

Deno.test("kernel line: every key the parser knows is written when its value changes", () => {
  // One changed value per key; a key added to the parser and not to the line fails here.
  const samples: Record<string, string> = {
    "p2v.remote.server": "p2v.server=s",
    "p2v.remote.port": "p2v.port=23",
    "p2v.nbd": "p2v.nbd=nbdkit",
    "p2v.hostkey": "p2v.hostkey=SHA256:uZ7mqkRoSViM2b9ntTNK4KN4tHdmb7VU3STJlWCOpXs",
    "p2v.reconnect": "p2v.reconnect=0",
    "p2v.channels": "p2v.channels=1",
    "p2v.bandwidth": "p2v.bandwidth=100",
    "p2v.compress": "p2v.compress=0",
    "p2v.stage": "p2v.stage=precopy",
    "p2v.stage.dir": "p2v.stage.dir=/srv/s",
    "p2v.stage.keep": "p2v.stage.keep",
    "p2v.auth.username": "p2v.username=u",
    "p2v.auth.identity.url": "p2v.identity=file:///k",
    "p2v.auth.sudo": "p2v.sudo",
    "p2v.guestname": "p2v.name=g",
    "p2v.vcpu.phys_topo": "p2v.vcpu.phys_topo",
    "p2v.vcpu.cores": "p2v.vcpu.cores=1",
    "p2v.memory": "p2v.memory=1G",
    "p2v.cpu.vendor": "p2v.cpu.vendor=AMD",
    "p2v.cpu.model": "p2v.cpu.model=m",
    "p2v.cpu.acpi": "p2v.cpu.acpi=0",
    "p2v.cpu.apic": "p2v.cpu.apic=0",
    "p2v.cpu.pae": "p2v.cpu.pae",
    "p2v.rtc.basis": "p2v.rtc.basis=unknown",
    "p2v.rtc.offset": "p2v.rtc.offset=0",
    "p2v.disks": "p2v.disks=sda",
    "p2v.removable": "p2v.removable=",
    "p2v.interfaces": "p2v.interfaces=wlp2s0",
    "p2v.network_map": "p2v.network=x",
    "p2v.output.type": "p2v.o=null",
    "p2v.output.allocation": "p2v.oa=sparse",
    "p2v.output.connection": "p2v.oc=c",
    "p2v.output.format": "p2v.of=raw",
    "p2v.output.storage": "p2v.os=/s",
    "p2v.output.misc": "p2v.oo=x",
    "p2v.pre": "p2v.pre=true",
    "p2v.post": "p2v.post=",
    "p2v.fail": "p2v.fail=false",
    "p2v.skip_test_connection": "p2v.skip_test_connection",
  };
  const notWritten = ["p2v.auth.password", "p2v.dump_config_and_exit"];
  const keys = KERNEL_KEYS.map((k) => k.key).filter((k) => !notWritten.includes(k));
  assert.deepEqual(Object.keys(samples).sort(), [...keys].sort());
  for (const [key, word] of Object.entries(samples)) {
    // The sample first: of a key given twice the first one is used.
    const config = configFrom(`${word} p2v.server=base`);
    assert.notDeepEqual(config, configFrom("p2v.server=base"), `${word} changes nothing`);
    const { text, back } = roundTrip(config);
    assert.deepEqual(back, config, `${key}: ${text}`);
    const spec = KERNEL_KEYS.find((k) => k.key === key)!;
    const names = [spec.key, spec.alias];
    const written = tokeniseCmdline(text).tokens.map((t) => t.key);
    assert.ok(written.some((k) => names.includes(k)), `${key} not in ${text}`);
  }
});

Deno.test("kernel line: the password never appears, and a note says it is left out", () => {
  const secret = "s3cr3t-Pa55";
  const config = configFrom(`p2v.server=conv p2v.password=${secret} p2v.username=p2v`);
  const { text, back, notes } = roundTrip(config);
  assert.ok(!text.includes(secret), text);
  assert.ok(!text.includes("password"), text);
  assert.deepEqual(back, withoutPassword(config));
  assert.match(notes.join(" "), /password is not included/);
});

Deno.test("kernel line: an identity URL holding a password is left out, a plain one kept", () => {
  const withPassword = configFrom("p2v.server=c p2v.identity=https://u:pw%40x@keys.example/id");
  const line = kernelLine({ config: withPassword, detected: detectedOn() });
  assert.ok(!kernelLineText(line).includes("pw"), kernelLineText(line));
  assert.ok(!kernelLineText(line).includes("p2v.identity"));
  assert.match(line.notes.join(" "), /p2v\.identity is left out/);

  const plain = configFrom("p2v.server=c p2v.identity=https://u@keys.example/id");
  const { text, back } = roundTrip(plain);
  assert.ok(text.includes("p2v.identity=https://u@keys.example/id"), text);
  assert.deepEqual(back, plain);
});

Deno.test("kernel line: what was detected is left out, what the user changed is kept", () => {
  const facts = resolveHost();
  const config = configFrom("p2v.server=conv", facts);
  // As the dialog does: untick a disk, keep the rest as detected.
  config.disks = ["sda"];
  const { text, back } = roundTrip(config, facts);
  assert.equal(text, "p2v.server=conv p2v.disks=sda");
  assert.deepEqual(back, config);
  // The guest name from the hostname is not written: each machine names its own guest.
  assert.ok(!text.includes("p2v.name"));
  // Nor is a random name given to a machine without a hostname.
  const nameless = resolveHost({ hostname: undefined });
  assert.equal(
    kernelLineText(
      kernelLine({ config: configFrom("p2v.server=c", nameless), detected: detectedOn(nameless) }),
    ),
    "p2v.server=c",
  );
});

Deno.test("kernel line: a network map that sends every interface where it went anyway is left out", () => {
  const config = configFrom("p2v.server=conv");
  // What the settings screen writes: one entry per interface.
  config.networkMap = [{ iface: "em1", target: "default" }, { iface: "wlp2s0", target: "default" }];
  assert.equal(kernelLineText(kernelLine({ config, detected: detectedOn() })), "p2v.server=conv");
  config.networkMap[1].target = "lab";
  const { text, back } = roundTrip(config);
  assert.equal(text, "p2v.server=conv p2v.network=em1:default,wlp2s0:lab");
  assert.deepEqual(back, config);
});

Deno.test("kernel line: the host key the user accepted is pinned unless one is already", () => {
  const seen = "SHA256:uZ7mqkRoSViM2b9ntTNK4KN4tHdmb7VU3STJlWCOpXs";
  const other = "SHA256:AAAAqkRoSViM2b9ntTNK4KN4tHdmb7VU3STJlWCOpXs";
  const open = configFrom("p2v.server=conv");
  const pinned = kernelLineText(
    kernelLine({ config: open, detected: detectedOn(), seenHostKey: seen }),
  );
  assert.equal(overridesFromCmdline(pinned).overrides.hostKeys?.join(), seen);
  const given = configFrom(`p2v.server=conv p2v.hostkey=${other}`);
  const kept = kernelLineText(
    kernelLine({ config: given, detected: detectedOn(), seenHostKey: seen }),
  );
  assert.equal(overridesFromCmdline(kept).overrides.hostKeys?.join(), other);
});

Deno.test("kernel line: a value no kernel command line can hold becomes a note", () => {
  const config = configFrom("p2v.server=conv");
  config.pre = 'echo "quoted"';
  config.fail = "line one\nline two";
  config.disks = ["/images/a,b.img"];
  const line = kernelLine({ config, detected: detectedOn() });
  assert.equal(kernelLineText(line), "p2v.server=conv");
  assert.equal(line.notes.length, 3);
  for (const key of ["p2v.pre", "p2v.fail", "p2v.disks"]) {
    assert.ok(line.notes.some((n) => n.startsWith(`${key} is left out`)), line.notes.join("\n"));
  }
});

Deno.test("kernel line: no poweroff on this run is written as an empty p2v.post", () => {
  // Run by hand the default is nothing; on the PXE machines it would be poweroff.
  const byHand = resolveConfig({ server: "c" }, resolveHost(), { ...CTX, fromProcCmdline: false });
  const line = kernelLineText(kernelLine({ config: byHand, detected: detectedOn() }));
  assert.equal(line, "p2v.server=c p2v.post=");
  assert.equal(configFrom(line).post, "");
});

Deno.test("kernel line: quoting and sizes read back as written", () => {
  for (const value of ["plain", "two words", "", "a=b", "x:y", "  edge  "]) {
    const word = `p2v.pre=${quoteValue(value)}`;
    assert.equal(tokeniseCmdline(word).tokens[0].value, value, word);
  }
  assert.equal(quoteValue('say "hi"'), undefined);
  assert.equal(quoteValue("tab\there"), undefined);
  for (const bytes of [2 ** 30, 1536 * 2 ** 20, 4e9, 3 * 1024, 1000, 5 * 2 ** 50]) {
    const text = sizeValue(bytes);
    assert.ok(text !== undefined, String(bytes));
    assert.equal(parseSize("p2v.memory", text), bytes, text);
  }
  assert.equal(sizeValue(1536 * 2 ** 20), "1536M");
  assert.equal(sizeValue(999), undefined);
});
