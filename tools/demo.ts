/**
 * `deno task demo`: a whole conversion on this one machine, to see the
 * program work before pointing it at a real one.
 *
 * It brings up a conversion server here — an sshd on a loopback port with
 * keys of its own, and Debian's real virt-v2v — makes (once, then reuses) a
 * small Debian guest disk with the end-to-end suite's builder, and converts
 * that disk through the program: the dialog on this terminal, or unattended
 * with --unattended (or when there is no terminal). The converted guest stays
 * in DEMO_DIR; everything started for the conversion is stopped, also on
 * Ctrl-C. Runs as root: it installs packages and builds the guest.
 *
 *   deno task demo [--unattended] [--boot]
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startSshd, type TestSshd } from "../tests/helpers/sshd.ts";
import { bootToLogin, installRealVirtV2v } from "../tests/e2e/support.ts";

/** Where the converted guest is left for the user. */
const DEMO_DIR = "/var/tmp/virt-p2v-demo";
const GUEST_NAME = "p2v-demo";
const GUEST_HOSTNAME = "p2v-e2e-guest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const USAGE = "usage: deno task demo [--unattended] [--boot]";

interface DemoOptions {
  /** No dialog: the conversion runs from p2v.* keys. */
  unattended: boolean;
  /** After the conversion, boot the converted guest to its login prompt. */
  boot: boolean;
}

class DemoError extends Error {}

function parseArgs(args: string[]): DemoOptions {
  const options: DemoOptions = {
    unattended: !Deno.stdin.isTerminal() || !Deno.stdout.isTerminal(),
    boot: false,
  };
  for (const arg of args) {
    // `deno task demo -- --unattended` passes the `--` on.
    if (arg === "--") continue;
    if (arg === "--unattended") options.unattended = true;
    else if (arg === "--boot") options.boot = true;
    else if (arg === "--help" || arg === "-h") {
      console.log(USAGE);
      Deno.exit(0);
    } else throw new DemoError(`unknown option ${arg}; ${USAGE}`);
  }
  return options;
}

function say(text: string): void {
  console.log(`demo: ${text}`);
}

/** Run a setup script of the repository with our output shown; its last stdout line is returned. */
async function runScript(path: string, what: string): Promise<string> {
  const child = new Deno.Command(join(ROOT, path), {
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = new TextDecoder().decode((await child.output()).stdout);
  const status = await child.status;
  if (!status.success) {
    throw new DemoError(`${what} failed (${path} exited with status ${status.code})`);
  }
  Deno.stdout.writeSync(new TextEncoder().encode(out));
  return out.trimEnd().split("\n").pop() ?? "";
}

/** The virt-p2v command line that converts `image` into DEMO_DIR through `sshd`. */
function programArgs(sshd: TestSshd, image: string, options: DemoOptions): string[] {
  const keys = [
    `p2v.port=${sshd.port}`,
    "p2v.username=root",
    `p2v.identity=file://${sshd.userKeyPath}`,
    `p2v.name=${GUEST_NAME}`,
    "p2v.o=local",
    `p2v.os=${DEMO_DIR}`,
  ];
  const main = join(ROOT, "main.ts");
  const deno = ["run", "--allow-all", "--quiet", "--v8-flags=--max-semi-space-size=1", main];
  if (options.unattended) {
    return [...deno, `--cmdline=p2v.server=127.0.0.1 ${keys.join(" ")} p2v.disks=${image}`];
  }
  // Without p2v.server the dialog opens, with the other fields filled in.
  return [...deno, `--cmdline=${keys.join(" ")}`, `--test-disk=${image}`];
}

async function convert(sshd: TestSshd, image: string, options: DemoOptions): Promise<void> {
  await Deno.mkdir(DEMO_DIR, { recursive: true });
  // The previous demo's guest: virt-v2v does not write over it.
  for (const file of [`${GUEST_NAME}-sda`, `${GUEST_NAME}.xml`]) {
    await Deno.remove(join(DEMO_DIR, file)).catch(() => {});
  }
  if (!options.unattended) {
    say(
      `in the dialog, the conversion server is 127.0.0.1 (port ${sshd.port}); ` +
        "the other fields are filled in",
    );
  }
  const status = await new Deno.Command(Deno.execPath(), {
    args: programArgs(sshd, image, options),
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) {
    throw new DemoError(`no converted guest: virt-p2v exited with status ${status.code}`);
  }
  try {
    await Deno.stat(join(DEMO_DIR, `${GUEST_NAME}-sda`));
  } catch {
    throw new DemoError(`virt-p2v finished but ${DEMO_DIR}/${GUEST_NAME}-sda is not there`);
  }
}

function howToBoot(): string {
  const disk = join(DEMO_DIR, `${GUEST_NAME}-sda`);
  return [
    `the converted guest is in ${DEMO_DIR}: ${GUEST_NAME}-sda (its disk, raw) and ` +
    `${GUEST_NAME}.xml (its libvirt definition).`,
    "Boot it on the serial console (Ctrl-A X quits):",
    `  qemu-system-x86_64 -machine accel=kvm:tcg -m 1024 -nographic \\`,
    `    -drive file=${disk},format=raw,if=virtio,snapshot=on -nic user,model=virtio-net-pci`,
    `or through libvirt: virsh define ${DEMO_DIR}/${GUEST_NAME}.xml && virsh start ${GUEST_NAME}`,
  ].join("\n");
}

async function demo(options: DemoOptions): Promise<void> {
  if (Deno.uid() !== 0) {
    throw new DemoError(
      "run the demo as root (sudo deno task demo): it installs virt-v2v, builds a guest disk " +
        "and starts an sshd",
    );
  }
  say("installing virt-v2v and making the guest disk (once; later runs reuse both)");
  await runScript("tests/e2e/setup-e2e.sh", "setting up virt-v2v and the guest");
  const image = await runScript("tests/fixtures/make-guest.sh", "making the guest disk");
  say(`the machine to convert: ${image}`);
  const sshd = await startSshd({ rootLogin: true });
  try {
    await installRealVirtV2v(sshd);
    say(`conversion server: sshd on 127.0.0.1:${sshd.port}, real virt-v2v`);
    await convert(sshd, image, options);
  } finally {
    await sshd.stop();
  }
  say(howToBoot());
  if (options.boot) {
    say("booting the converted guest to its login prompt (a few minutes without KVM)");
    const seconds = await bootToLogin(join(DEMO_DIR, `${GUEST_NAME}-sda`), "raw", GUEST_HOSTNAME);
    say(`the converted guest reached its login prompt in ${seconds.toFixed(0)} s`);
  }
}

if (import.meta.main) {
  try {
    await demo(parseArgs(Deno.args));
  } catch (e) {
    console.error(`demo: error: ${e instanceof DemoError ? e.message : String(e)}`);
    Deno.exit(1);
  }
}
