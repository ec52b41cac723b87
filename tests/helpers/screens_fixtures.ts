/**
 * Shared fixtures of the screen tests (a machine with two disks, a DVD drive
 * and two NICs; fake engine functions). No tests here: importing a file
 * with tests would run them again in every importer.
 */
import type { HostFacts } from "../../src/collect/types.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import type { Config } from "../../src/config/types.ts";
import type { DialogDeps, DialogModel, NetworkStatus } from "../../src/screens/model.ts";
import type { ViewContext } from "../../src/screens/ui.ts";

const GiB = 2 ** 30;

export function sampleFacts(): HostFacts {
  return {
    disks: [
      { name: "sda", sizeBytes: 256 * GiB, model: "Samsung SSD 860", serial: "S3Z9NB0K123456" },
      { name: "nvme0n1", sizeBytes: 1024 * GiB, model: "WDC WDS100T2B0C", serial: "20123A801234" },
    ],
    removable: [{ name: "sr0", model: "HL-DT-ST DVDRAM GH24NSD1" }],
    interfaces: [
      { name: "eno1", mac: "3c:ec:ef:12:34:56" },
      { name: "wlp3s0", mac: "a4:c3:f0:aa:bb:cc" },
    ],
    cpu: {
      vendor: "Intel",
      acpi: true,
      apic: true,
      pae: true,
      topology: { sockets: 1, cores: 4, threads: 2 },
      onlineCpus: 8,
    },
    memory: 16 * GiB,
    rtc: { basis: "utc", offset: 0 },
    hostname: "fileserver",
    arch: "x86_64",
  };
}

export function sampleConfig(facts = sampleFacts()): Config {
  return resolveConfig(
    { port: 22, username: "root", identityUrl: "file:///root/.ssh/id_p2v", outputType: "local" },
    facts,
    { fromProcCmdline: false, isRoot: true },
  );
}

/** What the sample machine gets with no `p2v.*` key (the dialog model's `detected`). */
export function sampleDetected(facts = sampleFacts()): Config {
  return resolveConfig({}, facts, { fromProcCmdline: false, isRoot: true });
}

export function fakeDeps(over: Partial<DialogDeps> = {}): DialogDeps {
  return {
    version: "2.0.0",
    iso: false,
    fixedDisks: false,
    testConnection: () => Promise.reject(new Error("not in this test")),
    convert: () => new Promise(() => {}),
    refreshFacts: () => Promise.resolve(sampleFacts()),
    network: {
      status: () => Promise.resolve(sampleNetwork()),
      dhcp: () => Promise.resolve({ ok: true, log: [] }),
      setStatic: () => Promise.resolve({ ok: true, log: [] }),
    },
    runShell: () => Promise.resolve(),
    powerOff: () => Promise.resolve(),
    reboot: () => Promise.resolve(),
    ...over,
  };
}

export function sampleNetwork(): NetworkStatus {
  return {
    interfaces: [
      { name: "lo", state: "UNKNOWN", addresses: ["127.0.0.1/8", "::1/128"] },
      {
        name: "eno1",
        state: "UP",
        mac: "3c:ec:ef:12:34:56",
        addresses: ["192.168.10.23/24", "fe80::3eec:efff:fe12:3456/64"],
      },
      { name: "wlp3s0", state: "DOWN", addresses: [] },
    ],
    defaultRoutes: ["default via 192.168.10.1 dev eno1 proto dhcp src 192.168.10.23 metric 100"],
    dns: ["192.168.10.1"],
    dhcpClient: "dhclient",
    hasIp: true,
    problems: [],
  };
}

export function fakeCtx<R>(clock: { t: number }): ViewContext<R> {
  return { invalidate() {}, finish() {}, now: () => clock.t };
}

/** The dialog's model for a machine and a configuration (by default the sample machine's). */
export function sampleModel(facts = sampleFacts(), config = sampleConfig(facts)): DialogModel {
  return { config, detected: sampleDetected(facts), facts };
}
