/**
 * Deno's `fetch` rejects with a bare `TypeError: fetch failed` and hides what happened in its
 * `cause` chain (`… client error (Connect): tcp connect error: Connection refused (os error
 * 111)`). An operator alerts on Go's wording, which names the address and the system error:
 *
 *     Get "https://10.0.0.1:6443/api/v1/services": dial tcp 10.0.0.1:6443: connect: connection refused
 *
 * This module turns the chain into that text. Unknown shapes keep every message of the chain, so
 * nothing is ever reduced to `fetch failed`.
 *
 * @module
 */

import { errorText } from "../config/log.ts";

/**
 * A request that did not get an HTTP answer; the message says why, as client-go's would. The
 * error `fetch` threw is kept as `original`, not as `cause`: the message already sums up its
 * chain, and a logger that prints causes would only repeat it in Deno's words.
 */
export class ApiConnectionError extends Error {
  /** What `fetch` rejected with. */
  readonly original: unknown;

  /**
   * @param message The Go-style description.
   * @param original What `fetch` rejected with.
   */
  constructor(message: string, original: unknown) {
    super(message);
    this.name = "ApiConnectionError";
    this.original = original;
  }

  /** The message alone: log lines that use `String(err)` read as client-go's. */
  override toString(): string {
    return this.message;
  }
}

/** rustls' certificate verdicts in crypto/x509's words. */
const CERTIFICATE_PROBLEMS: Readonly<Record<string, string>> = {
  UnknownIssuer: "x509: certificate signed by unknown authority",
  BadSignature: "x509: certificate signed by unknown authority",
  Expired: "x509: certificate has expired or is not yet valid",
  NotValidYet: "x509: certificate has expired or is not yet valid",
  Revoked: "x509: certificate has been revoked",
};

/** Go's `host:port` of a URL, with the scheme's default port filled in. */
function hostPort(url: URL): string {
  const port = url.port !== "" ? url.port : url.protocol === "https:" ? "443" : "80";
  return `${url.hostname}:${port}`;
}

/**
 * Describes a failed request the way client-go logs it: `<Method> "<url>": <what happened>`.
 *
 * @param err What `fetch` rejected with.
 * @param method The HTTP method (`GET`, `POST`).
 * @param url The request URL.
 * @returns e.g. `Get "https://10.0.0.1:6443/api/v1/nodes": dial tcp 10.0.0.1:6443: connect:
 *   connection refused`, or `…: tls: failed to verify certificate: x509: certificate signed by
 *   unknown authority`.
 */
export function describeFetchError(err: unknown, method: string, url: URL): string {
  const verb = method.charAt(0).toUpperCase() + method.slice(1).toLowerCase();
  return `${verb} ${JSON.stringify(url.href)}: ${describeCause(err, url)}`;
}

function describeCause(err: unknown, url: URL): string {
  const text = errorText(err);
  const connect = text.match(/tcp connect error: ([^(:]+?)\s*\(os error \d+\)/);
  if (connect) return `dial tcp ${hostPort(url)}: connect: ${connect[1].toLowerCase()}`;
  const dns = text.match(/dns error: (.+)$/);
  if (dns) {
    const why = /not known|no address/i.test(dns[1]) ? "no such host" : dns[1];
    return `dial tcp: lookup ${url.hostname}: ${why}`;
  }
  const cert = text.match(/invalid peer certificate: ([^\n]+?)$/m);
  if (cert) {
    const reason = cert[1].trim();
    const known = CERTIFICATE_PROBLEMS[reason] ??
      (/NotValidForName/.test(reason)
        ? `x509: certificate is not valid for ${url.hostname}`
        : `x509: ${reason}`);
    return `tls: failed to verify certificate: ${known} (${reason})`;
  }
  if (/timed out|deadline/i.test(text)) return `dial tcp ${hostPort(url)}: i/o timeout`;
  // Unknown shape: every message but the uninformative outer one.
  const informative = text.replace(/^fetch failed(: |$)/i, "");
  return informative !== "" ? informative : `request to ${hostPort(url)} failed`;
}
