/**
 * How a conversion ended, and the one line each ending gives the user
 * (SPEC §10): both views report outcomes through `outcomeError`.
 */
import type { Config } from "../config/types.ts";
import { UserError } from "../errors.ts";

export type ConversionOutcome =
  | { kind: "succeeded"; remoteDir: string; logFile: string }
  | {
    kind: "failed";
    /** "connect": the session or the test connection failed, before any conversion work. */
    stage: "connect" | "conversion";
    message: string;
    remoteDir?: string;
    logFile?: string;
  }
  | { kind: "cancelled"; remoteDir?: string; logFile?: string };

/** The error a finished run ends with, with SPEC's prefix; undefined for success. */
export function outcomeError(outcome: ConversionOutcome, config: Config): UserError | undefined {
  switch (outcome.kind) {
    case "succeeded":
      return undefined;
    case "cancelled":
      return new UserError("cancelled by user", { prefix: "error during conversion: " });
    case "failed":
      return new UserError(outcome.message, {
        prefix: outcome.stage === "connect"
          ? `error opening control connection to ${config.remote.server}:${config.remote.port}: `
          : "error during conversion: ",
      });
  }
}
