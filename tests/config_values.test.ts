import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../src/errors.ts";
import {
  formatNetworkMapEntry,
  parseBandwidth,
  parseBool,
  parseCores,
  parseIdentityUrl,
  parseList,
  parseNetworkMap,
  parseOutputAllocation,
  parsePort,
  parseRtcBasis,
  parseRtcOffset,
  parseSize,
} from "../src/config/values.ts";

/** Asserts a one-line ConfigError naming `key`, and returns its message. */
function configError(fn: () => unknown, key: string): string {
  let message = "";
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    message = err.message;
    return true;
  });
  assert.ok(message.startsWith(`${key}: `), message);
  assert.ok(!message.includes("\n"), message);
  return message;
}

Deno.test("values: booleans accept the documented words in any case", () => {
  for (const w of ["1", "true", "t", "yes", "y", "on", "TRUE", "Yes", "ON", "T"]) {
    assert.equal(parseBool("p2v.sudo", w), true, w);
  }
  for (const w of ["0", "false", "f", "no", "n", "off", "FALSE", "No", "OFF", "F"]) {
    assert.equal(parseBool("p2v.sudo", w), false, w);
  }
});

Deno.test("values: a bare boolean or an empty value means true", () => {
  assert.equal(parseBool("p2v.sudo", undefined), true);
  assert.equal(parseBool("p2v.sudo", ""), true);
});

Deno.test("values: a misspelt boolean is an error, not true", () => {
  const m = configError(() => parseBool("p2v.sudo", "flase"), "p2v.sudo");
  assert.match(m, /"flase" is not a valid boolean: expected /);
  configError(() => parseBool("p2v.cpu.acpi", "2"), "p2v.cpu.acpi");
});

Deno.test("values: ports", () => {
  assert.equal(parsePort("p2v.port", "22"), 22);
  assert.equal(parsePort("p2v.port", "1"), 1);
  assert.equal(parsePort("p2v.port", "65535"), 65535);
  assert.equal(parsePort("p2v.port", "0022"), 22);
  assert.equal(
    configError(() => parsePort("p2v.port", "abc"), "p2v.port"),
    'p2v.port: "abc" is not a valid port: expected a whole number from 1 to 65535',
  );
  for (const bad of ["0", "70000", "22abc", "", "-1", "2.5", " 22", "0x16"]) {
    configError(() => parsePort("p2v.port", bad), "p2v.port");
  }
  configError(() => parsePort("p2v.remote.port", undefined), "p2v.remote.port");
});

Deno.test("values: a bandwidth cap is whole Mbit/s, 0 for none, up to 100 Gbit/s", () => {
  assert.equal(parseBandwidth("p2v.bandwidth", "0"), 0);
  assert.equal(parseBandwidth("p2v.bandwidth", "250"), 250);
  assert.equal(parseBandwidth("p2v.bandwidth", "100000"), 100_000);
  for (const bad of ["-1", "fast", "10M", "100001", "2.5"]) {
    configError(() => parseBandwidth("p2v.bandwidth", bad), "p2v.bandwidth");
  }
});

Deno.test("values: vCPU count must be at least 1", () => {
  assert.equal(parseCores("p2v.vcpu.cores", "4"), 4);
  assert.equal(
    configError(() => parseCores("p2v.vcpu.cores", "0"), "p2v.vcpu.cores"),
    'p2v.vcpu.cores: "0" is not a valid number of vCPUs: expected a whole number of at least 1',
  );
  configError(() => parseCores("p2v.vcpu.cores", "-2"), "p2v.vcpu.cores");
  configError(() => parseCores("p2v.vcpu.cores", "4x"), "p2v.vcpu.cores");
  configError(() => parseCores("p2v.vcpu.cores", "99999999999"), "p2v.vcpu.cores");
});

Deno.test("values: sizes with binary and decimal units", () => {
  const GiB = 2 ** 30;
  assert.equal(parseSize("p2v.memory", "1G"), GiB);
  assert.equal(parseSize("p2v.memory", "1GiB"), GiB);
  assert.equal(parseSize("p2v.memory", "1GB"), 1e9);
  assert.equal(parseSize("p2v.memory", "1GD"), 1e9);
  assert.equal(parseSize("p2v.memory", "512M"), 512 * 2 ** 20);
  assert.equal(parseSize("p2v.memory", "4G"), 4 * GiB);
  assert.equal(parseSize("p2v.memory", "1024M"), GiB);
  assert.equal(parseSize("p2v.memory", "2k"), 2048);
  assert.equal(parseSize("p2v.memory", "2K"), 2048);
  assert.equal(parseSize("p2v.memory", "2kB"), 2000);
  assert.equal(parseSize("p2v.memory", "1T"), 2 ** 40);
  assert.equal(parseSize("p2v.memory", "1P"), 2 ** 50);
  assert.equal(parseSize("p2v.memory", "1MB"), 1e6);
});

Deno.test("values: a size without a unit is rejected with a hint", () => {
  const m = configError(() => parseSize("p2v.memory", "2048"), "p2v.memory");
  assert.match(m, /"2048" has no unit/);
  assert.match(m, /2048 is almost always meant as 2048M/);
  const m12 = configError(() => parseSize("p2v.memory", "12"), "p2v.memory");
  assert.match(m12, /"12" has no unit.*12G/);
});

