import assert from "node:assert/strict";
import {
  inBash,
  relayFromProbe,
  uploadCommand,
  virtV2vProbeCommand,
} from "../src/remote/remote_commands.ts";
import { tempDir } from "./helpers/cleanup.ts";

Deno.test("relay: qemu-nbd 4.2 and later first, else nbdkit's retry filter, and only with setsid", () => {
  assert.equal(
    relayFromProbe("setsid\nqemu-nbd 7.2.22 (Debian 1:7.2)\nnbdkit-retry\n"),
    "qemu-nbd",
  );
  assert.equal(relayFromProbe("setsid\nqemu-nbd 4.2.1\n"), "qemu-nbd");
  assert.equal(relayFromProbe("setsid\nqemu-nbd 4.1.0\nnbdkit-retry\n"), "nbdkit");
  assert.equal(relayFromProbe("setsid\nqemu-nbd 2.12.0\n"), undefined);
  assert.equal(relayFromProbe("setsid\nnbdkit-retry\n"), "nbdkit");
  assert.equal(relayFromProbe("qemu-nbd 7.2.0\nnbdkit-retry\n"), undefined, "no setsid");
  assert.equal(relayFromProbe(""), undefined);
});

Deno.test("remote commands run in bash with a private umask, every value quoted", async () => {
  const run = async (command: string) => {
    const out = await new Deno.Command("sh", { args: ["-c", command], stdout: "piped" }).output();
    return new TextDecoder().decode(out.stdout);
  };
  assert.equal(await run(inBash("umask; echo \"$0\" '$HOME'")), "0077\nbash $HOME\n");
  // A hostile argument reaches virt-v2v as one literal word, and nothing runs.
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/virt-v2v`, '#!/bin/sh\nprintf "[%s]" "$@"\n', { mode: 0o755 });
  const canary = `${dir}/canary`;
  const probe = virtV2vProbeCommand(["--version", `$(touch ${canary})`, "a'b"], {
    sudo: false,
    timeoutSeconds: 5,
  });
  assert.equal(await run(`PATH=${dir}:$PATH; ${probe}`), `[--version][$(touch ${canary})][a'b]`);
  await assert.rejects(Deno.stat(canary));
  await Deno.remove(dir, { recursive: true });
  const upload = uploadCommand("/tmp/virt-p2v-20240101-abcd1234", [
    { name: "name", size: 5, mode: 0o600 },
    { name: "virt-v2v-wrapper.sh", size: 10, mode: 0o700 },
  ]);
  assert.match(upload, /mkdir -m 700 -- \/tmp\/virt-p2v-20240101-abcd1234 \|\| exit 90/);
  assert.match(upload, /put name 5 600 \|\| exit 100/);
  assert.match(upload, /put virt-v2v-wrapper.sh 10 700 \|\| exit 101/);
});
