/**
 * Parsers for the values of `p2v.*` keys. Each takes the key exactly as the
 * user wrote it (alias or canonical) so that an error names what they typed,
 * and throws a ConfigError of one line: `KEY: "VALUE" is not a valid X:
 * expected FORM`.
 *
 * The original was lenient (any non-false word meant true, `22abc` meant 22,
 * a bare memory number meant bytes). Here every such typo is an error: on an
 * unattended PXE fleet a silent misreading converts the wrong thing.
 */

import { pathToFileURL } from "node:url";
import { NBD_BACKENDS, type NbdBackend } from "./nbd.ts";
import { ConfigError } from "../errors.ts";
import { maskUrlPasswords } from "./mask_url.ts";
import type { NetworkMapEntry, OutputAllocation, RtcBasis, StageStep } from "./types.ts";

/** The value quoted safely for a one-line message (control characters escaped). */
function shown(value: string): string {
  return JSON.stringify(value);
}

function invalid(key: string, value: string, what: string, expected: string): ConfigError {
  return new ConfigError(`${key}: ${shown(value)} is not a valid ${what}: expected ${expected}`);
}

const TRUE_WORDS = new Set(["1", "true", "t", "yes", "y", "on"]);
const FALSE_WORDS = new Set(["0", "false", "f", "no", "n", "off"]);

/** A bare key (`value` undefined) or an empty value means true. */
export function parseBool(key: string, value: string | undefined): boolean {
  if (value === undefined || value === "") return true;
  const word = value.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw invalid(
    key,
    value,
    "boolean",
    "1, true, t, yes, y, on, or 0, false, f, no, n, off (any case), or the bare key for true",
  );
}

export interface IntRange {
  min: number;
  max: number;
  /** Phrase used in messages, e.g. `port`. */
  what: string;
}

/** A C `int` is what the original stored; nothing sensible is larger. */
export const INT_MAX = 2147483647;

/**
 * A decimal whole number, optionally signed, with nothing after it. Leading
 * zeros are allowed (they are harmless and some templates pad numbers).
 */
export function parseInteger(key: string, value: string | undefined, range: IntRange): number {
  const text = value ?? "";
  const expected = range.max >= INT_MAX
    ? `a whole number of at least ${range.min}`
    : `a whole number from ${range.min} to ${range.max}`;
  if (!/^[+-]?[0-9]+$/.test(text)) throw invalid(key, text, range.what, expected);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw invalid(key, text, range.what, expected);
  }
  // `-0` would print as `0` but compare oddly; normalise it.
  return n === 0 ? 0 : n;
}

export function parsePort(key: string, value: string | undefined): number {
  return parseInteger(key, value, { min: 1, max: 65535, what: "port" });
}

/** Seconds to keep reconnecting; a day at most (the server-side job waits that long for us). */
export function parseReconnect(key: string, value: string | undefined): number {
  return parseInteger(key, value, { min: 0, max: 86_400, what: "number of seconds" });
}

/** Most SSH channels per disk: past this, more only adds work on both ends. */
export const MAX_CHANNELS = 32;

/** `p2v.channels`: 0 (chosen from the link) or 1 to MAX_CHANNELS. */
export function parseChannels(key: string, value: string | undefined): number {
  return parseInteger(key, value, {
    min: 0,
    max: MAX_CHANNELS,
    what: "number of SSH channels per disk (0 to choose from the link)",
  });
}

/** Highest `p2v.bandwidth`: 100 Gbit/s. */
const MAX_BANDWIDTH_MBIT = 100_000;

/** `p2v.bandwidth`: a cap in Mbit/s, 0 for none. */
export function parseBandwidth(key: string, value: string | undefined): number {
  return parseInteger(key, value, {
    min: 0,
    max: MAX_BANDWIDTH_MBIT,
    what: "bandwidth in Mbit/s (0 for no cap)",
  });
}

export function parseCores(key: string, value: string | undefined): number {
  return parseInteger(key, value, { min: 1, max: INT_MAX, what: "number of vCPUs" });
}

/** Binary multipliers by unit letter; `k` and `K` are the same, as in the original. */
const UNIT_POWER: Record<string, number> = { k: 1, K: 1, M: 2, G: 3, T: 4, P: 5, E: 6 };

