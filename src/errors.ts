/**
 * A failure the user can act on. `message` is ONE line that says what failed
 * and what to do; `main` prints it as `virt-p2v: error: MESSAGE` (or with the
 * prefix in `prefix`) and exits with `exitCode`, never with a stack trace.
 */
export class UserError extends Error {
  readonly exitCode: number;
  /** Replaces the default `error: ` part, e.g. `error opening control connection to H:P: `. */
  readonly prefix: string;

  constructor(
    message: string,
    options: { exitCode?: number; prefix?: string; cause?: unknown } = {},
  ) {
    super(oneLine(message), { cause: options.cause });
    this.name = "UserError";
    this.exitCode = options.exitCode ?? 1;
    this.prefix = options.prefix ?? "error: ";
  }
}

/** A bad value or option on a command line. */
export class ConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Collapse whitespace runs (including newlines) so a message is always one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, " ").trim();
}

/** The text of any thrown value, for wrapping into a UserError. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return oneLine(err.message);
  return oneLine(String(err));
}
