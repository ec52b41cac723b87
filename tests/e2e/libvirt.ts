/**
 * A real libvirtd for the `-o libvirt` end-to-end test: the system daemon
 * (qemu:///system, as on a conversion server where root runs virt-v2v), with
 * a directory pool and a network of names no default install has, removed
 * again afterwards. The test machines run no init system that would start
 * libvirtd, so it is started here when it is not already answering, and
 * stopped again if it was.
 */
import { join } from "node:path";
import { run } from "../helpers/process.ts";
import { tempDir } from "../helpers/cleanup.ts";

export const LIBVIRT_URI = "qemu:///system";

export interface TestLibvirt {
  pool: string;
  /** The pool's directory: where virt-v2v writes the guest's volumes. */
  poolDir: string;
  network: string;
  virsh(...args: string[]): Promise<string>;
  /** Whether a domain of that name is defined. */
  defined(name: string): Promise<boolean>;
  /** Define the domain of a libvirt XML file, as a TCG (`type='qemu'`) domain. */
  defineAsTcg(xmlFile: string): Promise<void>;
  /** Undefine what the test made (the domain `guest`, its volumes, pool, network); stop a daemon we started. */
  stop(guest: string): Promise<void>;
}

async function virsh(...args: string[]): Promise<string> {
  return (await run("virsh", ["-c", LIBVIRT_URI, "-q", ...args])).stdout;
}

/** Whether this machine can run KVM guests (libvirt then defines `type='kvm'` domains). */
export async function kvmUsable(): Promise<boolean> {
  try {
    (await Deno.open("/dev/kvm", { read: true, write: true })).close();
    return true;
  } catch {
    return false;
  }
}

async function answering(): Promise<boolean> {
  return (await run("virsh", ["-c", LIBVIRT_URI, "version"], { check: false })).code === 0;
}

export async function startLibvirt(): Promise<TestLibvirt> {
  let pidFile: string | undefined;
  if (!await answering()) {
    const dir = await tempDir({ prefix: "p2v-libvirtd." });
    pidFile = join(dir, "libvirtd.pid");
    await run("libvirtd", ["--daemon", "--pid-file", pidFile]);
    const deadline = Date.now() + 30_000;
    while (!await answering()) {
      if (Date.now() > deadline) throw new Error("libvirtd did not answer within 30 s");
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const tag = crypto.randomUUID().slice(0, 8);
  const pool = `p2v-e2e-pool-${tag}`;
  const network = `p2v-e2e-net-${tag}`;
  const poolDir = await tempDir({ prefix: "p2v-pool." });
  await virsh("pool-define-as", pool, "dir", "--target", poolDir);
  await virsh("pool-start", pool);
  const netXml = join(poolDir, "..", `${network}.xml`);
  // Defined, not started: a domain may name a network that is not running.
  await Deno.writeTextFile(
    netXml,
    `<network><name>${network}</name><bridge name="p2v${tag.slice(0, 6)}"/></network>\n`,
  );
  await virsh("net-define", netXml);
  await Deno.remove(netXml);
  return {
    pool,
    poolDir,
    network,
    virsh,
    async defined(name: string) {
      return (await run("virsh", ["-c", LIBVIRT_URI, "dominfo", name], { check: false })).code ===
        0;
    },
    async defineAsTcg(xmlFile: string) {
      const xml = await Deno.readTextFile(xmlFile);
      const tcg = join(poolDir, "..", `${tag}-tcg.xml`);
      await Deno.writeTextFile(tcg, xml.replace(/<domain type=['"]kvm['"]/, "<domain type='qemu'"));
      await virsh("define", tcg);
      await Deno.remove(tcg);
    },
    async stop(guest: string) {
      const quiet = (...args: string[]) =>
        run("virsh", ["-c", LIBVIRT_URI, "-q", ...args], { check: false });
      await quiet("undefine", guest, "--nvram");
      await quiet("undefine", guest);
      await quiet("pool-destroy", pool);
      await quiet("pool-undefine", pool);
      await quiet("net-undefine", network);
      await Deno.remove(poolDir, { recursive: true }).catch(() => {});
      if (pidFile) {
        const pid = Number((await Deno.readTextFile(pidFile).catch(() => "")).trim());
        if (pid > 0) {
          try {
            Deno.kill(pid, "SIGTERM");
          } catch { /* gone */ }
        }
      }
    },
  };
}
