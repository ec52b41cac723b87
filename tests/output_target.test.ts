/**
 * Where virt-v2v will write is checked on the server before any disk is
 * exported. The verdicts on libvirt answers are checked here; the directory
 * checks run for real through a test sshd, and the libvirt ones against a
 * real libvirtd in tests/e2e/libvirt_target.test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { judgeOutputTarget, outputTarget } from "../src/remote/output_target.ts";
import { tempDir } from "./helpers/cleanup.ts";
import { engineConfig } from "./helpers/engine_fixtures.ts";
import { makeDenseImage, makeSparseImage, MiB } from "./helpers/images.ts";
import { p2vArgs, runP2v } from "./helpers/p2v.ts";
import { startSshd, TEST_USER } from "./helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "./helpers/stub_server.ts";

const LIBVIRT = {
  kind: "libvirt" as const,
  storage: "images",
  networks: ["lan"],
  implicitDefault: false,
};
const ANSWER = "active=default\nactive=images\npool=default\npool=images\npool=old\n" +
  "net=default\nnet=lan\n";

Deno.test("output target: libvirt pool, networks, and the directory outputs", () => {
  const local = engineConfig({ name: "g", disk: "/d", storage: "/srv/out", reconnectSeconds: 0 });
  const base = { ...local, output: { type: "libvirt", storage: "images", misc: [] } };
  const withNics = { ...base, interfaces: ["eth0", "eth1"] };
  assert.deepEqual(outputTarget(withNics), {
    kind: "libvirt",
    storage: "images",
    connection: undefined,
    networks: ["default"],
    implicitDefault: true,
  });
  const mapped = {
    ...withNics,
    networkMap: [{ iface: "eth0", target: "lan" }, { target: "dmz" }],
  };
  assert.deepEqual(outputTarget(mapped)?.networks, ["lan", "dmz"]);
  assert.equal(outputTarget(mapped)?.implicitDefault, false);
  assert.deepEqual(outputTarget(local), {
    kind: "directory",
    storage: "/srv/out",
    networks: [],
    implicitDefault: false,
  });
  const nothing = { ...local, output: { type: "null", storage: "", misc: [] } };
  assert.equal(outputTarget(nothing), undefined);
});

Deno.test("output target: a missing or inactive pool, a missing network, each one line", () => {
  assert.deepEqual(judgeOutputTarget(LIBVIRT, ANSWER, undefined), { warnings: [] });
  assert.equal(
    judgeOutputTarget({ ...LIBVIRT, storage: "x" }, ANSWER, undefined).error,
    'no libvirt pool "x" on the server; it has: default, images, old (set p2v.os to one of them)',
  );
  assert.match(
    judgeOutputTarget({ ...LIBVIRT, storage: "old" }, ANSWER, undefined).error!,
    /^the libvirt pool "old" on the server is not active; start it there \(virsh pool-start old\)/,
  );
  assert.equal(
    judgeOutputTarget({ ...LIBVIRT, networks: ["lan", "dmz"] }, ANSWER, undefined).error,
    'no libvirt network "dmz" on the server; it has: default, lan (set p2v.network to those)',
  );
  // A pool named by its UUID, as virt-v2v also takes it.
  const uuid = "261ec2e6-2f78-495c-93a2-2e2f91185434";
  assert.deepEqual(
    judgeOutputTarget({ ...LIBVIRT, storage: uuid }, `${ANSWER}uuid=${uuid}\n`, undefined),
    { warnings: [] },
  );
  // Nobody asked for "default": a warning, the run goes on.
  const implicit = judgeOutputTarget(
    { ...LIBVIRT, networks: ["default"], implicitDefault: true },
    ANSWER.replace("net=default\n", ""),
    undefined,
  );
  assert.equal(implicit.error, undefined);
  assert.match(implicit.warnings[0], /^no libvirt network "default" on the server; it has: lan/);
});

Deno.test("output target: no virsh, or virsh failing, is a warning and not a refusal", () => {
  assert.deepEqual(judgeOutputTarget(LIBVIRT, "virsh=missing\n", undefined), {
    warnings: [
      "the conversion server's libvirt pools were not checked: virsh is not on the conversion server",
    ],
  });
  const failing = judgeOutputTarget(
    LIBVIRT,
    "error=error: failed to connect to the hypervisor\n",
    undefined,
  );
  assert.equal(failing.error, undefined);
  assert.match(failing.warnings[0], /were not checked: error: failed to connect/);
});

Deno.test("output target: what the server names is bounded and printable", () => {
  const many = Array.from({ length: 500 }, (_, i) => `pool=p${i}\nactive=p${i}`).join("\n");
  const hostile = `${many}\npool=\x1b]52;c;AAAA\x07\n`;
  const error = judgeOutputTarget({ ...LIBVIRT, storage: "x" }, hostile, undefined).error!;
  // At most 256 names are kept of a kind, and 20 of them are named.
  assert.match(error, /p0, p1, .* p19 and 236 more/);
  assert.ok(!error.includes("\x1b"), error);
});

// A real sshd, the stub virt-v2v, and the directory -os names.
const work = await tempDir({ prefix: "p2v-output-target." });
// The server's user must reach the directories in here.
await Deno.chmod(work, 0o755);
const disk = await makeDenseImage(work, "disk.img", 4 * MiB);

async function convertInto(os: string, extraDisk?: string) {
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd);
    const out = await makeOutputDir(sshd);
    const result = await runP2v(p2vArgs(
      `p2v.server=127.0.0.1 p2v.port=${sshd.port} p2v.username=${TEST_USER} ` +
        `p2v.identity=file://${sshd.userKeyPath} p2v.post= p2v.name=target ` +
        `p2v.disks=${extraDisk ?? disk} p2v.os=${os.replace("OUT", out)}`,
    ));
    return { ...result, out };
  } finally {
    await sshd.stop();
  }
}

Deno.test("a -os directory the server does not have: one line, before any disk is exported", async () => {
  const r = await convertInto("/nonexistent/p2v-out");
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(
    r.stderr.trim(),
    'virt-p2v: error: no directory "/nonexistent/p2v-out" on the conversion server that ' +
      `${TEST_USER} can reach; create it there or set p2v.os to a directory that exists`,
  );
  assert.doesNotMatch(r.stdout, /Starting the NBD servers/);
});

Deno.test("a -os directory the converting user cannot write: one line naming the user", async () => {
  const locked = join(work, "locked");
  await Deno.mkdir(locked, { mode: 0o755 });
  await Deno.chmod(locked, 0o755);
  const r = await convertInto(locked);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(
    r.stderr.trim(),
    `virt-p2v: error: the conversion server's directory "${locked}" is not writable by ` +
      `${TEST_USER}; set p2v.os to one it can write, or change its permissions`,
  );
  assert.doesNotMatch(r.stdout, /Starting the NBD servers/);
});

Deno.test("a -os directory with less room than the disks hold: a warning, and the copy goes on", async () => {
  // A 1 MiB tmpfs for -os; the disk holds 4 MiB of data.
  const small = join(work, "small");
  await Deno.mkdir(small);
  const mount = new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", small],
  });
  assert.ok((await mount.output()).success, "mount tmpfs");
  try {
    const sparse = await makeSparseImage(work, "sparse.img", 64 * MiB, 4);
    const r = await convertInto(small, sparse);
    assert.match(
      r.stdout + r.stderr,
      new RegExp(
        `"${small}" on the conversion server has 1\\.0 MiB free, and the disks hold 4\\.0 MiB: ` +
          "the conversion may run out of space",
      ),
    );
    assert.match(r.stdout, /Starting the NBD servers/);
  } finally {
    await new Deno.Command("umount", { args: ["-l", small] }).output();
  }
});

addEventListener("unload", () => {
  Deno.removeSync(work, { recursive: true });
});
