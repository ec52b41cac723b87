/**
 * The settings rules, and that both views refuse the same settings with the
 * same words: the dialog under the field, the unattended run as its one
 * error line, before connecting (the server named here does not exist) or,
 * for an output the server lacks, right after the test connection.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "../src/cli/main.ts";
import { overridesFromCmdline } from "../src/config/kernel_keys.ts";
import {
  isUsableOutput,
  outputMeaning,
  serverOutputName,
  serverProblems,
  settingsProblems,
} from "../src/config/output_rules.ts";
import { resolveConfig } from "../src/config/resolve.ts";
import type { Config } from "../src/config/types.ts";
import { SettingsScreen } from "../src/screens/settings.ts";
import { lineText } from "../src/screens/text.ts";
import { fakeDeps, sampleConfig, sampleDetected, sampleFacts } from "./helpers/screens_fixtures.ts";
import { tempDir } from "./helpers/cleanup.ts";
import { makeSparseImage } from "./helpers/images.ts";
import { p2vArgs, runP2v } from "./helpers/p2v.ts";
import { startSshd } from "./helpers/sshd.ts";
import { serverKeys } from "./helpers/server_keys.ts";
import { installStubVirtV2v, makeOutputDir } from "./helpers/stub_server.ts";

/** virt-v2v 2.2's `output:` lines (Debian 12), as printed by `virt-v2v --machine-readable`. */
const OUTPUTS_2_2 = ["glance", "kubevirt", "libvirt", "local", "null", "openstack", "qemu"];
/** What virt-v2v 2.13 offers once the unusable modes are hidden. */
const OUTPUTS_2_13 = [
  "disk",
  "glance",
  "kubevirt",
  "libvirt",
  "null",
  "openstack",
  "ovirt",
  "qemu",
];

function settings(output: Partial<Config["output"]>, guestname = "guest1") {
  return { guestname, output: { ...sampleConfig().output, ...output } };
}

Deno.test("rules: guest names must be safe as a libvirt name and a file name", () => {
  assert.deepEqual(settingsProblems(settings({})), []);
  assert.deepEqual(settingsProblems(settings({}, "")), [
    { field: "guestname", message: "The guest needs a name." },
  ]);
  for (const bad of ["my guest", "a/b", "-x", ".hidden", "é"]) {
    const [p] = settingsProblems(settings({}, bad));
    assert.equal(p.field, "guestname", bad);
    assert.match(p.message, /use letters, digits and \. _ \+ - only/);
  }
});

Deno.test("rules: -oo takes OPTION and OPTION=VALUE, as virt-v2v does", () => {
  for (
    const good of [["compressed"], ["compressed=true"], [
      "json-disks-pattern=%{GuestName}-%{DiskNo}",
    ]]
  ) {
    assert.deepEqual(settingsProblems(settings({ type: "qemu", misc: good })), [], good.join());
  }
  for (const bad of ["", "=x", "?", "a b", "a b=c"]) {
    const [p] = settingsProblems(settings({ misc: ["compressed", bad] }));
    assert.equal(p?.field, "output.misc", JSON.stringify(bad));
    assert.equal(
      p.message,
      `-oo item "${bad}": each item is OPTION or OPTION=VALUE; separate items with commas.`,
    );
  }
});

Deno.test("rules: -o null takes no -os, -oa, -oc, -of or -oo; local and qemu need -os", () => {
  assert.deepEqual(settingsProblems(settings({ type: "null", storage: "" })), []);
  assert.deepEqual(settingsProblems(settings({ type: "null", storage: "/var/tmp" })), [{
    field: "output.storage",
    message: "-o null writes nothing and takes no -os: leave -os empty.",
  }]);
  const all = settingsProblems(settings({
    type: "null",
    storage: "",
    allocation: "sparse",
    connection: "qemu:///system",
    format: "raw",
    misc: ["x"],
  }));
  assert.deepEqual(all.map((p) => p.field), [
    "output.allocation",
    "output.connection",
    "output.format",
    "output.misc",
  ]);
  for (const type of ["local", "disk", "qemu"]) {
    assert.deepEqual(settingsProblems(settings({ type, storage: "" })), [{
      field: "output.storage",
      message: `-o ${type} needs a directory on the server (-os).`,
    }]);
  }
  assert.deepEqual(settingsProblems(settings({ type: "libvirt", storage: "" })), []);
});

