/** Puts the stub virt-v2v on a test sshd's PATH, with its behaviour knobs. */
import { join } from "node:path";
import type { TestSshd } from "./sshd.ts";

export interface StubBehaviour {
  exitCode?: number;
  /** Sleep after copying, until killed: for cancel and link-loss tests. */
  hang?: boolean;
  versionLine?: string;
  features?: string[];
  /** Discard the data instead of writing it, and record the copy time (benchmarks). */
  copyToNull?: boolean;
  /** `--machine-readable` never answers. */
  machineReadableHangs?: boolean;
  /** Copy at this many bits per second (`16M`): slow enough for a fault to strike mid-copy. */
  rate?: string;
  /** Report success without reading the disks (what a conversion of someone else's disk looks like). */
  readNothing?: boolean;
  /**
   * How each disk is read: "nbdcopy" (default) reads the forwarded port with
   * nbdcopy's own connections; "virt-v2v" as virt-v2v 2.x does, one shared
   * connection per disk (`nbdkit --filter=cow nbd ... shared=true`) with
   * nbdcopy behind it.
   */
  input?: "nbdcopy" | "virt-v2v";
}

const STUB_SOURCE = new URL("../fixtures/stub-virt-v2v", import.meta.url);

export async function installStubVirtV2v(
  sshd: TestSshd,
  behaviour: StubBehaviour = {},
): Promise<void> {
  const target = join(sshd.binDir, "virt-v2v");
  await Deno.copyFile(STUB_SOURCE, target);
  await Deno.chmod(target, 0o755);
  const lines = [
    `STUB_EXIT=${behaviour.exitCode ?? 0}`,
    `STUB_HANG=${behaviour.hang ? 1 : 0}`,
    `STUB_COPY_TO=${behaviour.copyToNull ? "null" : "file"}`,
    `STUB_MR_HANG=${behaviour.machineReadableHangs ? 1 : 0}`,
    `STUB_RATE=${behaviour.rate ?? ""}`,
    `STUB_READ=${behaviour.readNothing ? 0 : 1}`,
    `STUB_INPUT=${behaviour.input ?? "nbdcopy"}`,
  ];
  if (behaviour.versionLine !== undefined) lines.push(`STUB_VERSION='${behaviour.versionLine}'`);
  if (behaviour.features) lines.push(`STUB_FEATURES='${behaviour.features.join("\n")}'`);
  await Deno.writeTextFile(join(sshd.binDir, "stub.conf"), lines.join("\n") + "\n");
}

/** A world-writable output directory (`-os`) inside the server's scratch dir. */
export async function makeOutputDir(sshd: TestSshd): Promise<string> {
  const dir = join(sshd.dir, "out");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.chmod(dir, 0o777);
  return dir;
}

/** A staging area on the server for warm conversions: shared, as /tmp is (sticky). */
export async function makeStagingArea(sshd: TestSshd): Promise<string> {
  const area = join(sshd.dir, "staging");
  await Deno.mkdir(area, { recursive: true });
  await Deno.chmod(area, 0o1777);
  return area;
}
