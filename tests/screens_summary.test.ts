/**
 * The summary shown before a conversion: what its rows say for a given
 * configuration and machine, how they are laid out at 80 columns (nothing
 * cut, nothing from the server printed raw), and the keys of its screen.
 * `P2V_SHOW_SCREENS=1` prints the frames.
 */
import assert from "node:assert/strict";
import { conversionSummary, serverAddress } from "../src/report/conversion_summary.ts";
import type { ConversionSummary } from "../src/report/conversion_summary.ts";
import type { Key } from "../src/screens/keys.ts";
import { type SummaryResult, SummaryScreen } from "../src/screens/summary.ts";
import { summaryLines } from "../src/screens/summary_lines.ts";
import type { LaidOutFrame } from "../src/screens/page_layout.ts";
import type { Size } from "../src/screens/terminal.ts";
import { lineText, lineWidth } from "../src/screens/text.ts";
import type { ViewContext } from "../src/screens/ui.ts";
import { assertTerminalSafe, HOSTILE } from "./helpers/hostile_text.ts";
import { sampleConfig, sampleFacts, sampleModel } from "./helpers/screens_fixtures.ts";

const SIZE: Size = { width: 80, height: 24 };
const GiB = 2 ** 30;

/** The sample machine, tested against a server, every output option given. */
function tested(): ConversionSummary {
  const m = sampleModel();
  const c = m.config;
  c.remote.server = "conv.example.com";
  c.remote.port = 2222;
  c.auth.username = "p2v";
  c.auth.sudo = true;
  c.guestname = "fileserver";
  c.vcpu = { physTopo: false, cores: 4 };
  c.memory = 8 * GiB;
  c.disks = ["sda", "nvme0n1"];
  c.removable = ["sr0"];
  c.interfaces = ["eno1", "wlp3s0"];
  c.networkMap = [{ iface: "eno1", target: "lan" }, { target: "default" }];
  c.output = {
    type: "libvirt",
    storage: "images",
    connection: "qemu+ssh://admin:s3cret@kvm1/system",
    format: "qcow2",
    allocation: "sparse",
    misc: ["compressed", "json.disks-pattern=x"],
  };
  return conversionSummary({
    config: c,
    facts: m.facts,
    capabilities: { version: "2.2.0", coloursOption: true, inputs: [], outputs: ["libvirt"] },
    hostKey: "SHA256:CSRksaBx78Y3t4x/dedw+3Ellp+c0erW6zWclfEQ/tI",
  });
}

/** `Title: label=value|detail, ...` per section: the content without the layout. */
function flat(s: ConversionSummary): string[] {
  return s.sections.map((sec) =>
    `${sec.title}: ` +
    (sec.rows.length === 0
      ? `(${sec.empty})`
      : sec.rows.map((r) => `${r.label}=${r.value}${r.detail ? `|${r.detail}` : ""}`).join(", "))
  );
}

function show(name: string, frame: LaidOutFrame): void {
  if (!Deno.env.get("P2V_SHOW_SCREENS")) return;
  const bar = "+" + "-".repeat(SIZE.width) + "+";
  console.log(`\n${name}\n${bar}`);
  for (const l of frame.lines) console.log("|" + lineText(l).padEnd(SIZE.width) + "|");
  console.log(bar);
}

/** A view context that records how the screen finished. */
function recorder(): { ctx: ViewContext<SummaryResult>; results: SummaryResult[] } {
  const results: SummaryResult[] = [];
  return { ctx: { invalidate() {}, finish: (r) => results.push(r), now: () => 0 }, results };
}

function press(screen: SummaryScreen, ctx: ViewContext<SummaryResult>, ...keys: Key[]): void {
  for (const k of keys) {
    screen.layout(SIZE);
    screen.key(k, ctx);
  }
}

Deno.test("summary: the server, guest, output, disks, media and interfaces as set", () => {
  assert.deepEqual(flat(tested()), [
    "Conversion server: Server=p2v@conv.example.com:2222, virt-v2v=2.2.0, " +
    "Host key=SHA256:CSRksaBx78Y3t4x/dedw+3Ellp+c0erW6zWclfEQ/tI, " +
    "Log in=with the key file:///root/.ssh/id_p2v; virt-v2v runs through sudo",
    "Target guest: Name=fileserver, vCPUs=4, Memory=8.0 GiB",
    // The password in -oc is masked, like the identity URL's in a dump.
    "virt-v2v output: -o=libvirt, -os=images, -oc=qemu+ssh://admin:***@kvm1/system, " +
    "-of=qcow2, -oa=sparse, -oo=compressed, -oo=json.disks-pattern=x",
    "Fixed disks (2 disks, 1.3 TiB in all): sda=256.0 GiB|Samsung SSD 860, " +
    "nvme0n1=1.0 TiB|WDC WDS100T2B0C",
    "Removable media: sr0=HL-DT-ST DVDRAM GH24NSD1",
    // The map's first entry for each interface decides, as the conversion's.
    "Network interfaces: eno1=to network lan|3c:ec:ef:12:34:56, " +
    "wlp3s0=to network default|a4:c3:f0:aa:bb:cc",
  ]);
  assert.deepEqual(tested().warnings, []);
});

