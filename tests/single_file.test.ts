/**
 * dist/virt-p2v, the single file `./build.sh` makes, where users put it: a
 * root holding nothing but busybox-static's busybox (and its applet links)
 * and that file, entered with chroot, with the host's /dev, /proc, /sys and
 * loopback network. It shows its version and what it carries, dumps its
 * configuration, and converts a small image into the test sshd,
 * byte-identical. A damaged copy is refused in one line.
 *
 * The mounts live in a mount namespace of their own (unshare -m): they vanish
 * with the run, however the test ends.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { OWNER_VAR, tempDir } from "./helpers/cleanup.ts";
import { makeDenseImage, MiB } from "./helpers/images.ts";
import { run, sha256File } from "./helpers/process.ts";
import { startSshd, TEST_USER } from "./helpers/sshd.ts";
import { installStubVirtV2v, makeOutputDir } from "./helpers/stub_server.ts";

const HERE = fileURLToPath(new URL("..", import.meta.url));
const BUSYBOX = "/bin/busybox";

// The file as users get it, built from this tree.
await run(join(HERE, "build.sh"), [], { cwd: HERE });
const SINGLE = join(HERE, "dist", "virt-p2v");

/** A root with busybox, its applets and the single file as /usr/bin/virt-p2v. */
async function busyboxRoot(): Promise<string> {
  const root = await tempDir({ prefix: "p2v-busybox-root." });
  for (const dir of ["bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp"]) {
    await Deno.mkdir(join(root, dir), { recursive: true });
  }
  await Deno.chmod(join(root, "tmp"), 0o1777);
  await Deno.copyFile(BUSYBOX, join(root, "bin", "busybox"));
  await Deno.chmod(join(root, "bin", "busybox"), 0o755);
  await run("chroot", [root, "/bin/busybox", "--install", "-s"]);
  await Deno.copyFile(SINGLE, join(root, "usr", "bin", "virt-p2v"));
  await Deno.chmod(join(root, "usr", "bin", "virt-p2v"), 0o755);
  return root;
}

/** Runs `virt-p2v ARGS` inside `root`, with nothing of the host's environment. */
function inRoot(root: string, args: string[]) {
  const script = 'mount --rbind /dev "$0/dev" && mount -t proc proc "$0/proc" && ' +
    'mount --rbind /sys "$0/sys" && exec chroot "$0" /usr/bin/virt-p2v "$@"';
  return run(
    "unshare",
    ["--mount", "--propagation", "private", "sh", "-c", script, root, ...args],
    {
      check: false,
      env: {
        PATH: "/usr/bin:/bin:/usr/sbin:/sbin",
        HOME: "/",
        NO_COLOR: "1",
        [OWNER_VAR]: Deno.env.get(OWNER_VAR) ?? "",
      },
      clearEnv: true,
    },
  );
}

/** What one process running inside the test root looked like at one moment. */
interface Snapshot {
  name: string;
  /** What its descriptors are (readlink of /proc/PID/fd/N). */
  fds: string[];
  /** The files it maps. */
  maps: string[];
}

/** The processes running inside `root` (by /proc/PID/root). */
async function processesIn(root: string): Promise<Snapshot[]> {
  const found: Snapshot[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const proc = `/proc/${entry.name}`;
    try {
      if (await Deno.readLink(`${proc}/root`) !== root) continue;
      const snapshot: Snapshot = {
        name: (await Deno.readTextFile(`${proc}/comm`)).trim(),
        fds: [],
        maps: [],
      };
      for await (const fd of Deno.readDir(`${proc}/fd`)) {
        snapshot.fds.push(await Deno.readLink(`${proc}/fd/${fd.name}`).catch(() => ""));
      }
      for (const line of (await Deno.readTextFile(`${proc}/maps`)).split("\n")) {
        const path = line.split(/\s+/).slice(5).join(" ");
        if (path.startsWith("/")) snapshot.maps.push(path);
      }
      found.push(snapshot);
    } catch { /* gone, or not ours to read */ }
  }
  return found;
}

