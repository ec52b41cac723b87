/**
 * What is doubtful about a selection of disks, as warnings: the user may know
 * better, so nothing here refuses. Unattended mode prints them before it
 * connects; the dialog shows the group warnings under its disk list (its
 * rows already keep the running system's disks and a LUN's other paths out).
 */
import type { HostFacts } from "../collect/types.ts";
import type { StageStep } from "./types.ts";
import { partialGroupMessage, partialGroups } from "./disk_groups.ts";

/** One sentence for each doubtful point of converting `selected` (`sda` or `/dev/sda`). */
export function diskSelectionWarnings(
  facts: HostFacts,
  selected: readonly string[],
  step: StageStep = "none",
): string[] {
  const names = selected.map((d) => d.startsWith("/dev/") ? d.slice(5) : d);
  const warnings: string[] = [];
  // A pre-copy is meant to read the running system; its cutover makes the copy consistent.
  const running = step === "precopy" ? [] : facts.runningSystem ?? [];
  for (const disk of running) {
    if (names.includes(disk.name)) {
      warnings.push(
        `${disk.name} holds the running system: it changes while it is copied, so the ` +
          "guest may not boot; converting it as asked",
      );
    }
  }
  for (const disk of [...facts.disks, ...(facts.bootMedium ?? [])]) {
    const paths = [disk.name, ...(disk.otherPaths ?? [])].filter((p) => names.includes(p));
    if (paths.length > 1) {
      warnings.push(
        `${paths.join(" and ")} are paths to one LUN, which would be converted ` +
          `${
            paths.length === 2 ? "twice" : `${paths.length} times`
          }; name one of them in p2v.disks`,
      );
    }
  }
  for (const partial of partialGroups(facts.diskGroups, names)) {
    warnings.push(partialGroupMessage(partial));
  }
  return warnings;
}
