/**
 * How a conversion ended, and the one line each ending gives the user (see
 * EXIT STATUS in docs/virt-p2v.1): both views report outcomes through
 * `outcomeError`.
 */
import type { Config } from "../config/types.ts";
import { UserError } from "../errors.ts";

export type ConversionOutcome =
  | {
    kind: "succeeded";
    remoteDir: string;
    logFile: string;
    /** What was done, when it was not a conversion (a pre-copy, a listing). */
    summary?: string;
  }
  | {
    kind: "failed";
    /**
     * "disks": a disk to convert cannot be read, found before connecting;
     * "connect": the session or the test connection failed, before any
     * conversion work; "server": the login worked but the server cannot
     * convert (no virt-v2v for that user).
     */
    stage: "disks" | "connect" | "server" | "conversion";
    message: string;
    remoteDir?: string;
    logFile?: string;
  }
  | { kind: "cancelled"; remoteDir?: string; logFile?: string };

/**
 * The error a finished run ends with, with the prefix the original used for
 * a connection or a conversion failure; undefined for success.
 */
export function outcomeError(outcome: ConversionOutcome, config: Config): UserError | undefined {
  switch (outcome.kind) {
    case "succeeded":
      return undefined;
    case "cancelled":
      return new UserError("cancelled by user", { prefix: "error during conversion: " });
    case "failed":
      return new UserError(outcome.message, { prefix: failurePrefix(outcome.stage, config) });
  }
}

function failurePrefix(
  stage: "disks" | "connect" | "server" | "conversion",
  config: Config,
): string {
  const server = `${config.remote.server}:${config.remote.port}`;
  switch (stage) {
    case "connect":
      return `error opening control connection to ${server}: `;
    // The connection worked, or was never tried: naming it would send the user the wrong way.
    case "disks":
    case "server":
      return "error: ";
    case "conversion":
      return "error during conversion: ";
  }
}
