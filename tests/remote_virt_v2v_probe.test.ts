/**
 * What the test connection makes of virt-v2v's answers, and of where the
 * login's shell looked for it.
 */
import assert from "node:assert/strict";
import { UserError } from "../src/errors.ts";
import {
  noVersionError,
  parseMachineReadable,
  parseVersionOutput,
  parseVirtV2vLocation,
  ServerUnfitError,
} from "../src/remote/virt_v2v_probe.ts";

Deno.test("test connection: the location answer gives the path found and the PATH searched", () => {
  assert.deepEqual(parseVirtV2vLocation("virt-v2v=/usr/bin/virt-v2v\nPATH=/usr/bin:/bin\n"), {
    path: "/usr/bin/virt-v2v",
    searchPath: "/usr/bin:/bin",
  });
  assert.deepEqual(parseVirtV2vLocation("virt-v2v=\nPATH=/opt/bin\n"), {
    path: undefined,
    searchPath: "/opt/bin",
  });
  assert.deepEqual(parseVirtV2vLocation("Unknown command: printf\n"), {
    path: undefined,
    searchPath: undefined,
  });
  // The server's text reaches the terminal as text only.
  assert.equal(parseVirtV2vLocation("virt-v2v=\nPATH=/a\x1b[2J:/b\n").searchPath, "/a:/b");
});

Deno.test("test connection: not found names the user, the PATH and what to do", () => {
  const err = noVersionError({ searchPath: "/usr/bin:/bin" }, "conv");
  assert.ok(err instanceof ServerUnfitError);
  assert.equal(
    err.message,
    'virt-v2v was not found on the conversion server in the PATH of user "conv" ' +
      "(/usr/bin:/bin); install virt-v2v there, or log in as a user that has it (p2v.username)",
  );
  assert.match(noVersionError({ searchPath: "" }, "conv").message, /\(its PATH is empty\)/);
});

Deno.test("test connection: found but versionless, or no answer, is not 'not found'", () => {
  const found = noVersionError({ path: "/opt/v2v/virt-v2v", searchPath: "/opt/v2v" }, "conv");
  assert.ok(!(found instanceof ServerUnfitError));
  assert.match(
    found.message,
    /^\/opt\/v2v\/virt-v2v on the conversion server printed no virt-v2v version/,
  );
  const unknown = noVersionError({}, "conv");
  assert.ok(unknown instanceof UserError && !(unknown instanceof ServerUnfitError));
  assert.match(unknown.message, /not installed on the conversion server, or it might be a too old/);
});

Deno.test("test connection: sudo that finds no virt-v2v says where sudo looks", () => {
  assert.throws(
    () => parseVersionOutput("sudo: virt-v2v: command not found\n", { sudo: true, username: "u" }),
    (err: unknown) =>
      err instanceof ServerUnfitError &&
      /not found on the conversion server by sudo for user "u" \(sudo searches the secure_path/
        .test(err.message),
  );
  assert.equal(parseVersionOutput("virt-v2v 2.4.0\n", { sudo: true, username: "u" }), "2.4.0");
});

/** `virt-v2v --machine-readable` of virt-v2v 2.2.0 (Debian 12), as it prints it. */
const MACHINE_READABLE_2_2 = `virt-v2v
virt-v2v-2.0
libguestfs-rewrite
vcenter-https
xen-ssh
vddk
colours-option
vdsm-compat-option
io/oo
mac-option
bandwidth-option
mac-ip-option
input:disk
input:libvirt
input:libvirtxml
input:ova
input:vmx
output:glance
output:kubevirt
output:libvirt
output:local
output:null
output:openstack
output:qemu
output:rhv
output:rhv-upload
output:vdsm
convert:linux
convert:windows
ovf:ovirt
ovf:rhvexp
`;

/**
 * The same of virt-v2v 2.13 (v2v/v2v.ml and output/select_output.ml, built
 * with glance and oVirt, the defaults): `disk`, `ovirt`, `ovirt-upload`.
 */
const MACHINE_READABLE_2_13 = `virt-v2v
virt-v2v-2.0
libguestfs-rewrite
vcenter-https
xen-ssh
vddk
colours-option
vdsm-compat-option
io/oo
mac-option
mac-ip-option
parallel-option
customize-ops
block-driver-option
collect-option
input:disk
input:libvirt
input:libvirtxml
input:ova
input:vmx
output:disk
output:glance
output:kubevirt
output:libvirt
output:null
output:openstack
output:ovirt
output:ovirt-upload
output:qemu
output:vdsm
convert:linux
convert:windows
ovf:ovirt
ovf:ovirtexp
`;

Deno.test("test connection: virt-v2v 2.2 offers its outputs without vdsm and rhv-upload", () => {
  assert.deepEqual(parseMachineReadable(MACHINE_READABLE_2_2), {
    coloursOption: true,
    inputs: ["disk", "libvirt", "libvirtxml", "ova", "vmx"],
    outputs: ["glance", "kubevirt", "libvirt", "local", "null", "openstack", "qemu", "rhv"],
  });
});

Deno.test("test connection: virt-v2v 2.13's new names are hidden by meaning too", () => {
  assert.deepEqual(parseMachineReadable(MACHINE_READABLE_2_13).outputs, [
    "disk",
    "glance",
    "kubevirt",
    "libvirt",
    "null",
    "openstack",
    "ovirt",
    "qemu",
  ]);
});

/** Whether virt-v2v is installed here (tests/e2e/setup-e2e.sh installs it; ./setup.sh does not). */
const HAS_VIRT_V2V =
  (await new Deno.Command("sh", { args: ["-c", "command -v virt-v2v"] }).output())
    .success;

Deno.test({
  name: "test connection: the 2.2 answer is the real one of the virt-v2v installed here",
  ignore: !HAS_VIRT_V2V,
}, async () => {
  const run = await new Deno.Command("virt-v2v", { args: ["--machine-readable"] }).output();
  const text = new TextDecoder().decode(run.stdout);
  // Only a 2.2 here can confirm the fixture; another version is a different answer.
  const version = new TextDecoder().decode(
    (await new Deno.Command("virt-v2v", { args: ["--version"] }).output()).stdout,
  );
  if (!version.startsWith("virt-v2v 2.2.")) return;
  assert.equal(text, MACHINE_READABLE_2_2);
});
