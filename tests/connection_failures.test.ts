/**
 * What the user sees when the connection to the conversion server cannot
 * work: one `virt-p2v: error…` line naming the cause, exit 1, p2v.fail run,
 * and the source disk untouched. Each case uses a real sshd.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeDenseImage, MiB } from "./helpers/images.ts";
import { p2vArgs, type P2vRun, runP2v } from "./helpers/p2v.ts";
import { freePort, sha256File } from "./helpers/process.ts";
import { startSshd, TEST_PASSWORD, TEST_USER, type TestSshd } from "./helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir, type StubBehaviour } from "./helpers/stub_server.ts";
import { tempDir } from "./helpers/cleanup.ts";

const work = await tempDir({ prefix: "p2v-connfail." });
await Deno.chmod(work, 0o755);
const disk = await makeDenseImage(work, "disk.img", 16 * MiB);
const diskSum = await sha256File(disk);

const servers: TestSshd[] = [];
async function server(opts: Parameters<typeof startSshd>[0] = {}): Promise<TestSshd> {
  const s = await startSshd(opts);
  servers.push(s);
  return s;
}

const plain = await server();
await installStubVirtV2v(plain);
const plainOut = await makeOutputDir(plain);

interface Attempt {
  sshd: TestSshd;
  auth?: string;
  extra?: string;
  stub?: StubBehaviour;
  env?: Record<string, string>;
}

let attempts = 0;
async function attempt(a: Attempt): Promise<P2vRun & { failRan: boolean }> {
  if (a.stub) await installStubVirtV2v(a.sshd, a.stub);
  const failMarker = join(work, `fail-${++attempts}`);
  const auth = a.auth ?? `p2v.identity=file://${a.sshd.userKeyPath}`;
  const result = await runP2v(
    p2vArgs(
      `${
        a.extra ?? ""
      } p2v.server=127.0.0.1 p2v.port=${a.sshd.port} p2v.username=${TEST_USER} ${auth} ` +
        `p2v.disks=${disk} p2v.os=${plainOut} p2v.name=g${attempts} ` +
        `p2v.post= p2v.fail="/usr/bin/touch ${failMarker}"`,
    ),
    { env: a.env },
  );
  const failRan = await Deno.stat(failMarker).then(() => true, () => false);
  if (a.stub) await installStubVirtV2v(a.sshd);
  assert.equal(await sha256File(disk), diskSum, "the source disk changed");
  return { ...result, failRan };
}

/** Exit 1 with exactly one stderr line matching `pattern`, and p2v.fail ran. */
function assertOneLineFailure(r: P2vRun & { failRan: boolean }, pattern: RegExp): void {
  assert.equal(r.code, 1, `expected exit 1:\n${r.stdout}\n${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr + r.stdout, /^\s+at /m, "no stack trace");
  assert.ok(r.failRan, "p2v.fail did not run");
}

Deno.test("a key the server does not accept is an authentication error", async () => {
  const r = await attempt({ sshd: plain, auth: `p2v.identity=file://${plain.wrongKeyPath}` });
  assertOneLineFailure(
    r,
    /^virt-p2v: error opening control connection to 127\.0\.0\.1:\d+: authentication failed for user "p2vtest": .*identity/,
  );
});

Deno.test("a wrong password is an authentication error and is never echoed", async () => {
  const r = await attempt({ sshd: plain, auth: "p2v.password=not-the-password" });
  assertOneLineFailure(r, /authentication failed for user "p2vtest": .*password/);
  assert.doesNotMatch(r.stdout + r.stderr, /not-the-password/);
});

Deno.test("the right password converts (keyboard-interactive, then password)", async () => {
  const r = await attempt({ sshd: plain, auth: `p2v.password=${TEST_PASSWORD}` });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(await sha256File(join(plainOut, `g${attempts}-sda`)), diskSum);
  assert.doesNotMatch(r.stdout + r.stderr, new RegExp(TEST_PASSWORD));
  assert.equal(r.failRan, false);
});

Deno.test("an identity served over http:// is used with a warning and leaves no temp file behind", async () => {
  const key = await Deno.readFile(plain.userKeyPath);
  const web = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(key),
  );
  try {
    const before = await tempIdentityFiles();
    const r = await attempt({
      sshd: plain,
      auth: `p2v.identity=http://127.0.0.1:${web.addr.port}/id`,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await tempIdentityFiles(), before);
    // It works, as it did in the original, but the console says what it risks.
    assert.match(
      r.stdout,
      /^virt-p2v: warning: p2v\.identity downloads the private SSH key from 127\.0\.0\.1:\d+ over plain http:\/\/: anyone on the network path can read the key/m,
    );
  } finally {
    await web.shutdown();
  }
});

