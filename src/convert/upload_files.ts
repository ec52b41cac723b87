/** The files uploaded into the remote directory (SPEC §6 step 3). Pure. */

import { PROGRAM, VERSION } from "../version.ts";
import { WRAPPER_SCRIPT } from "./wrapper_script.ts";

export interface RemoteFile {
  /** Name inside the remote directory. */
  name: string;
  content: string | Uint8Array;
  /** Permission bits (`0o644`, `0o755`). */
  mode: number;
  /** A failed upload of a required file ends the conversion. */
  required: boolean;
}

/** The diagnostics captured before conversion, in upload order. */
export const DIAGNOSTIC_FILES = ["dmesg", "lscpu", "lspci", "lsscsi", "lsusb"] as const;
export type DiagnosticName = typeof DIAGNOSTIC_FILES[number];

export interface RemoteFilesInput {
  guestname: string;
  /** Output of `buildPhysicalXml`. */
  physicalXml: string;
  /** Output of `buildWrapperScript`. */
  wrapperScript: string;
  /**
   * Captured tool outputs by file name (`dmesg`, `lscpu`, `lspci`, `lsscsi`,
   * `lsusb`); missing (`undefined`) ones are skipped, other names ignored.
   */
  diagnostics: Record<string, string | Uint8Array | undefined>;
}

/**
 * What to upload, in order: the required `name`, `physical.xml` and
 * `virt-v2v-wrapper.sh` (executable), then best-effort diagnostics and
 * `p2v-version`.
 */
export function buildRemoteFiles(input: RemoteFilesInput): RemoteFile[] {
  const files: RemoteFile[] = [
    { name: "name", content: `${input.guestname}\n`, mode: 0o644, required: true },
    { name: "physical.xml", content: input.physicalXml, mode: 0o644, required: true },
    { name: WRAPPER_SCRIPT, content: input.wrapperScript, mode: 0o755, required: true },
  ];
  for (const name of DIAGNOSTIC_FILES) {
    const content = Object.hasOwn(input.diagnostics, name) ? input.diagnostics[name] : undefined;
    if (content !== undefined) files.push({ name, content, mode: 0o644, required: false });
  }
  files.push({
    name: "p2v-version",
    content: `${PROGRAM} ${VERSION}\n`,
    mode: 0o644,
    required: false,
  });
  return files;
}
