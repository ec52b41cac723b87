/**
 * Network interfaces that the guest should get a NIC for. Only physical
 * naming schemes count (classic ethN, biosdevname emN, systemd enX/wlX):
 * loopback, bridges, bonds, tunnels and container veths are artefacts of
 * the running system, not hardware to recreate.
 */

import { join } from "node:path";
import type { InterfaceInfo } from "./types.ts";
import { compareNames, listDir, readAttr } from "./sysfs.ts";

const PREFIXES = ["em", "en", "eth", "wl"];

/** libvirt's `<mac address=…>` needs a 6-byte Ethernet address. */
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export async function findInterfaces(root = "/"): Promise<InterfaceInfo[]> {
  const netDir = join(root, "sys/class/net");
  const names = (await listDir(netDir))
    .filter((n) => PREFIXES.some((p) => n.startsWith(p)))
    .sort(compareNames);
  const result: InterfaceInfo[] = [];
  for (const name of names) {
    const info: InterfaceInfo = { name };
    const mac = normaliseMac(await readAttr(join(netDir, name, "address")));
    if (mac !== undefined) info.mac = mac;
    result.push(info);
  }
  return result;
}

/** Lowercase MAC, or undefined when absent, malformed or all zeros (no real address). */
export function normaliseMac(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const mac = text.trim().toLowerCase();
  if (!MAC_RE.test(mac) || mac === "00:00:00:00:00:00") return undefined;
  return mac;
}