Deno.test("an identity URL that answers 404 is a clear error", async () => {
  const web = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("no", { status: 404 }),
  );
  try {
    const r = await attempt({
      sshd: plain,
      auth: `p2v.identity=http://127.0.0.1:${web.addr.port}/id`,
    });
    assertOneLineFailure(
      r,
      /cannot download the identity from http:\/\/127\.0\.0\.1:\d+\/id: HTTP 404/,
    );
  } finally {
    await web.shutdown();
  }
});

Deno.test("a server without virt-v2v says so, naming the user and the PATH searched", async () => {
  // Not even bash on this PATH: the account's shell still answers where it looked.
  const emptyBin = join(work, "empty-bin");
  const empty = await server({ path: () => emptyBin });
  await Deno.mkdir(emptyBin, { recursive: true });
  const r = await attempt({ sshd: empty });
  assertOneLineFailure(
    r,
    new RegExp(
      `^virt-p2v: error: virt-v2v was not found on the conversion server in the PATH of user ` +
        `"p2vtest" \\(${emptyBin}\\); install virt-v2v there, or log in as a user that has it ` +
        `\\(p2v\\.username\\)$`,
    ),
  );
  // The connection itself worked, and the console said so before the test failed.
  assert.doesNotMatch(r.stderr, /error opening control connection/);
  assert.match(r.stdout, /Testing the conversion server/);
});

Deno.test("virt-v2v elsewhere than in the login's PATH: the PATH searched is the login's", async () => {
  // A server where virt-v2v sits in a directory this user's PATH lacks.
  const userBin = join(work, "user-bin");
  await Deno.mkdir(userBin, { recursive: true });
  for (const tool of ["bash", "timeout", "sh"]) {
    const from = ["/usr/bin", "/bin"].map((d) => join(d, tool));
    for (const f of from) {
      if (await Deno.stat(f).then(() => true, () => false)) {
        await Deno.symlink(f, join(userBin, tool)).catch(() => {});
        break;
      }
    }
  }
  const elsewhere = await server({ path: () => userBin });
  await installStubVirtV2v(elsewhere);
  const r = await attempt({ sshd: elsewhere });
  assertOneLineFailure(
    r,
    new RegExp(`in the PATH of user "p2vtest" \\(${userBin}\\); install virt-v2v there`),
  );
  assert.doesNotMatch(r.stderr, new RegExp(elsewhere.binDir));
});

Deno.test("a virt-v2v that prints no version is named by its path", async () => {
  const r = await attempt({ sshd: plain, stub: { versionLine: "hello from a wrapper" } });
  assertOneLineFailure(
    r,
    new RegExp(
      `^virt-p2v: error opening control connection to 127\\.0\\.0\\.1:\\d+: ` +
        `${join(plain.binDir, "virt-v2v")} on the conversion server printed no virt-v2v version`,
    ),
  );
});

Deno.test("a virt-v2v of an unsupported major version is named in the error", async () => {
  const r = await attempt({ sshd: plain, stub: { versionLine: "virt-v2v 3.1.0" } });
  assertOneLineFailure(r, /virt-v2v major version is 3 \(found virt-v2v 3\.1\.0\)/);
});

Deno.test("a virt-v2v older than 1.28 is refused", async () => {
  const r = await attempt({ sshd: plain, stub: { versionLine: "virt-v2v 1.26.0" } });
  assertOneLineFailure(r, /virt-v2v 1\.26\.0 on the conversion server is too old/);
});

Deno.test("--machine-readable output without libguestfs-rewrite is invalid", async () => {
  const r = await attempt({ sshd: plain, stub: { features: ["virt-v2v", "output:local"] } });
  assertOneLineFailure(r, /: Invalid output of "virt-v2v --machine-readable" command\.$/);
});

Deno.test("sudo that wants a password gets the sudoers advice", async () => {
  const r = await attempt({ sshd: plain, extra: "p2v.sudo" });
  assertOneLineFailure(
    r,
    /sudo for user "p2vtest" requires a password\. Edit \/etc\/sudoers on the conversion server to ensure the "NOPASSWD:" option is set for this user\.$/,
  );
});

Deno.test("AllowTcpForwarding no is reported before anything is uploaded", async () => {
  const noForward = await server({ allowTcpForwarding: false });
  await installStubVirtV2v(noForward);
  const r = await attempt({ sshd: noForward });
  assertOneLineFailure(r, /refused reverse port forwarding.*AllowTcpForwarding yes/);
  assert.doesNotMatch(r.stdout, /Remote directory:/);
});

