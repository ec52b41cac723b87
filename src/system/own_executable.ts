/**
 * The single executable this program runs from, to copy to the conversion
 * server, where its server side (the disk fan-out) runs from the same file.
 *
 * Started from the single file, the launcher names it in VIRT_P2V_SELF.
 * Started from the sources (`deno task start`, the tests), it is the file
 * `./build.sh` last made, dist/virt-p2v, when there is one.
 */
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

export interface OwnExecutable {
  path: string;
  size: number;
  /** Hex SHA-256 of its content: the name it is cached under on the server. */
  sha256: string;
}

/** dist/virt-p2v of the source tree, when this module runs from one (not from a bundle). */
const BUILT_FILE = import.meta.url.startsWith("file:") &&
    import.meta.url.endsWith("/src/system/own_executable.ts")
  ? fileURLToPath(new URL("../../dist/virt-p2v", import.meta.url))
  : undefined;

/** Where the single executable is, when there is one; undefined otherwise. */
export function ownExecutablePath(env: (name: string) => string | undefined): string | undefined {
  const self = env("VIRT_P2V_SELF");
  const candidates = [
    ...(self ? [self] : []),
    ...(BUILT_FILE ? [BUILT_FILE] : []),
  ];
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* gone, or never built: try the next */ }
  }
  return undefined;
}

/** Reads and hashes the executable; undefined when it cannot be read. */
export async function loadOwnExecutable(
  env: (name: string) => string | undefined,
): Promise<{ info: OwnExecutable; content: Uint8Array } | undefined> {
  const path = ownExecutablePath(env);
  if (path === undefined) return undefined;
  try {
    const content = await Deno.readFile(path);
    const sha256 = createHash("sha256").update(content).digest("hex");
    return { info: { path, size: content.length, sha256 }, content };
  } catch {
    return undefined;
  }
}