Deno.test("summary: a drive or an interface the machine does not have is named as such", () => {
  const facts = sampleFacts();
  const config = sampleConfig(facts);
  config.removable = ["sr0", "sr9"];
  config.interfaces = ["eth7"];
  const rows = flat(conversionSummary({ config, facts }));
  assert.ok(
    rows.includes("Removable media: sr0=HL-DT-ST DVDRAM GH24NSD1, sr9=not found on this machine"),
    rows.join("\n"),
  );
  assert.ok(
    rows.includes("Network interfaces: eth7=to network default|not found on this machine"),
    rows.join("\n"),
  );
});

Deno.test("summary: untested server, copied topology, nothing optional, what is unknown says so", () => {
  const facts = sampleFacts();
  const config = sampleConfig(facts);
  config.remote.server = "10.0.0.1";
  config.auth.username = undefined;
  config.auth.identityUrl = undefined;
  config.auth.password = "secret";
  config.vcpu.physTopo = true;
  config.disks = ["/var/tmp/disk.img"];
  config.removable = [];
  config.interfaces = [];
  config.output = { type: "null", storage: "", misc: [] };
  const rows = flat(conversionSummary({ config, facts }));
  assert.deepEqual(rows, [
    "Conversion server: Server=root@10.0.0.1:22, " +
    "virt-v2v=not tested: the server is checked when the conversion starts, " +
    "Log in=with the password",
    `Target guest: Name=${config.guestname}, ` +
    "vCPUs=8 (this machine's 1 socket x 4 core x 2 thread), Memory=16.0 GiB",
    "virt-v2v output: -o=null",
    // No size is made up for a disk the machine did not describe, and no total.
    "Fixed disks (1 disk): /var/tmp/disk.img=size unknown",
    "Removable media: (none)",
    "Network interfaces: (none: the guest gets no network interface)",
  ]);
  assert.ok(!rows.join("\n").includes("secret"), "the password is never shown");
});

Deno.test("summary: pinned host keys, and an IPv6 server in brackets", () => {
  const config = sampleConfig();
  config.remote.server = "fd00::5";
  config.remote.hostKeys = ["SHA256:aaa", "SHA256:bbb"];
  assert.equal(serverAddress(config), "root@[fd00::5]:22");
  const server = conversionSummary({ config, facts: sampleFacts() }).sections[0];
  assert.equal(
    server.rows.find((r) => r.label === "Host key")?.value,
    "only SHA256:aaa or SHA256:bbb",
  );
});

Deno.test("summary: the warnings already known, in the settings screen's words", () => {
  const facts = sampleFacts();
  facts.diskGroups = [{ kind: "lvm", name: "vg0", disks: ["nvme0n1", "sda"] }];
  const config = sampleConfig(facts);
  config.disks = ["sda"];
  config.vcpu = { physTopo: false, cores: 200 };
  config.memory = 5000 * GiB;
  assert.deepEqual(conversionSummary({ config, facts }).warnings, [
    'LVM volume group "vg0" spans nvme0n1 and sda, but nvme0n1 is not selected: convert all ' +
    "of them or none, or virt-v2v may find no root filesystem",
    "vCPUs: More than KVM supports (160); the guest may not work.",
    "Memory: More than KVM supports (4000G); the guest may not work.",
  ]);
});

Deno.test("summary lines: values in one column, sizes aligned, long names and values wrap whole", () => {
  const s = tested();
  s.sections[3].rows.push({
    label: "/tmp/p2v-dialog.0123456789abcdef/images/a-rather-long-image-name.img",
    value: "64.0 MiB",
  });
  s.sections[2].rows[1].value = "/var/lib/libvirt/" + "deep/".repeat(20) + "end";
  const lines = summaryLines(s, 80);
  for (const l of lines) assert.ok(lineWidth(l) <= 80, `too wide: ${lineText(l)}`);
  const text = lines.map(lineText);
  assert.ok(text.includes("   sda       256.0 GiB  Samsung SSD 860"), text.join("\n"));
  assert.ok(text.includes("   nvme0n1     1.0 TiB  WDC WDS100T2B0C"), text.join("\n"));
  // A label too wide for the column gets its own row, the value goes under the values.
  const at = text.indexOf(
    "   /tmp/p2v-dialog.0123456789abcdef/images/a-rather-long-image-name.img",
  );
  assert.ok(at > 0, text.join("\n"));
  // The label column is as wide as the widest label that fits it (Host key).
  assert.equal(text[at + 1], " ".repeat(3 + 8 + 2) + " 64.0 MiB");
  // Nothing of a long value is lost.
  const os = text.findIndex((l) => l.startsWith("   -os"));
  const joined = text.slice(os, os + 3).map((l) => l.slice(13)).join("");
  assert.ok(joined.startsWith(s.sections[2].rows[1].value), joined);
  assert.ok(!text.some((l) => l.startsWith("-- Warnings")), "no heading without warnings");
});

