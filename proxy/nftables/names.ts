/**
 * Names inside the `kube-proxy` table: the table and its static chains, sets and maps, the
 * per-service chain names (upstream's `<prefix><hash>-<ns>/<name>/<proto>/<port>`), and the
 * quoting of text that comes from API objects.
 *
 * Everything from an API object that reaches a transaction goes through {@linkcode chainNameOf}
 * or {@linkcode nftComment}: a name or comment can never end a command, open a block or start a
 * new one, whatever the object holds.
 *
 * @module
 */

import { hashName } from "../name_hash.ts";

/** Our table's name, in families `ip` and `ip6` (upstream's). */
export const TABLE = "kube-proxy";

/** Static chain names (upstream's; none contains `/`, which marks per-service chains). */
export const CHAINS = {
  filterPreroutingPreDnat: "filter-prerouting-pre-dnat",
  filterOutputPreDnat: "filter-output-pre-dnat",
  filterInput: "filter-input",
  filterForward: "filter-forward",
  filterOutput: "filter-output",
  natPrerouting: "nat-prerouting",
  natOutput: "nat-output",
  natPostrouting: "nat-postrouting",
  services: "services",
  serviceEndpointsCheck: "service-endpoints-check",
  nodeportEndpointsCheck: "nodeport-endpoints-check",
  firewallCheck: "firewall-check",
  clusterIPsCheck: "cluster-ips-check",
  markForMasquerade: "mark-for-masquerade",
  masquerading: "masquerading",
  rejectChain: "reject-chain",
  /** Ours: redirects cluster-DNS queries to the node-local responder. */
  dnsIntercept: "dns-intercept",
} as const;

/** Static set and map names. */
export const SETS = {
  clusterIPs: "cluster-ips",
  nodePortIPs: "nodeport-ips",
  serviceIPs: "service-ips",
  serviceNodePorts: "service-nodeports",
  noEndpointServices: "no-endpoint-services",
  noEndpointNodePorts: "no-endpoint-nodeports",
  firewallIPs: "firewall-ips",
  /** `endpointIP . endpointIP`: DNATed connections of a pod to itself (hairpin), masqueraded. */
  hairpin: "hairpin-ips",
} as const;

/** Prefixes of per-service chains and sets (upstream's). */
export const PREFIX = {
  service: "service-",
  local: "local-",
  external: "external-",
  firewall: "firewall-",
  endpoint: "endpoint-",
  affinity: "affinity-",
} as const;

/** nft's identifier characters after the first: letters, digits, `/`, `-`, `_`, `.`. */
const NOT_IDENTIFIER = /[^A-Za-z0-9/_.-]/g;

/** Longest hash + `-` + base kept before `...` (upstream: 256 minus a 16-character prefix budget). */
const MAX_NAME_BODY = 240;

/**
 * A per-service chain or set name: prefix + hash of `base` + `-` + `base`, as upstream's
 * `hashAndTruncate`. Characters nft does not allow in an unquoted identifier (none in a valid
 * Kubernetes name) become `_` in the readable part; the hash is over the original text, so two
 * objects differing only there still get different names.
 *
 * @param prefix one of {@linkcode PREFIX}.
 * @param base `ns/name/proto/portName`, or with `__IP/port` for an endpoint.
 * @returns e.g. `service-ULMVA6XW-ns1/svc1/tcp/p80`.
 * @example
 * ```ts
 * chainNameOf("service-", "ns1/svc1/tcp/p80"); // "service-ULMVA6XW-ns1/svc1/tcp/p80"
 * ```
 */
export function chainNameOf(prefix: string, base: string): string {
  let body = hashName(base).slice(0, 8) + "-" + base.replace(NOT_IDENTIFIER, "_");
  if (body.length > MAX_NAME_BODY) body = body.slice(0, MAX_NAME_BODY - 3) + "...";
  return prefix + body;
}

/**
 * An endpoint's affinity set: `affinity-` + the first 16 characters (80 bits) of the hash of its
 * base, without the readable part (upstream's name has it). The kernel finds a set by name with
 * a walk of the table's sets that reads each name's length, once per rule that names a set and
 * per set added: with 5,000 affinity sets (10,000 services, 5 % with ClientIP affinity) the
 * ~55-character names cost 0.9 s of a 5.8 s first `nft -f` (RESULTS.md section 7). The first 8
 * characters are those of the endpoint's `endpoint-` chain.
 *
 * @param base from {@linkcode endpointBase}.
 * @returns e.g. `affinity-GTK6MW7GXXXXXXXX`.
 */
export function affinitySetNameOf(base: string): string {
  return PREFIX.affinity + hashName(base);
}

/**
 * The base of a service port's chain names: `ns/name/proto/portName`.
 *
 * @param namespace the Service's namespace.
 * @param name the Service's name.
 * @param protocol `tcp`, `udp` or `sctp`.
 * @param portName the port's name ("" for an unnamed port).
 */
export function servicePortBase(
  namespace: string,
  name: string,
  protocol: string,
  portName: string,
): string {
  return `${namespace}/${name}/${protocol}/${portName}`;
}

/**
 * The base of an endpoint's chain names: the service port's base + `__IP/port`, IPv6 colons as
 * dots (nft identifiers have no `:`).
 *
 * @param serviceBase from {@linkcode servicePortBase}.
 * @param ip the endpoint IP.
 * @param port the endpoint port.
 */
export function endpointBase(serviceBase: string, ip: string, port: number): string {
  return `${serviceBase}__${ip.replaceAll(":", ".")}/${port}`;
}

/** Whether a chain is a per-service chain (static names never contain `/`). */
export function isServiceChainName(name: string): boolean {
  return name.includes("/");
}

/** Longest comment nft accepts (NFT_USERDATA_MAXLEN is 256 bytes; nft allows 128 characters). */
const MAX_COMMENT = 128;

/**
 * A quoted nft comment: `comment "text"`. nft strings have no escapes, so `"` becomes `'`, and
 * control characters (newlines) and non-ASCII become `?`; the text is cut to 128 characters.
 * Whatever the text holds, the result stays one token inside the command.
 *
 * @param text free text, possibly from an API object.
 * @returns e.g. `comment "ns1/svc1:p80"`.
 * @example
 * ```ts
 * nftComment('a"b\nc'); // `comment "a'b?c"`
 * ```
 */
export function nftComment(text: string): string {
  return `comment "${quotable(text)}"`;
}

/**
 * `text` made safe inside nft double quotes (see {@linkcode nftComment}).
 *
 * @param text free text.
 * @returns the text without `"`, control or non-ASCII characters, at most 128 characters.
 */
export function quotable(text: string): string {
  const safe = text.replace(/"/g, "'").replace(/[^\x20-\x7e]/g, "?");
  return safe.length > MAX_COMMENT ? safe.slice(0, MAX_COMMENT) : safe;
}
