/** The files uploaded into the remote directory (FILES in docs/virt-p2v.1). Pure. */

import { DIAGNOSTIC_COMMANDS } from "../collect/diagnostics.ts";
import { PROGRAM, VERSION } from "../version.ts";
import { redactSecrets } from "./redact_secrets.ts";
import { JOB_SCRIPT, WRAPPER_SCRIPT } from "./remote_dir.ts";

export interface RemoteFile {
  /** Name inside the remote directory. */
  name: string;
  content: string | Uint8Array;
  /** Permission bits: 0o600, or 0o700 for the wrapper. Nothing is for other users. */
  mode: number;
  /** A failed upload of a required file ends the conversion. */
  required: boolean;
}

export interface RemoteFilesInput {
  guestname: string;
  /** Output of `buildPhysicalXml`. */
  physicalXml: string;
  /** Output of `buildWrapperScript`. */
  wrapperScript: string;
  /** Output of `buildJobScript`, for a conversion that can survive a dropped link. */
  jobScript?: string;
  /**
   * Captured tool outputs by name (`dmesg`, `lscpu`, …); missing
   * (`undefined`) ones are skipped, other names ignored.
   */
  diagnostics: Record<string, string | undefined>;
  /** Values that must not appear in what is uploaded (the password). */
  secrets: readonly string[];
}

/**
 * What to upload, in order: the required `name`, `physical.xml` and
 * `virt-v2v-wrapper.sh`, then best-effort diagnostics — with every
 * password removed — and `p2v-version`.
 */
export function buildRemoteFiles(input: RemoteFilesInput): RemoteFile[] {
  const files: RemoteFile[] = [
    { name: "name", content: `${input.guestname}\n`, mode: 0o600, required: true },
    { name: "physical.xml", content: input.physicalXml, mode: 0o600, required: true },
    { name: WRAPPER_SCRIPT, content: input.wrapperScript, mode: 0o700, required: true },
  ];
  if (input.jobScript !== undefined) {
    files.push({ name: JOB_SCRIPT, content: input.jobScript, mode: 0o700, required: true });
  }
  for (const [name] of DIAGNOSTIC_COMMANDS) {
    const content = Object.hasOwn(input.diagnostics, name) ? input.diagnostics[name] : undefined;
    if (content !== undefined) {
      files.push({
        name,
        content: redactSecrets(content, input.secrets),
        mode: 0o600,
        required: false,
      });
    }
  }
  files.push({
    name: "p2v-version",
    content: `${PROGRAM} ${VERSION}\n`,
    mode: 0o600,
    required: false,
  });
  return files;
}