Deno.test("rules: glance takes no -os, -oc or -oo; rhv and ovirt need -os and take no -oo", () => {
  assert.deepEqual(settingsProblems(settings({ type: "glance", storage: "" })), []);
  assert.deepEqual(
    settingsProblems(settings({
      type: "glance",
      storage: "/x",
      connection: "c",
      format: "qcow2",
      misc: ["a=b"],
    })),
    [
      { field: "output.storage", message: "-o glance takes no -os: leave -os empty." },
      { field: "output.connection", message: "-o glance takes no -oc: leave -oc empty." },
      { field: "output.misc", message: "-o glance takes no -oo: leave -oo empty." },
    ],
  );
  for (const type of ["rhv", "ovirt"]) {
    assert.deepEqual(settingsProblems(settings({ type, storage: "", misc: ["x"] })), [
      { field: "output.storage", message: `-o ${type} needs an export storage domain (-os).` },
      { field: "output.misc", message: `-o ${type} takes no -oo: leave -oo empty.` },
    ]);
  }
});

Deno.test("rules: a defaulted -os is dropped with -o null, one that was written is kept", () => {
  const resolve = (cmdline: string) =>
    resolveConfig(overridesFromCmdline(cmdline).overrides, sampleFacts(), {
      fromProcCmdline: false,
      isRoot: false,
    });
  assert.equal(resolve("p2v.o=null").output.storage, "");
  assert.equal(resolve("p2v.o=glance").output.storage, "");
  assert.equal(resolve("p2v.o=local").output.storage, "/var/tmp");
  assert.equal(resolve("p2v.o=null p2v.os=/var/tmp").output.storage, "/var/tmp");
});

Deno.test("outputs: every name of each mode across virt-v2v 1.28 to 2.x", () => {
  assert.equal(outputMeaning("local"), "disk");
  assert.equal(outputMeaning("disk"), "disk");
  assert.equal(outputMeaning("rhv"), "ovirt");
  assert.equal(outputMeaning("ovirt"), "ovirt");
  assert.equal(outputMeaning("rhv-upload"), "ovirt-upload");
  assert.equal(outputMeaning("lcoal"), undefined);
  assert.equal(outputMeaning("toString"), undefined);
  for (const name of ["vdsm", "rhv-upload", "ovirt-upload", "rhv_upload", "ovirt_upload"]) {
    assert.equal(isUsableOutput(name), false, name);
    assert.match(
      settingsProblems(settings({ type: name }))[0].message,
      /^-o \S+ is not supported by virt-p2v; choose another output mode\.$/,
    );
  }
  for (const name of ["local", "disk", "rhv", "ovirt", "libvirt", "qemu", "null", "something"]) {
    assert.equal(isUsableOutput(name), true, name);
  }
  // The user's word becomes the server's word for the same output.
  assert.equal(serverOutputName("disk", OUTPUTS_2_2), "local");
  assert.equal(serverOutputName("local", OUTPUTS_2_13), "disk");
  assert.equal(serverOutputName("rhv", OUTPUTS_2_13), "ovirt");
  assert.equal(serverOutputName("rhv", OUTPUTS_2_2), undefined);
  assert.equal(serverOutputName("qemu", OUTPUTS_2_2), "qemu");
});

Deno.test("rules: an output the server does not offer names what it offers", () => {
  assert.deepEqual(serverProblems({ type: "lcoal" }, OUTPUTS_2_2), [{
    field: "output.type",
    message: 'The conversion server\'s virt-v2v has no output mode "lcoal" (-o); it offers: ' +
      "glance, kubevirt, libvirt, local, null, openstack, qemu.",
  }]);
  assert.deepEqual(serverProblems({ type: "local" }, OUTPUTS_2_13), []);
  assert.deepEqual(serverProblems({ type: "disk" }, OUTPUTS_2_2), []);
  // Not tested (p2v.skip_test_connection): nothing is known, nothing refused.
  assert.deepEqual(serverProblems({ type: "lcoal" }, []), []);
});

/** The reason the dialog shows for these settings, from the field the rule names. */
function dialogReason(cmdline: string, offered?: string[]): string | undefined {
  const facts = sampleFacts();
  const config = resolveConfig(overridesFromCmdline(cmdline).overrides, facts, {
    fromProcCmdline: false,
    isRoot: false,
  });
  const capabilities = offered &&
    { version: "2.2.0", coloursOption: true, inputs: [], outputs: offered };
  const screen = new SettingsScreen(
    { config, detected: sampleDetected(facts), facts, capabilities },
    fakeDeps(),
  );
  if (screen.validate()) return undefined;
  const fields = [
    screen.name,
    screen.output,
    screen.oc,
    screen.os,
    screen.of,
    screen.oa,
    screen.oo,
  ];
  const reasons = fields.map((f) => f.error).filter((e) => e !== undefined);
  assert.equal(reasons.length, 1, `one reason expected: ${reasons.join(" | ")}`);
  return reasons[0];
}