Deno.test("nothing listening on the port is 'connection refused'", async () => {
  const closed = { ...plain, port: freePort() };
  const r = await attempt({ sshd: closed });
  assertOneLineFailure(
    r,
    /^virt-p2v: error opening control connection to 127\.0\.0\.1:\d+: connection refused/,
  );
});

Deno.test("p2v.pre runs before connecting; when it fails nothing else happens", async () => {
  const preMarker = join(work, "pre-ran");
  const ok = await attempt({ sshd: plain, extra: `p2v.pre="/usr/bin/touch ${preMarker}"` });
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  await Deno.stat(preMarker);

  const failing = await attempt({ sshd: plain, extra: `p2v.pre="exit 3"` });
  assert.equal(failing.code, 1);
  assert.equal(
    failing.stderr.trim(),
    "virt-p2v: error: p2v.pre: unexpected failure of external command (sh exited with status 3)",
  );
  assert.doesNotMatch(failing.stdout, /Connecting to/);
});

Deno.test("a failing p2v.post is reported after a successful conversion", async () => {
  const r = await attempt({ sshd: plain, extra: `p2v.post="exit 4"` });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /Conversion finished successfully/);
  // The base command line also says p2v.post=, hence a duplicate-key warning first.
  assert.equal(
    r.stderr.trim().split("\n").pop(),
    "virt-p2v: error: p2v.post: unexpected failure of external command (sh exited with status 4)",
  );
});

Deno.test("a pinned host key that does not match aborts before authentication", async () => {
  const wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  const r = await attempt({ sshd: plain, extra: `p2v.hostkey=${wrong}` });
  assertOneLineFailure(r, /host key mismatch/);
  assert.ok(r.stderr.includes(wrong) && r.stderr.includes(plain.hostKeyFingerprint));
  const log = await Deno.readTextFile(plain.logPath);
  assert.doesNotMatch(log.split("\n").slice(-3).join("\n"), /Accepted publickey/);
});

Deno.test("a pinned host key that matches converts and shows the fingerprint", async () => {
  const r = await attempt({ sshd: plain, extra: `p2v.hostkey=${plain.hostKeyFingerprint}` });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(r.stdout.includes(`Server host key: ${plain.hostKeyFingerprint}`));
});

Deno.test("a disk that does not exist is named in the error, before connecting to the server", async () => {
  const logBefore = await Deno.readTextFile(plain.logPath);
  const r = await runP2v(p2vArgs(
    `p2v.server=127.0.0.1 p2v.port=${plain.port} p2v.username=${TEST_USER} ` +
      `p2v.identity=file://${plain.userKeyPath} p2v.disks=${work}/missing.img p2v.post=`,
  ));
  assert.equal(r.code, 1);
  assert.match(
    r.stderr.trim(),
    /^virt-p2v: error: disk \/\S+\/missing\.img does not exist; check p2v\.disks \(this machine's disks: [^)]*\)$/,
  );
  const logAfter = await Deno.readTextFile(plain.logPath);
  assert.doesNotMatch(logAfter.slice(logBefore.length), /Connection from|Accepted/);
});

Deno.test("p2v.nbd=qemu-nbd,builtin falls back to the built-in server without qemu-nbd", async () => {
  const bin = join(work, "no-qemu-nbd-bin");
  await Deno.mkdir(bin, { recursive: true });
  const r = await attempt({ sshd: plain, env: { PATH: bin }, extra: "p2v.nbd=qemu-nbd,builtin" });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(await sha256File(join(plainOut, `g${attempts}-sda`)), diskSum);
});

Deno.test("p2v.nbd naming only servers that are not installed is a clear error", async () => {
  const bin = join(work, "no-qemu-nbd-bin");
  await Deno.mkdir(bin, { recursive: true });
  // qemu-nbd is looked for on PATH (and in the sbin directories, where it is not).
  const r = await attempt({ sshd: plain, env: { PATH: bin }, extra: "p2v.nbd=qemu-nbd" });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr.trim(),
    /^virt-p2v: error: none of the NBD servers in p2v\.nbd \(qemu-nbd\) is installed on this machine/,
  );
});

async function tempIdentityFiles(): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir("/tmp")) {
    if (e.name.startsWith("virt-p2v-id.")) names.push(e.name);
  }
  return names.sort();
}

addEventListener("unload", () => {
  for (const s of servers) s.stopSync();
  Deno.removeSync(work, { recursive: true });
});
