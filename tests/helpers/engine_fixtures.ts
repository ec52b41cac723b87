/** A machine and a configuration for running the engine on one image file. */
import type { HostFacts } from "../../src/collect/types.ts";
import type { Config } from "../../src/config/types.ts";

const GiB = 1024 * 1024 * 1024;

/** A one-CPU machine whose disks come from the configuration alone. */
export const ENGINE_FACTS: HostFacts = {
  disks: [],
  removable: [],
  interfaces: [],
  cpu: {
    acpi: true,
    apic: true,
    pae: true,
    topology: { sockets: 1, cores: 1, threads: 1 },
    onlineCpus: 1,
  },
  memory: GiB,
  rtc: { basis: "utc", offset: 0 },
  arch: "x86_64",
};

/** Converting `disk` to `-o local -os storage` on a server the test provides. */
export function engineConfig(
  opts: {
    name: string;
    disk: string;
    storage: string;
    reconnectSeconds: number;
    password?: string;
    /** p2v.channels; default 0 (chosen from the link). */
    channels?: number;
    /** p2v.bandwidth in Mbit/s; default 0 (no cap). */
    bandwidthMbit?: number;
    compress?: boolean;
  },
): Config {
  return {
    remote: { server: "conv.test", port: 22, hostKeys: [] },
    auth: { username: "p2v", password: opts.password, sudo: false },
    guestname: opts.name,
    vcpu: { physTopo: false, cores: 1 },
    memory: GiB,
    cpu: { acpi: true, apic: true, pae: true },
    rtc: { basis: "utc", offset: 0 },
    disks: [opts.disk],
    removable: [],
    interfaces: [],
    networkMap: [],
    output: { type: "local", storage: opts.storage, misc: [] },
    skipTestConnection: false,
    dumpConfigAndExit: false,
    nbd: ["builtin"],
    reconnectSeconds: opts.reconnectSeconds,
    channels: opts.channels ?? 0,
    bandwidthMbit: opts.bandwidthMbit ?? 0,
    compress: opts.compress ?? true,
    stage: { step: "none", dir: undefined, keep: false },
  };
}

/** A directory holding the stub virt-v2v, to put first on the "server's" PATH. */
export async function stubVirtV2vDir(parent: string, conf = ""): Promise<string> {
  const dir = `${parent}/bin`;
  await Deno.mkdir(dir);
  await Deno.copyFile(new URL("../fixtures/stub-virt-v2v", import.meta.url), `${dir}/virt-v2v`);
  await Deno.chmod(`${dir}/virt-v2v`, 0o755);
  if (conf !== "") await Deno.writeTextFile(`${dir}/stub.conf`, conf);
  return dir;
}
