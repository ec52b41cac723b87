import assert from "node:assert/strict";
import { LibvirtDefineWatch } from "../src/engine/libvirt_define_watch.ts";

// virt-v2v 2.2's own lines when libvirt refuses the guest (seen on a server without KVM).
const REFUSED = [
  "[ 204.2] Creating output metadata",
  "virt-v2v: warning: the target hypervisor does not support a x86_64 KVM guest",
  "virt-v2v: warning: could not define libvirt domain: unsupported configuration: Emulator " +
  "'/usr/bin/qemu-system-x86_64' does not support virt type 'kvm'.",
  "The libvirt XML is still available in ‘/tmp/v2vlibvirt70af94.xml’.  Try running " +
  "‘virsh -c qemu:///system define /tmp/v2vlibvirt70af94.xml’ yourself instead.",
  "[ 204.2] Finishing off",
];

Deno.test("libvirt define: a refused guest is a warning naming why and where its XML is", () => {
  const watch = new LibvirtDefineWatch();
  for (const line of REFUSED) watch.feed(line);
  assert.equal(
    watch.warning(),
    "the disks are in the pool, but libvirt did not define the guest (unsupported " +
      "configuration: Emulator '/usr/bin/qemu-system-x86_64' does not support virt type " +
      "'kvm'); its libvirt XML is /tmp/v2vlibvirt70af94.xml on the conversion server: define " +
      "it there with virsh define /tmp/v2vlibvirt70af94.xml",
  );
});

Deno.test("libvirt define: nothing to say when libvirt took the guest", () => {
  const watch = new LibvirtDefineWatch();
  for (const line of REFUSED.filter((l) => !/define|XML/.test(l))) watch.feed(line);
  assert.equal(watch.warning(), undefined);
  // The XML line alone (without the refusal) is not a refusal either.
  watch.feed(REFUSED[3]);
  assert.equal(watch.warning(), undefined);
});

Deno.test("libvirt define: colours, escapes and a flood from the server are cut out", () => {
  const watch = new LibvirtDefineWatch();
  watch.feed(
    `\x1b[1;35mvirt-v2v: warning: could not define libvirt domain: \x1b]52;c;QUJD\x07${
      "x".repeat(5000)
    }\x1b[0m`,
  );
  const warning = watch.warning()!;
  assert.ok(!warning.includes("\x1b") && !warning.includes("\x07"), warning);
  assert.ok(warning.length < 600, `${warning.length} characters`);
});
