/**
 * The program's own command line (OPTIONS in docs/virt-p2v.1). Hand-rolled rather than
 * `node:util` parseArgs so that every mistake gets a one-line message with
 * the usage hint, and so that `--cmdline VALUE` and `--cmdline=VALUE` both
 * work exactly as with getopt.
 */

import { ConfigError } from "../errors.ts";
import { PROGRAM } from "../version.ts";
import type { CliOptions } from "./types.ts";

type Flag = "help" | "version" | "colours" | "iso" | "verbose" | "longOptions" | "shortOptions";
type WithValue = "cmdline" | "testDisk";

interface LongOption {
  readonly name: string;
  readonly sets: Flag | WithValue;
  readonly takesValue: boolean;
}

/** In the order the original lists them for shell completion. */
const LONG_OPTIONS: readonly LongOption[] = [
  { name: "help", sets: "help", takesValue: false },
  { name: "cmdline", sets: "cmdline", takesValue: true },
  { name: "color", sets: "colours", takesValue: false },
  { name: "colors", sets: "colours", takesValue: false },
  { name: "colour", sets: "colours", takesValue: false },
  { name: "colours", sets: "colours", takesValue: false },
  { name: "iso", sets: "iso", takesValue: false },
  { name: "long-options", sets: "longOptions", takesValue: false },
  { name: "short-options", sets: "shortOptions", takesValue: false },
  { name: "test-disk", sets: "testDisk", takesValue: true },
  { name: "verbose", sets: "verbose", takesValue: false },
  { name: "version", sets: "version", takesValue: false },
];

const SHORT_OPTIONS: Readonly<Record<string, Flag>> = { V: "version", v: "verbose" };

function usageError(message: string): ConfigError {
  return new ConfigError(`${message}: try '${PROGRAM} --help'`);
}

export function usageText(): string {
  return [
    `${PROGRAM}: convert a physical machine to run as a KVM guest`,
    "Usage:",
    `  ${PROGRAM} [--options]`,
    "Options:",
    "  --help                   Display brief help",
    "  --cmdline=CMDLINE        Read p2v.* settings from CMDLINE instead of /proc/cmdline",
    "  --colours|--colors       Use ANSI colours even when output is not a terminal",
    "  --iso                    Running in the boot image (enables shutdown/reboot)",
    "  --test-disk=/ABS/PATH    Use this image as the only disk (no removable drives)",
    "  -v|--verbose             More local debug output",
    "  -V|--version             Display version and exit",
    "  --long-options           List the long options, one a line",
    "  --short-options          List the short options, one a line",
    "Settings come from p2v.* keys of the kernel command line (or --cmdline);",
    "without p2v.server a dialog asks for them.",
    "Examples:",
    `  ${PROGRAM} --cmdline="p2v.server=conv.example.com p2v.o=local p2v.os=/var/tmp"`,
    "      convert this machine, unattended, into /var/tmp on conv.example.com",
    `  ${PROGRAM} --cmdline="p2v.server=conv.example.com p2v.dump_config_and_exit"`,
    "      print the settings that would be used, and exit",
    `  ${PROGRAM} --cmdline="p2v.username=root p2v.os=/var/tmp"`,
    "      start the dialog with these fields filled in",
    "PXE: APPEND initrd=p2v-initrd.img ip=dhcp p2v.server=conv.example.com \\",
    "       p2v.identity=file:///var/tmp/id_rsa p2v.o=local p2v.os=/var/tmp",
    `Every key, its default and more examples: man ${PROGRAM}`,
    `(in the source tree: man ./docs/${PROGRAM}.1)`,
    "",
  ].join("\n");
}

/** For shell completion; the two listing options themselves are left out, as in the original. */
export function longOptionList(): string[] {
  return LONG_OPTIONS
    .filter((o) => o.sets !== "longOptions" && o.sets !== "shortOptions")
    .map((o) => `--${o.name}`);
}

export function shortOptionList(): string[] {
  return Object.keys(SHORT_OPTIONS).map((c) => `-${c}`);
}

function checkTestDisk(path: string, previous: string | undefined): string {
  if (previous !== undefined) {
    throw usageError("--test-disk: only one --test-disk option can be given");
  }
  if (!path.startsWith("/")) {
    throw usageError(
      `--test-disk: ${
        JSON.stringify(path)
      } is not an absolute path: expected a path starting with /`,
    );
  }
  return path;
}

/**
 * Parses `args` (without the program name). Throws ConfigError for unknown
 * options, missing or unexpected option values, and stray arguments.
 * `--cmdline` given twice is an error too: silently dropping one of two
 * configurations is worse than refusing.
 */
export function parseCli(args: string[]): CliOptions {
  const opts: CliOptions = {
    help: false,
    version: false,
    colours: false,
    iso: false,
    verbose: false,
    longOptions: false,
    shortOptions: false,
  };

  const setValue = (which: WithValue, value: string): void => {
    if (which === "testDisk") {
      opts.testDisk = checkTestDisk(value, opts.testDisk);
    } else {
      if (opts.cmdline !== undefined) {
        throw usageError("--cmdline: only one --cmdline option can be given");
      }
      opts.cmdline = value;
    }
  };

  for (let i = 0; i < args.length; i++) {
    const arg = args[i];

    // `deno task start -- --help` hands the program its own `--` first:
    // skip that one; any later `--` ends the options as with getopt.
    if (arg === "--" && i === 0) continue;
    if (arg === "--") {
      if (i + 1 < args.length) {
        throw usageError(`unexpected argument ${JSON.stringify(args[i + 1])}`);
      }
      break;
    }

    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const inline = eq < 0 ? undefined : arg.slice(eq + 1);
      const option = LONG_OPTIONS.find((o) => o.name === name);
      if (option === undefined) throw usageError(`unknown option '--${name}'`);

      if (!option.takesValue) {
        if (inline !== undefined) {
          throw usageError(`option '--${name}' does not take a value`);
        }
        opts[option.sets as Flag] = true;
        continue;
      }

      let value = inline;
      if (value === undefined) {
        if (i + 1 >= args.length) throw usageError(`option '--${name}' needs a value`);
        value = args[++i];
      }
      setValue(option.sets as WithValue, value);
      continue;
    }

    if (arg.startsWith("-") && arg.length > 1) {
      // Bundled short flags (`-vV`) work as with getopt.
      for (const ch of arg.slice(1)) {
        const flag = SHORT_OPTIONS[ch];
        if (flag === undefined) throw usageError(`unknown option '-${ch}'`);
        opts[flag] = true;
      }
      continue;
    }

    throw usageError(`unexpected argument ${JSON.stringify(arg)}`);
  }

  return opts;
}
