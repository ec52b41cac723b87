/**
 * KVM's limits on a guest, as the original warns about them. Going over one
 * is a warning, not a refusal: a newer KVM may allow more. The settings
 * screen says it under the field, the summary before the conversion says it
 * again, in the same words.
 */
import type { CpuTopology } from "../collect/types.ts";
import type { Config } from "./types.ts";

export const MAX_SUPPORTED_VCPUS = 160;
export const MAX_SUPPORTED_MEMORY = 4000 * 2 ** 30;

export const TOO_MANY_VCPUS =
  `More than KVM supports (${MAX_SUPPORTED_VCPUS}); the guest may not work.`;
export const TOO_MUCH_MEMORY = "More than KVM supports (4000G); the guest may not work.";

/** The guest's vCPUs: the host's sockets × cores × threads with `physTopo`, else `cores`. */
export function guestVcpus(config: Pick<Config, "vcpu">, host: CpuTopology): number {
  return config.vcpu.physTopo ? host.sockets * host.cores * host.threads : config.vcpu.cores;
}
