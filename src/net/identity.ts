/**
 * Loads the private key named by `p2v.identity`. The key is kept in memory
 * only: a downloaded key passes through a 0600 temp file that is removed
 * before this function returns, on every path.
 */
import { fileURLToPath } from "node:url";
import { maskUrlPasswords } from "../config/mask_url.ts";
import { describeError, UserError } from "../errors.ts";
import { explainFetchFailure } from "./fetch_failure.ts";

const MAX_KEY_BYTES = 1024 * 1024;
const DOWNLOAD_TIMEOUT_MS = 60_000;

export async function loadIdentity(
  url: string,
  options: { fetchImpl?: typeof fetch; timeoutMs?: number } = {},
): Promise<Uint8Array> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(
      `p2v.identity: "${
        maskUrlPasswords(url)
      }" is not a URL; use file:///path/to/key or https://server/key`,
    );
  }
  switch (parsed.protocol) {
    case "file:":
      return await readKeyFile(parsed);
    case "http:":
    case "https:":
      return await downloadKey(parsed, options.fetchImpl ?? fetch, options.timeoutMs);
    default:
      throw new UserError(
        `p2v.identity: unsupported URL scheme "${parsed.protocol}"; use file://, https:// or http://`,
      );
  }
}

/**
 * The warning for an identity fetched over plain http://, or undefined.
 * Refusing such URLs would break PXE setups that work today (the original
 * accepted them), so the run goes on, but the operator must hear that
 * anyone on the path can read the key.
 */
export function identityUrlWarning(url: string): string | undefined {
  if (!/^http:\/\//i.test(url)) return undefined;
  let host = "the server";
  try {
    host = new URL(url).host;
  } catch { /* loadIdentity reports the bad URL */ }
  return `p2v.identity downloads the private SSH key from ${host} over plain http://: ` +
    "anyone on the network path can read the key and log in with it; " +
    "use https:// or a file:// key on the boot medium";
}

async function readKeyFile(url: URL): Promise<Uint8Array> {
  const path = fileURLToPath(url);
  try {
    const data = await Deno.readFile(path);
    if (data.length > MAX_KEY_BYTES) throw new Error("file is too large to be a private key");
    return data;
  } catch (err) {
    throw new UserError(`cannot read the identity file ${path}: ${describeError(err)}`);
  }
}

async function downloadKey(
  url: URL,
  fetchImpl: typeof fetch,
  timeoutMs?: number,
): Promise<Uint8Array> {
  const shown = `${url.protocol}//${url.host}${url.pathname}`;
  const tmp = await Deno.makeTempFile({ prefix: "virt-p2v-id." });
  try {
    await Deno.chmod(tmp, 0o600);
    let response: Response;
    try {
      response = await fetchImpl(url, {
        signal: AbortSignal.timeout(timeoutMs ?? DOWNLOAD_TIMEOUT_MS),
      });
    } catch (err) {
      throw new UserError(
        `cannot download the identity from ${shown}: ${explainFetchFailure(err, url)}`,
      );
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new UserError(
        `cannot download the identity from ${shown}: HTTP ${response.status} ${response.statusText}`,
      );
    }
    const body = new Uint8Array(await response.arrayBuffer());
    if (body.length > MAX_KEY_BYTES) {
      throw new UserError(`the identity at ${shown} is too large to be a private key`);
    }
    await Deno.writeFile(tmp, body, { mode: 0o600 });
    return await Deno.readFile(tmp);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}
