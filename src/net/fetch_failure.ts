/**
 * Why a download failed, in words. Deno's fetch rejects with a bare "fetch
 * failed" whose `cause` holds the real reason, as
 * "error sending request for url (URL): client error (Connect): DETAIL";
 * for a refused TLS certificate DETAIL is rustls's "invalid peer
 * certificate: …", which only a TLS developer could act on.
 */
import { maskUrlPasswords } from "../config/mask_url.ts";
import { describeError } from "../errors.ts";

const CERTIFICATE = /invalid peer certificate: (.*)$/;

/** What rustls says of the certificate, as words a sysadmin can act on. */
function certificateProblem(detail: string, host: string): { why: string; fix: string } {
  const server = "give that server a certificate from an authority this machine trusts, " +
    "or put the key on the boot medium and use a file:// URL";
  if (detail.startsWith("UnknownIssuer")) {
    return {
      why: "it is self-signed or issued by an authority this machine does not know",
      fix: server,
    };
  }
  // rustls names these by variant, or in a sentence when it knows the dates.
  const expired = /^Expired|certificate expired/i.test(detail);
  if (expired || /^NotValidYet|not valid yet/i.test(detail)) {
    return {
      why: expired ? "it has expired" : "it is not valid yet",
      fix: "check the date of this machine's clock (`date`), then the dates of the certificate",
    };
  }
  if (/NotValidForName|not valid for name/.test(detail)) {
    return {
      why: `it is not issued for the name ${host}`,
      fix: "use the host name the certificate names in the URL",
    };
  }
  if (detail.startsWith("Revoked")) return { why: "it has been revoked", fix: server };
  return { why: detail, fix: server };
}

/**
 * One line: what went wrong while fetching `url`. Any password in a URL the
 * error quotes is masked.
 */
export function explainFetchFailure(err: unknown, url: URL): string {
  const causes: string[] = [];
  for (let e: unknown = err; e !== undefined && causes.length < 5; e = (e as Error).cause) {
    causes.push(describeError(e));
    if (!(e instanceof Error)) break;
  }
  const innermost = causes[causes.length - 1];
  const tls = CERTIFICATE.exec(innermost);
  if (tls && url.protocol === "https:") {
    const { why, fix } = certificateProblem(tls[1], url.hostname);
    return maskUrlPasswords(
      `the certificate of ${url.origin} is not trusted by this machine (${why}): ${fix}`,
    );
  }
  // The URL is already in the caller's message; what follows it is the news.
  const detail = innermost.replace(/^error sending request .*?\): /, "");
  return maskUrlPasswords(detail);
}
