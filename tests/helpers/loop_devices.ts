/**
 * Loop devices over sparse files under the test process's root, so that
 * tests can build volume groups and arrays without touching a real disk.
 * Detached when the test ends; the suite's cleanup detaches them too if the
 * test process dies first (their files are under its root).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./cleanup.ts";
import { run, waitFor } from "./process.ts";

export interface LoopSpec {
  sizeMiB: number;
  /** Partitions to create, as sfdisk lines (`start=2048, size=40960`); none means a bare disk. */
  partitions?: string[];
}

export interface LoopDevice {
  /** `/dev/loop3`. */
  path: string;
  /** `loop3`. */
  name: string;
  /** `/dev/loop3p1`, … in the order of the spec. */
  partitions: string[];
}

export async function withLoopDevices<T>(
  specs: LoopSpec[],
  use: (devices: LoopDevice[]) => Promise<T>,
): Promise<T> {
  const dir = await tempDir({ prefix: "p2v-loop-" });
  const devices: LoopDevice[] = [];
  try {
    for (const [i, spec] of specs.entries()) {
      const file = join(dir, `disk${i}.img`);
      await run("truncate", ["-s", `${spec.sizeMiB}M`, file]);
      if (spec.partitions) {
        await run("sfdisk", ["-q", file], { stdin: spec.partitions.join("\n") + "\n" });
      }
      const path = (await run("losetup", ["-f", "--show", file])).stdout.trim();
      const name = path.replace(/^\/dev\//, "");
      devices.push({ path, name, partitions: [] });
      if (spec.partitions) {
        // A loop device may keep the partitions of its previous file, which
        // then overlap the new ones: drop them all, then add this table's.
        await run("partx", ["-d", path], { check: false });
        await run("partx", ["-a", path]);
        devices[i].partitions = spec.partitions.map((_, n) => `${path}p${n + 1}`);
        await waitFor(
          () => devices[i].partitions.every((p) => existsSync(p)),
          5000,
          `the partitions of ${path}`,
        );
      }
    }
    return await use(devices);
  } finally {
    for (const d of devices) {
      // Detaching leaves the partitions behind unless they are deleted first.
      if (d.partitions.length > 0) await run("partx", ["-d", d.path], { check: false });
      await run("losetup", ["-d", d.path], { check: false });
    }
    await Deno.remove(dir, { recursive: true });
  }
}