const SIZE_FORM =
  "a whole number with a unit k, K, M, G, T, P or E, optionally followed by iB (x1024) or B/D (x1000), e.g. 1024M or 4G";

/**
 * A memory size in bytes. Units follow the original (gnulib xstrtoumax):
 * a bare unit or `…iB` is a power of 1024, `…B` or `…D` a power of 1000.
 * A bare number is rejected: in practice `2048` is a forgotten `M`, and a
 * guest with 2048 bytes of RAM is never what anyone meant.
 */
export function parseSize(key: string, value: string | undefined): number {
  const text = value ?? "";
  if (/^[0-9]+$/.test(text)) {
    const guess = Number(text) < 64 ? `${text}G` : `${text}M`;
    throw new ConfigError(
      `${key}: ${
        shown(text)
      } has no unit: expected ${SIZE_FORM} (${text} is almost always meant as ${guess})`,
    );
  }
  const m = /^([0-9]+)([kKMGTPE])(iB|B|D)?$/.exec(text);
  if (m === null) throw invalid(key, text, "size", SIZE_FORM);
  const base = m[3] === "B" || m[3] === "D" ? 1000n : 1024n;
  const bytes = BigInt(m[1]) * base ** BigInt(UNIT_POWER[m[2]]);
  if (bytes <= 0n) throw invalid(key, text, "size", "a size greater than zero");
  // Beyond 2^53 a JavaScript number can no longer count bytes exactly.
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalid(key, text, "size", "at most 8P (a size this program can count exactly)");
  }
  return Number(bytes);
}

/**
 * A comma-separated list. Empty items are kept (`sda,,sdb` has three) as in
 * the original; an empty value is an empty list, which is different from
 * the key being absent (that means "use what the host has").
 */
export function parseList(value: string | undefined): string[] {
  if (value === undefined || value === "") return [];
  return value.split(",");
}

const NETWORK_FORM = "a comma list of IFACE:TARGET entries and optionally one bare TARGET";

/**
 * `p2v.network_map`: `em1:ovirtmgmt,em2:mgmt,other`. The first colon splits,
 * so a target may itself contain colons. Unlike other lists, empty entries
 * are refused: an empty network name would only fail later on the server.
 */
export function parseNetworkMap(key: string, value: string | undefined): NetworkMapEntry[] {
  const entries: NetworkMapEntry[] = [];
  for (const item of parseList(value)) {
    const colon = item.indexOf(":");
    if (colon < 0) {
      if (item === "") {
        throw invalid(key, value ?? "", "network map", `${NETWORK_FORM} (empty entry)`);
      }
      entries.push({ target: item });
      continue;
    }
    const iface = item.slice(0, colon);
    const target = item.slice(colon + 1);
    if (iface === "" || target === "") {
      throw invalid(key, value ?? "", "network map", `${NETWORK_FORM} (in ${shown(item)})`);
    }
    entries.push({ iface, target });
  }
  return entries;
}

/** How an entry is written on the command line and in the dump. */
export function formatNetworkMapEntry(entry: NetworkMapEntry): string {
  return entry.iface === undefined ? entry.target : `${entry.iface}:${entry.target}`;
}

export interface RtcOffset {
  /** Offset from UTC in seconds. */
  seconds: number;
  /** The text as the user wrote it. */
  text: string;
}

/** Real zones lie within −12 h…+14 h; a day either way leaves room for odd RTCs. */
const RTC_LIMIT_SECONDS = 24 * 3600;

/**
 * `[+-]N` is seconds: the original's manual says hours but its code uses the
 * number as seconds, and existing PXE configs depend on that. `[+-]Nh` is
 * our explicit hours form.
 */
export function parseRtcOffset(key: string, value: string | undefined): RtcOffset {
  const text = value ?? "";
  const expected = "[+-]SECONDS, or [+-]HOURSh for hours, within one day of UTC";
  const m = /^([+-]?[0-9]+)(h?)$/.exec(text);
  if (m === null) throw invalid(key, text, "RTC offset", expected);
  const n = Number(m[1]);
  const seconds = m[2] === "h" ? n * 3600 : n;
  if (!Number.isSafeInteger(seconds) || Math.abs(seconds) > RTC_LIMIT_SECONDS) {
    throw invalid(key, text, "RTC offset", expected);
  }
  return { seconds: seconds === 0 ? 0 : seconds, text };
}