Deno.test("values: malformed, zero and huge sizes are rejected", () => {
  for (const bad of ["", "G", "1.5G", "1g", "1m", "4 G", "1Gi", "1GiBx", "-1G", "0G", "0M", "8E"]) {
    configError(() => parseSize("p2v.memory", bad), "p2v.memory");
  }
});

Deno.test("values: lists keep empty items; an empty value is an empty list", () => {
  assert.deepEqual(parseList("sda,,sdb"), ["sda", "", "sdb"]);
  assert.deepEqual(parseList("sda"), ["sda"]);
  assert.deepEqual(parseList(""), []);
  assert.deepEqual(parseList(undefined), []);
  assert.deepEqual(parseList("a,"), ["a", ""]);
});

Deno.test("values: network map entries", () => {
  assert.deepEqual(parseNetworkMap("p2v.network", "em1:ovirtmgmt,em2:mgmt,other"), [
    { iface: "em1", target: "ovirtmgmt" },
    { iface: "em2", target: "mgmt" },
    { target: "other" },
  ]);
  assert.deepEqual(parseNetworkMap("p2v.network", "em1:a:b"), [{ iface: "em1", target: "a:b" }]);
  assert.deepEqual(parseNetworkMap("p2v.network", ""), []);
  for (const bad of ["em1:", ":x", "a,,b", ","]) {
    configError(() => parseNetworkMap("p2v.network", bad), "p2v.network");
  }
  assert.equal(formatNetworkMapEntry({ iface: "em1", target: "x" }), "em1:x");
  assert.equal(formatNetworkMapEntry({ target: "x" }), "x");
});

Deno.test("values: RTC offset in seconds, or hours with h", () => {
  assert.deepEqual(parseRtcOffset("p2v.rtc.offset", "3600"), { seconds: 3600, text: "3600" });
  assert.deepEqual(parseRtcOffset("p2v.rtc.offset", "-1800"), { seconds: -1800, text: "-1800" });
  assert.deepEqual(parseRtcOffset("p2v.rtc.offset", "+2h"), { seconds: 7200, text: "+2h" });
  assert.deepEqual(parseRtcOffset("p2v.rtc.offset", "-5h"), { seconds: -18000, text: "-5h" });
  assert.deepEqual(parseRtcOffset("p2v.rtc.offset", "0"), { seconds: 0, text: "0" });
  for (const bad of ["", "1.5h", "2hours", "h", "abc", "25h", "100000"]) {
    configError(() => parseRtcOffset("p2v.rtc.offset", bad), "p2v.rtc.offset");
  }
});

Deno.test("values: enums are case-sensitive; oa=none means unset", () => {
  assert.equal(parseOutputAllocation("p2v.oa", "sparse"), "sparse");
  assert.equal(parseOutputAllocation("p2v.oa", "preallocated"), "preallocated");
  assert.equal(parseOutputAllocation("p2v.oa", "none"), undefined);
  assert.equal(
    configError(() => parseOutputAllocation("p2v.oa", "fast"), "p2v.oa"),
    'p2v.oa: "fast" is not a valid output allocation: expected sparse, preallocated or none (case-sensitive)',
  );
  configError(() => parseOutputAllocation("p2v.oa", "Sparse"), "p2v.oa");
  configError(() => parseOutputAllocation("p2v.oa", undefined), "p2v.oa");
  assert.equal(parseRtcBasis("p2v.rtc.basis", "utc"), "utc");
  assert.equal(parseRtcBasis("p2v.rtc.basis", "localtime"), "localtime");
  assert.equal(parseRtcBasis("p2v.rtc.basis", "unknown"), "unknown");
  configError(() => parseRtcBasis("p2v.rtc.basis", "UTC"), "p2v.rtc.basis");
});

Deno.test("values: identity URLs must be file, https or http", () => {
  assert.equal(parseIdentityUrl("p2v.identity", "file:///root/id"), "file:///root/id");
  assert.equal(parseIdentityUrl("p2v.identity", "https://h/id"), "https://h/id");
  assert.equal(parseIdentityUrl("p2v.identity", "http://h/id"), "http://h/id");
  assert.equal(parseIdentityUrl("p2v.identity", ""), undefined);
  for (const bad of ["ftp://h/id", "https://", "id_rsa", "./id_rsa", "~/.ssh/id_rsa", "//h/id"]) {
    configError(() => parseIdentityUrl("p2v.identity", bad), "p2v.identity");
  }
});

Deno.test("values: a plain absolute path is the identity's file:// URL", () => {
  assert.equal(parseIdentityUrl("p2v.identity", "/root/.ssh/id_rsa"), "file:///root/.ssh/id_rsa");
  // Characters a URL would read otherwise are escaped, and read back as the same path.
  const url = parseIdentityUrl("p2v.identity", "/keys/my key#1%.pem")!;
  assert.equal(url, "file:///keys/my%20key%231%25.pem");
  assert.equal(fileURLToPath(url), "/keys/my key#1%.pem");
  const message = configError(() => parseIdentityUrl("p2v.identity", "id_rsa"), "p2v.identity");
  assert.match(message, /absolute path/);
});

Deno.test("values: a refused identity URL is echoed with its password masked", () => {
  const message = configError(
    () => parseIdentityUrl("p2v.identity", "ftp://keyuser:s3cr3t@h/id"),
    "p2v.identity",
  );
  assert.match(message, /"ftp:\/\/keyuser:\*\*\*@h\/id"/);
  assert.ok(!message.includes("s3cr3t"), message);
});