Deno.test("summary lines: text from the server or the command line cannot drive the terminal", () => {
  for (const [name, sequence] of HOSTILE) {
    const s = tested();
    s.sections[0].rows[1].value = `2.2.0${sequence}`;
    s.sections[0].rows[2].value = `SHA256:x${sequence}y`;
    s.sections[3].rows[0].label = `sd${sequence}a`;
    s.sections[3].rows[0].detail = `model${sequence}`;
    s.warnings.push(`doubt ${sequence}`);
    // Filtered when the lines are built, so that widths are counted on what is shown
    // (the painter filters again, which this does not count on).
    for (const l of summaryLines(s, 80)) {
      assertTerminalSafe(lineText(l), false, name);
      assert.ok(lineWidth(l) <= 80, `${name}: too wide`);
    }
  }
});

Deno.test("summary screen: fits 80x24, scrolls with the arrows and page keys", () => {
  const screen = new SummaryScreen(tested(), "2.0.0");
  const { ctx } = recorder();
  let frame = screen.layout(SIZE);
  show("summary, top", frame);
  assert.equal(frame.lines.length, 24);
  assert.equal(frame.clipped, 0);
  assert.ok(frame.lines.every((l) => lineWidth(l) <= 80));
  let text = frame.lines.map(lineText).join("\n");
  assert.match(text, /Conversion summary/);
  assert.match(text, /Server\s+p2v@conv\.example\.com:2222/);
  assert.match(text, /\[ Back to settings \]\s+\[>Start conversion<\]/);
  assert.match(text, /v more/);
  assert.ok(frame.hiddenRows > 0, "the sample is longer than one screen");
  assert.doesNotMatch(text, /wlp3s0/);

  press(screen, ctx, { name: "pagedown" });
  frame = screen.layout(SIZE);
  show("summary, page down", frame);
  text = frame.lines.map(lineText).join("\n");
  assert.match(text, /\^ more/);
  assert.match(text, /wlp3s0\s+to network default/, "the last rows are in view");
  assert.doesNotMatch(text, /Server\s+p2v@/);

  press(screen, ctx, { name: "home" });
  text = screen.layout(SIZE).lines.map(lineText).join("\n");
  assert.match(text, /Server\s+p2v@/);
  press(screen, ctx, { name: "down" });
  text = screen.layout(SIZE).lines.map(lineText).join("\n");
  assert.doesNotMatch(text, /-- Conversion server/, "one row down");
  assert.match(text, /Server\s+p2v@/);
  press(screen, ctx, { name: "up" });
  assert.match(screen.layout(SIZE).lines.map(lineText).join("\n"), /-- Conversion server/);
});

Deno.test("summary screen: warnings below the screen are announced at the top", () => {
  const s = tested();
  s.warnings.push("vCPUs: More than KVM supports (160); the guest may not work.");
  const screen = new SummaryScreen(s, "2.0.0");
  const { ctx } = recorder();
  let frame = screen.layout(SIZE);
  show("summary with a warning", frame);
  let text = frame.lines.map(lineText).join("\n");
  assert.match(text, /^ 1 warning at the end of the page\.$/m);
  assert.doesNotMatch(text, /-- Warnings/);
  press(screen, ctx, { name: "end" });
  frame = screen.layout(SIZE);
  show("summary with a warning, end", frame);
  text = frame.lines.map(lineText).join("\n");
  assert.match(
    text,
    /-- Warnings -+\n {3}vCPUs: More than KVM supports \(160\); the guest may not/,
  );
  assert.equal(frame.clipped, 0);
  assert.doesNotMatch(
    new SummaryScreen(tested(), "2.0.0").layout(SIZE).lines.map(lineText).join("\n"),
    /warning/,
  );
});

Deno.test("summary screen: Enter starts; Esc or Back goes back; Ctrl-C asks; the terminal gone quits", () => {
  const enter: Key = { name: "enter" };
  const cases: [Key[], SummaryResult[]][] = [
    [[enter], ["start"]],
    [[{ name: "char", ch: " " }], ["start"]],
    [[{ name: "escape" }], ["back"]],
    [[{ name: "left" }, enter], ["back"]],
    [[{ name: "backtab" }, enter], ["back"]],
    [[{ name: "tab" }, { name: "tab" }, enter], ["start"]],
    // Scrolling keys move the page, not the focus.
    [[{ name: "down" }, { name: "up" }, { name: "pagedown" }, enter], ["start"]],
    [[{ name: "ctrl", ch: "c" }, { name: "char", ch: "n" }], []],
    [[{ name: "ctrl", ch: "c" }, { name: "char", ch: "y" }], ["quit"]],
    [[{ name: "eof" }], ["quit"]],
  ];
  for (const [keys, expected] of cases) {
    const screen = new SummaryScreen(tested(), "2.0.0");
    const { ctx, results } = recorder();
    press(screen, ctx, ...keys);
    assert.deepEqual(results, expected, JSON.stringify(keys));
  }
});