/** The one error line of an unattended run, which must end before connecting anywhere. */
async function unattendedError(cmdline: string): Promise<string> {
  let err = "";
  // Port 1 on a TEST-NET address: a connection attempt would hang or fail differently.
  const code = await main([`--cmdline=p2v.server=192.0.2.1 p2v.port=1 p2v.post= ${cmdline}`], {
    stdout: () => {},
    stderr: (t) => err += t,
    env: () => undefined,
    isTerminal: false,
  });
  assert.equal(code, 1, err);
  const lines = err.trim().split("\n").filter((l) => !l.includes(": warning: "));
  assert.equal(lines.length, 1, err);
  return lines[0];
}

const REFUSED = [
  ['p2v.name="my guest"', "guestname"],
  ["p2v.o=null p2v.os=/var/tmp", "-o null with an -os written"],
  ["p2v.o=null p2v.oo=compressed", "-o null with -oo"],
  ["p2v.o=qemu p2v.oo=compressed,=x", "-oo item without a name"],
  ["p2v.o=rhv-upload", "an output we cannot drive"],
];

Deno.test("both views refuse the same settings with the same words, before connecting", async () => {
  for (const [cmdline, what] of REFUSED) {
    const line = cmdline.includes("p2v.name=") ? cmdline : `p2v.name=guest1 ${cmdline}`;
    const reason = dialogReason(line);
    assert.ok(reason, `${what}: the dialog accepted ${cmdline}`);
    assert.equal(
      await unattendedError(line),
      `virt-p2v: error: ${reason}`,
      what,
    );
  }
  // ... and accept the same: the dump of what virt-v2v accepts succeeds.
  for (const cmdline of ["p2v.o=null", "p2v.o=qemu p2v.oo=compressed", "p2v.o=disk"]) {
    assert.equal(dialogReason(`p2v.name=guest1 ${cmdline}`), undefined, cmdline);
    const code = await main([`--cmdline=p2v.name=guest1 ${cmdline} p2v.dump_config_and_exit`], {
      stdout: () => {},
      stderr: () => {},
      env: () => undefined,
      isTerminal: false,
    });
    assert.equal(code, 0, cmdline);
  }
});

Deno.test("the dump shows the settings, then refuses them as a conversion would", async () => {
  let out = "";
  let err = "";
  const code = await main(["--cmdline=p2v.o=null p2v.os=/srv p2v.dump_config_and_exit"], {
    stdout: (t) => out += t,
    stderr: (t) => err += t,
    env: () => undefined,
    isTerminal: false,
  });
  assert.equal(code, 1);
  assert.match(out, /^output\.storage {7}\/srv$/m);
  assert.equal(err, "virt-p2v: error: -o null writes nothing and takes no -os: leave -os empty.\n");
  out = "";
  assert.equal(
    await main(["--cmdline=p2v.o=null p2v.dump_config_and_exit"], {
      stdout: (t) => out += t,
      stderr: () => {},
      env: () => undefined,
      isTerminal: false,
    }),
    0,
  );
  assert.match(out, /^output\.storage {7}\(none\)$/m);
});

Deno.test("the dialog names the server's outputs for an -o it lacks, as the unattended run does", () => {
  assert.equal(
    dialogReason("p2v.name=guest1 p2v.o=lcoal", OUTPUTS_2_2),
    'The conversion server\'s virt-v2v has no output mode "lcoal" (-o); it offers: ' +
      "glance, kubevirt, libvirt, local, null, openstack, qemu.",
  );
  assert.equal(dialogReason("p2v.name=guest1 p2v.o=local", OUTPUTS_2_13), undefined);
});

Deno.test("unattended: an -o the server lacks is one line after the test, before any disk is sent", async () => {
  const work = await tempDir({ prefix: "p2v-rules." });
  const disk = await makeSparseImage(work, "disk.img", 2 ** 26, 2);
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd);
    const out = await makeOutputDir(sshd);
    const keys = serverKeys(sshd, { outDir: out }).join(" ");
    const result = await runP2v(p2vArgs(`${keys} p2v.name=g1 p2v.disks=${disk} p2v.o=lcoal`));
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.equal(
      result.stderr,
      'virt-p2v: error: The conversion server\'s virt-v2v has no output mode "lcoal" (-o); it ' +
        "offers: libvirt, local, null, qemu.\n",
    );
    assert.doesNotMatch(result.stdout, /Remote directory:/);
    // -o disk (virt-v2v 2.8+'s name) reaches this 2.2 server as -o local.
    const mapped = await runP2v(p2vArgs(`${keys} p2v.name=g2 p2v.disks=${disk} p2v.o=disk`));
    assert.equal(mapped.code, 0, mapped.stdout + mapped.stderr);
    const dir = /^Remote directory: (\S+)$/m.exec(mapped.stdout)?.[1];
    assert.ok(dir, mapped.stdout);
    const argv = (await Deno.readTextFile(join(dir, "stub-argv"))).split("\0");
    assert.equal(argv[argv.indexOf("-o") + 1], "local");
  } finally {
    await sshd.stop();
  }
});

