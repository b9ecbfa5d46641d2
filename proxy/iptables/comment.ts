/**
 * Object text in rule comments, made harmless: every comment that carries text from an API
 * object (a service port name, an endpoint) passes it through {@linkcode commentText}, so that no
 * byte of a Service or EndpointSlice can change how `iptables-restore` (or `iptables-save`
 * readers) split a rule line into arguments: no quote, backslash, whitespace or control
 * character, and so no ` -j ` or line break, survives. Ingest validation (cache/) should already
 * have refused such objects; this is the defense in depth at render.
 *
 * @module
 */

/** Text upstream's names and addresses consist of; kept as it is (so output stays upstream's). */
const SAFE = /^[A-Za-z0-9._/:[\]-]*$/;

/**
 * Object text for a rule comment: unchanged when it holds only name and address characters
 * (letters, digits, `.`, `_`, `/`, `:`, `-`, `[`, `]`: every valid Kubernetes name, port name
 * and `IP:port`), else every other character percent-encoded as its UTF-8 bytes (`%22` for `"`,
 * `%0A` for a newline, `%20` for a space, `%25` for `%`).
 *
 * @param text text from an API object.
 * @returns text safe inside a quoted or unquoted comment argument.
 * @example
 * ```ts
 * commentText("ns1/svc1:p80"); // "ns1/svc1:p80"
 * commentText('a"b c'); // "a%22b%20c"
 * ```
 */
export function commentText(text: string): string {
  if (SAFE.test(text)) return text;
  let out = "";
  for (const ch of text) {
    if (SAFE.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of new TextEncoder().encode(ch)) {
      out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
    }
  }
  return out;
}