function parseEnum<T extends string>(
  key: string,
  value: string | undefined,
  allowed: readonly T[],
  what: string,
): T {
  const text = value ?? "";
  const hit = allowed.find((a) => a === text);
  if (hit === undefined) {
    const list = allowed.length > 1
      ? `${allowed.slice(0, -1).join(", ")} or ${allowed[allowed.length - 1]}`
      : allowed.join("");
    throw invalid(key, text, what, `${list} (case-sensitive)`);
  }
  return hit;
}

const RTC_BASES: readonly RtcBasis[] = ["unknown", "utc", "localtime"];

export function parseRtcBasis(key: string, value: string | undefined): RtcBasis {
  return parseEnum(key, value, RTC_BASES, "RTC basis");
}

/** `none` is the original's spelling of "not set" and is accepted as such. */
export function parseOutputAllocation(
  key: string,
  value: string | undefined,
): OutputAllocation | undefined {
  const v = parseEnum(key, value, ["sparse", "preallocated", "none"] as const, "output allocation");
  return v === "none" ? undefined : v;
}

/** A string that must not be empty (a server name, a guest name, `-o`). */
export function parseRequiredString(key: string, value: string | undefined, what: string): string {
  if (value === undefined || value === "") {
    throw new ConfigError(`${key}: the value is empty: expected ${what}`);
  }
  return value;
}

/**
 * An optional string: empty means "not set", as the original did for the
 * password (an empty one meant "no password").
 */
export function parseOptionalString(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

const IDENTITY_SCHEMES = ["file://", "https://", "http://"];

/** `p2v.nbd`: NBD servers in order of preference. */
export function parseNbdBackends(key: string, value: string | undefined): NbdBackend[] {
  const items = parseList(value);
  const expected = `a comma list of ${NBD_BACKENDS.join(", ")}`;
  if (items.length === 0) throw invalid(key, value ?? "", "NBD server list", expected);
  for (const item of items) {
    if (!(NBD_BACKENDS as readonly string[]).includes(item)) {
      throw invalid(key, item, "NBD server", expected);
    }
  }
  return items as NbdBackend[];
}

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** `p2v.hostkey`: one or more `SHA256:…` fingerprints as `ssh-keygen -l` prints them. */
export function parseHostKeys(key: string, value: string | undefined): string[] {
  const items = parseList(value);
  if (items.length === 0) {
    throw invalid(
      key,
      value ?? "",
      "host key list",
      "one or more SHA256:… fingerprints, comma separated",
    );
  }
  for (const item of items) {
    if (!FINGERPRINT.test(item)) {
      throw invalid(
        key,
        item,
        "host key fingerprint",
        "SHA256: followed by 43 base64 characters, as `ssh-keygen -l -f KEY` prints it",
      );
    }
  }
  return items;
}

/**
 * The identity is downloaded later; refuse now what could never be fetched.
 * A plain absolute path (`/root/.ssh/id_rsa`) is what people type first, in
 * the dialog and on the command line alike: it means the file:// URL of that
 * path, and becomes one here so everything after sees only URLs.
 * The value is echoed with any password in it masked.
 */
export function parseIdentityUrl(key: string, value: string | undefined): string | undefined {
  const url = parseOptionalString(value);
  if (url === undefined) return undefined;
  if (url.startsWith("/") && !url.startsWith("//")) return pathToFileURL(url).href;
  if (!IDENTITY_SCHEMES.some((s) => url.startsWith(s) && url.length > s.length)) {
    throw invalid(
      key,
      maskUrlPasswords(url),
      "identity URL",
      "the absolute path of a private key, or its file://, https:// or http:// URL",
    );
  }
  return url;
}

/** `p2v.stage`: the step of a warm conversion. */
export function parseStageStep(key: string, value: string | undefined): StageStep {
  return parseEnum(key, value, ["none", "precopy", "cutover", "list"] as const, "stage step");
}

/** An absolute path on the conversion server, without a newline or a NUL. */
export function parseAbsolutePath(key: string, value: string | undefined): string {
  const path = parseRequiredString(key, value, "an absolute path");
  if (!path.startsWith("/") || /[\n\0]/.test(path)) {
    throw new ConfigError(`${key}: "${path}" is not an absolute path`);
  }
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}