Deno.test("dialog: a defaulted -os follows the output to -o null and back; a typed one stays", () => {
  const facts = sampleFacts();
  const screen = new SettingsScreen(
    { config: sampleConfig(facts), detected: sampleDetected(facts), facts },
    fakeDeps(),
  );
  assert.equal(screen.os.value, "/var/tmp");
  screen.output.value = "null";
  screen.changed(screen.output);
  assert.equal(screen.os.value, "");
  assert.ok(screen.validate());
  screen.output.value = "qemu";
  screen.changed(screen.output);
  assert.equal(screen.os.value, "/var/tmp");
  screen.os.value = "/srv/images";
  screen.output.value = "null";
  screen.changed(screen.output);
  assert.equal(screen.os.value, "/srv/images");
  assert.equal(screen.validate(), false);
  assert.equal(screen.os.error, "-o null writes nothing and takes no -os: leave -os empty.");
});

Deno.test("dialog: against virt-v2v 2.13, -o local is offered as disk and ovirt-upload is not", () => {
  const facts = sampleFacts();
  const config = sampleConfig(facts);
  const capabilities = {
    version: "2.13.3",
    coloursOption: true,
    inputs: [],
    outputs: OUTPUTS_2_13,
  };
  const screen = new SettingsScreen(
    { config, detected: sampleDetected(facts), facts, capabilities },
    fakeDeps(),
  );
  assert.equal(screen.output.value, "disk");
  assert.deepEqual(screen.output.options, OUTPUTS_2_13);
  assert.ok(screen.validate());
  screen.apply();
  assert.equal(config.output.type, "disk");
  assert.equal(config.output.storage, "/var/tmp");
});

Deno.test("dialog: with -o libvirt, -os must be a pool the server's libvirt has, and an active one", () => {
  const facts = sampleFacts();
  const config = sampleConfig(facts);
  const capabilities = {
    version: "2.2.0",
    coloursOption: true,
    inputs: [],
    outputs: ["libvirt", "local", "null", "qemu"],
    libvirt: {
      pools: ["default", "images", "old"],
      activePools: ["default", "images"],
      poolUuids: ["261ec2e6-2f78-495c-93a2-2e2f91185434"],
      networks: ["default"],
    },
  };
  const screen = new SettingsScreen(
    { config, detected: sampleDetected(facts), facts, capabilities },
    fakeDeps(),
  );
  screen.output.value = "libvirt";
  screen.changed(screen.output);
  screen.os.value = "/var/tmp";
  screen.changed(screen.os);
  // While typing: a warning under -os naming the pools.
  assert.match(
    screen.layout({ width: 100, height: 40 }).lines.map(lineText).join("\n"),
    /No libvirt pool/,
  );
  assert.equal(screen.validate(), false);
  assert.equal(
    screen.os.error,
    'No libvirt pool "/var/tmp" on the server; it has: default, images, old ' +
      "(set p2v.os to one of them).",
  );
  screen.os.value = "old";
  assert.equal(screen.validate(), false);
  assert.match(screen.os.error!, /^The libvirt pool "old" on the server is not active; start it/);
  for (const pool of ["images", "261ec2e6-2f78-495c-93a2-2e2f91185434"]) {
    screen.os.value = pool;
    assert.ok(screen.validate(), `${pool}: ${screen.os.error}`);
  }
  // Each ticked interface's target is a network the server has.
  const nic = screen.interfaces.find((i) => i.box.checked);
  assert.ok(nic, "the sample machine has a ticked interface");
  nic.network.value = "lan";
  assert.match(
    screen.layout({ width: 100, height: 40 }).lines.map(lineText).join("\n"),
    /No libvirt network "lan" on the server; it has: default\./,
  );
  assert.equal(screen.validate(), false);
  assert.equal(nic.network.error, 'No libvirt network "lan" on the server; it has: default.');
  nic.network.value = "default";
  assert.ok(screen.validate());
  // Not asked (no virsh, or the server did not answer): nothing to say.
  const unknown = new SettingsScreen(
    {
      config: sampleConfig(facts),
      detected: sampleDetected(facts),
      facts,
      capabilities: { ...capabilities, libvirt: undefined },
    },
    fakeDeps(),
  );
  unknown.output.value = "libvirt";
  unknown.changed(unknown.output);
  unknown.os.value = "anything";
  assert.ok(unknown.validate());
});
