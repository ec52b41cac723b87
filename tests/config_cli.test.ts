import assert from "node:assert/strict";
import { ConfigError } from "../src/errors.ts";
import { longOptionList, parseCli, shortOptionList, usageText } from "../src/config/cli.ts";
import type { CliOptions } from "../src/config/types.ts";

const DEFAULTS: CliOptions = {
  help: false,
  version: false,
  colours: false,
  iso: false,
  verbose: false,
  longOptions: false,
  shortOptions: false,
};

function usageError(args: string[], mention: string): void {
  assert.throws(() => parseCli(args), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.ok(err.message.includes(mention), err.message);
    assert.ok(err.message.endsWith("try 'virt-p2v --help'"), err.message);
    assert.ok(!err.message.includes("\n"), err.message);
    assert.equal(err.exitCode, 1);
    return true;
  });
}

Deno.test("cli: no arguments gives all defaults", () => {
  assert.deepEqual(parseCli([]), DEFAULTS);
});

Deno.test("cli: every flag", () => {
  assert.deepEqual(parseCli(["--help"]), { ...DEFAULTS, help: true });
  assert.deepEqual(parseCli(["-V"]), { ...DEFAULTS, version: true });
  assert.deepEqual(parseCli(["--version"]), { ...DEFAULTS, version: true });
  assert.deepEqual(parseCli(["-v"]), { ...DEFAULTS, verbose: true });
  assert.deepEqual(parseCli(["--verbose"]), { ...DEFAULTS, verbose: true });
  assert.deepEqual(parseCli(["--iso"]), { ...DEFAULTS, iso: true });
  assert.deepEqual(parseCli(["--long-options"]), { ...DEFAULTS, longOptions: true });
  assert.deepEqual(parseCli(["--short-options"]), { ...DEFAULTS, shortOptions: true });
  for (const spelling of ["--colours", "--colors", "--colour", "--color"]) {
    assert.deepEqual(parseCli([spelling]), { ...DEFAULTS, colours: true }, spelling);
  }
});

Deno.test("cli: bundled short flags", () => {
  assert.deepEqual(parseCli(["-vV"]), { ...DEFAULTS, verbose: true, version: true });
});

Deno.test("cli: --cmdline with = or as the next argument", () => {
  assert.equal(parseCli(["--cmdline=p2v.server=a p2v.port=2"]).cmdline, "p2v.server=a p2v.port=2");
  assert.equal(parseCli(["--cmdline", "p2v.server=a"]).cmdline, "p2v.server=a");
  assert.equal(parseCli(["--cmdline="]).cmdline, "");
  assert.equal(parseCli(["--cmdline", "--iso"]).cmdline, "--iso");
  assert.equal(parseCli([]).cmdline, undefined);
});

Deno.test("cli: --test-disk takes an absolute path", () => {
  assert.equal(parseCli(["--test-disk=/var/tmp/d.img"]).testDisk, "/var/tmp/d.img");
  assert.equal(parseCli(["--test-disk", "/d.img", "-v"]).testDisk, "/d.img");
});

Deno.test("cli: a relative --test-disk is an error", () => {
  usageError(["--test-disk=disk.img"], '--test-disk: "disk.img" is not an absolute path');
  usageError(["--test-disk", "./disk.img"], "--test-disk");
  usageError(["--test-disk="], "--test-disk");
});

Deno.test("cli: --test-disk given twice is an error", () => {
  usageError(["--test-disk=/a.img", "--test-disk=/b.img"], "only one --test-disk");
});

Deno.test("cli: --cmdline given twice is an error", () => {
  usageError(["--cmdline=a", "--cmdline=b"], "only one --cmdline");
});

Deno.test("cli: unknown options are errors with a usage hint", () => {
  usageError(["--frobnicate"], "unknown option '--frobnicate'");
  usageError(["-x"], "unknown option '-x'");
  usageError(["-vx"], "unknown option '-x'");
  usageError(["--vers"], "unknown option '--vers'");
  usageError(["--colours=yes"], "'--colours' does not take a value");
});

Deno.test("cli: a missing option value is an error", () => {
  usageError(["--cmdline"], "'--cmdline' needs a value");
  usageError(["--test-disk"], "'--test-disk' needs a value");
});

Deno.test("cli: stray arguments are errors", () => {
  usageError(["sda"], 'unexpected argument "sda"');
  usageError(["--iso", "extra"], 'unexpected argument "extra"');
  usageError(["-"], 'unexpected argument "-"');
  usageError(["-v", "--", "x"], 'unexpected argument "x"');
  usageError(["--", "--", "x"], 'unexpected argument "x"');
  assert.deepEqual(parseCli(["-v", "--"]), { ...DEFAULTS, verbose: true });
});

Deno.test("cli: a leading -- (what deno task passes on) is skipped", () => {
  assert.deepEqual(parseCli(["--", "--help"]), { ...DEFAULTS, help: true });
  assert.deepEqual(parseCli(["--", "--cmdline=p2v.server=x", "-v"]), {
    ...DEFAULTS,
    cmdline: "p2v.server=x",
    verbose: true,
  });
  usageError(["--", "sda"], 'unexpected argument "sda"');
});

Deno.test("cli: option lists for shell completion, one option each", () => {
  assert.deepEqual(longOptionList(), [
    "--help",
    "--cmdline",
    "--color",
    "--colors",
    "--colour",
    "--colours",
    "--iso",
    "--test-disk",
    "--verbose",
    "--version",
  ]);
  assert.deepEqual(shortOptionList(), ["-V", "-v"]);
});

Deno.test("cli: the usage text mentions every option", () => {
  const text = usageText();
  for (const opt of [...longOptionList(), ...shortOptionList()]) {
    if (opt.startsWith("--colo")) continue;
    assert.ok(text.includes(opt), opt);
  }
  assert.ok(text.includes("--colours"));
  assert.ok(text.endsWith("\n"));
});