Deno.test("the single file runs in a busybox-only root: version, dump, and a conversion", async () => {
  const root = await busyboxRoot();
  // Nothing but busybox and the file: no glibc, no loader, no libcrypto.
  for (const absent of ["lib", "lib64", "usr/lib", "etc"]) {
    await assert.rejects(Deno.stat(join(root, absent)), `${absent} should not exist`);
  }

  const version = await inRoot(root, ["--version"]);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^virt-p2v \d+\.\d+\.\d+\n/);
  assert.match(
    version.stdout,
    /\nsingle file: virt-p2v .*deno \d+\.\d+\.\d+, glibc \d+\.\d+, OpenSSL 3\./,
  );

  const dump = await inRoot(root, [
    "--cmdline=p2v.server=conv.example.com p2v.port=2222 p2v.o=local p2v.dump_config_and_exit",
  ]);
  assert.equal(dump.code, 0, dump.stderr);
  assert.match(dump.stdout, /conv\.example\.com/);
  assert.match(dump.stdout, /2222/);

  const image = await makeDenseImage(root, "disk.img", 64 * MiB);
  const sshd = await startSshd();
  try {
    await installStubVirtV2v(sshd);
    const out = await makeOutputDir(sshd);
    await Deno.copyFile(sshd.userKeyPath, join(root, "key"));
    await Deno.chmod(join(root, "key"), 0o600);
    const seen: Snapshot[] = [];
    const watching = setInterval(() => processesIn(root).then((p) => seen.push(...p)), 100);
    const conversion = await inRoot(root, [
      "--cmdline=" + [
        "p2v.server=127.0.0.1",
        `p2v.port=${sshd.port}`,
        `p2v.username=${TEST_USER}`,
        "p2v.identity=file:///key",
        `p2v.os=${out}`,
        "p2v.name=busybox1",
        "p2v.disks=/disk.img",
      ].join(" "),
    ]).finally(() => clearInterval(watching));
    const shown = `\n${conversion.stdout}\n${conversion.stderr}`;
    assert.equal(conversion.code, 0, shown);
    assert.equal(await sha256File(join(out, "busybox1-sda")), await sha256File(image), shown);
    // Everything it ran on came from inside the file: the loader, glibc and
    // OpenSSL's libcrypto (the fast SSH ciphers), each an in-memory file. Once
    // running it is found by name (ps, pidof, killall), not as the loader's
    // "3", and has closed the launcher's in-memory files: nothing it starts
    // inherits them.
    const running = seen.filter((p) => p.maps.includes("/memfd:deno (deleted)"));
    assert.ok(running.length > 0, `never saw the program running: ${JSON.stringify(seen)}`);
    const maps = new Set(running.flatMap((p) => p.maps));
    for (const name of ["ld-linux-x86-64.so.2", "libc.so.6", "libcrypto.so.3", "deno"]) {
      assert.ok(maps.has(`/memfd:${name} (deleted)`), `${name} not mapped: ${[...maps]}`);
    }
    const named = running.filter((p) => p.name === "virt-p2v");
    assert.ok(named.length > 0, `names seen: ${running.map((p) => p.name)}`);
    for (const p of named) {
      assert.deepEqual(p.fds.filter((fd) => fd.startsWith("/memfd:")), [], "in-memory files open");
    }
  } finally {
    await sshd.stop();
  }
});

Deno.test("a damaged or truncated single file is refused in one line", async () => {
  const dir = await tempDir({ prefix: "p2v-damaged." });
  const whole = await Deno.readFile(SINGLE);
  const cases: [string, Uint8Array][] = [
    ["truncated", whole.subarray(0, whole.length - 1000)],
    [
      "flipped",
      (() => {
        const copy = whole.slice();
        copy[Math.floor(copy.length / 2)] ^= 0xff;
        return copy;
      })(),
    ],
  ];
  for (const [name, bytes] of cases) {
    const path = join(dir, name);
    await Deno.writeFile(path, bytes, { mode: 0o755 });
    const result = await run(path, ["--version"], { check: false });
    assert.notEqual(result.code, 0, `${name}: ${result.stdout}`);
    assert.equal(result.stdout, "", name);
    assert.match(
      result.stderr,
      /^[^\n]*damaged[^\n]*copy it again\n$/,
      `${name}: ${result.stderr}`,
    );
  }
});
