/**
 * Which libvirt network a physical interface is attached to in the guest
 * (`p2v.network_map` in docs/virt-p2v.1).
 */

import type { NetworkMapEntry } from "../config/types.ts";

/** The target used when no entry of the map applies to an interface. */
export const DEFAULT_NETWORK = "default";

/**
 * Look `iface` up in `map`. Entries are tried in order; the first one that
 * names this interface (`IFACE:target`) or names no interface at all (a bare
 * `target`, which applies to every interface) decides. Nothing matching
 * means `default`.
 *
 * So `other,em1:x` sends `em1` to `other`: the bare entry comes first.
 */
export function networkTarget(map: readonly NetworkMapEntry[], iface: string): string {
  for (const entry of map) {
    if (entry.iface === undefined || entry.iface === iface) return entry.target;
  }
  return DEFAULT_NETWORK;
}
