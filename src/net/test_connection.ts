/**
 * The part of the test connection that is about the SSH session itself:
 * whether the server lets us open the reverse forwards the disks travel
 * through. (What its virt-v2v can do is asked in convert/virt_v2v_probe.ts.)
 */
import type { RemoteSession } from "./session.ts";

/** Open and cancel one reverse forward, so a server with forwarding disabled fails early. */
export async function checkReverseForwarding(session: RemoteSession): Promise<void> {
  const forward = await session.forwardIn((channel) => channel.destroy());
  await session.unforwardIn(forward);
}
