/**
 * Before connecting unattended, give the boot image's network up to a bound
 * to come up (the original waits with `nm-online -t 30`).
 */

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** Any route through an interface other than `lo` means some network is up. */
async function hasRoute(procRoot: string): Promise<boolean> {
  try {
    const text = await Deno.readTextFile(`${procRoot}/proc/net/route`);
    return text.split("\n").slice(1).some((line) => {
      const iface = line.split(/\s+/)[0];
      return iface !== undefined && iface !== "" && iface !== "lo";
    });
  } catch {
    // No procfs: nothing to wait for.
    return true;
  }
}

/** Resolves `true` when the network looks up, `false` when the bound ran out (the caller goes on anyway). */
export async function waitForNetwork(
  server: string,
  timeoutMs: number,
  procRoot = "",
): Promise<boolean> {
  if (isLoopback(server)) return true;
  const deadline = Date.now() + timeoutMs;
  while (true) {
    if (await hasRoute(procRoot)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 500));
  }
}
