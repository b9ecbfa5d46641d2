/**
 * The names of the iptables chains kube-proxy owns, the hashing that derives per-service chain
 * names, and the static table of jumps from the kernel's built-in chains into ours.
 *
 * Operators read these names with upstream's knowledge, so they match upstream exactly:
 * `KUBE-SVC-` + the first 16 characters of the RFC 4648 base32 encoding of
 * sha256(servicePortName + protocol), and `KUBE-SEP-` + the same over
 * servicePortName + protocol + endpoint (`IP:port`, IPv6 as `[IP]:port`). iptables limits chain
 * names to 28 characters, which is why the hash stays (nftables can use readable names).
 *
 * @module
 */

import { hashName } from "../name_hash.ts";

/** nat and filter: entry from the built-in chains; per-service capture (nat) or REJECT (filter). */
export const KUBE_SERVICES = "KUBE-SERVICES";
/** nat: NodePort capture rules; filter: ACCEPT for health-check node ports. */
export const KUBE_NODEPORTS = "KUBE-NODEPORTS";
/** nat: entry from POSTROUTING; masquerades packets carrying the masquerade mark. */
export const KUBE_POSTROUTING = "KUBE-POSTROUTING";
/** nat: sets the masquerade mark. */
export const KUBE_MARK_MASQ = "KUBE-MARK-MASQ";
/** filter: REJECT/DROP for external IPs, LoadBalancer IPs and NodePorts without endpoints. */
export const KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES";
/** filter: INVALID drop and acceptance of marked or established forwarded traffic. */
export const KUBE_FORWARD = "KUBE-FORWARD";
/** filter: drops LoadBalancer traffic that no KUBE-FW chain accepted. */
export const KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL";
/**
 * filter: owned by kubelet; kube-proxy writes an identical "block incoming localnet connections"
 * rule into it (IPv4 with localhost NodePorts only), because route_localnet needs that guard.
 */
export const KUBE_FIREWALL = "KUBE-FIREWALL";
/** Empty canary chain (mangle, nat, filter) whose disappearance reveals a flush of the tables. */
export const KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY";
/** kubelet's canary chain; kube-proxy never creates it. */
export const KUBE_KUBELET_CANARY = "KUBE-KUBELET-CANARY";
/**
 * nat: our extension (not upstream). Redirects cluster-DNS service IPs on port 53 to the
 * node-local DNS responder; jumped to from the top of nat KUBE-SERVICES.
 */
export const KUBE_DNS_INTERCEPT = "KUBE-DNS-INTERCEPT";

/** Prefix of the "cluster policy" chain of a service port (all cluster-wide endpoints). */
export const SERVICE_CHAIN_PREFIX = "KUBE-SVC-";
/** Prefix of the "local policy" chain of a service port (node-local endpoints only). */
export const SERVICE_LOCAL_CHAIN_PREFIX = "KUBE-SVL-";
/** Prefix of the "external destinations" chain (NodePort, externalIPs, LoadBalancer IPs). */
export const EXTERNAL_TRAFFIC_CHAIN_PREFIX = "KUBE-EXT-";
/** Prefix of the LoadBalancer firewall chain (loadBalancerSourceRanges). */
export const FIREWALL_CHAIN_PREFIX = "KUBE-FW-";
/** Prefix of a per-endpoint chain (hairpin masquerade + DNAT). */
export const SERVICE_ENDPOINT_CHAIN_PREFIX = "KUBE-SEP-";

/** The five prefixes that make a chain a "service chain", subject to stale-chain deletion. */
export const SERVICE_CHAIN_PREFIXES: readonly string[] = [
  SERVICE_CHAIN_PREFIX,
  SERVICE_LOCAL_CHAIN_PREFIX,
  EXTERNAL_TRAFFIC_CHAIN_PREFIX,
  FIREWALL_CHAIN_PREFIX,
  SERVICE_ENDPOINT_CHAIN_PREFIX,
];

/** An iptables table kube-proxy writes to. */
export type Table = "filter" | "nat" | "mangle";

/**
 * Tells whether `chain` is a per-service chain kube-proxy created (and may delete when stale).
 *
 * @param chain a chain name, e.g. from `iptables-save`.
 * @returns true for names starting with KUBE-SVC-, KUBE-SVL-, KUBE-EXT-, KUBE-FW- or KUBE-SEP-.
 * @example
 * ```ts
 * isServiceChainName("KUBE-SVC-XPGD46QRK7WJZT7O"); // true
 * isServiceChainName("KUBE-SERVICES"); // false
 * ```
 */
export function isServiceChainName(chain: string): boolean {
  for (const prefix of SERVICE_CHAIN_PREFIXES) {
    if (chain.startsWith(prefix)) return true;
  }
  return false;
}

/**
 * The 16-character hash shared by the KUBE-SVC/SVL/EXT/FW chains of one service port.
 *
 * @param servicePortName `ns/name:port`, or `ns/name` for an unnamed port.
 * @param protocol `tcp`, `udp` or `sctp` (lowercased here if needed).
 * @returns base32(sha256(servicePortName + protocol))[0:16].
 * @example
 * ```ts
 * servicePortChainHash("ns1/svc1:p80", "tcp"); // "XPGD46QRK7WJZT7O"
 * ```
 */
export function servicePortChainHash(servicePortName: string, protocol: string): string {
  return hashName(servicePortName + protocol.toLowerCase());
}

/**
 * The KUBE-SVC chain of a service port.
 *
 * @param servicePortName `ns/name:port` or `ns/name`.
 * @param protocol `tcp`, `udp` or `sctp`.
 * @returns e.g. `KUBE-SVC-XPGD46QRK7WJZT7O`.
 * @example
 * ```ts
 * servicePortChainName("ns1/svc1:p80", "tcp"); // "KUBE-SVC-XPGD46QRK7WJZT7O"
 * ```
 */
export function servicePortChainName(servicePortName: string, protocol: string): string {
  return SERVICE_CHAIN_PREFIX + servicePortChainHash(servicePortName, protocol);
}

/**
 * The KUBE-SEP chain of one endpoint of a service port.
 *
 * @param servicePortName `ns/name:port` or `ns/name`.
 * @param protocol `tcp`, `udp` or `sctp`.
 * @param endpoint `IP:port`, IPv6 as `[IP]:port`.
 * @returns e.g. `KUBE-SEP-SXIVWICOYRO3J4NJ`.
 * @example
 * ```ts
 * servicePortEndpointChainName("ns1/svc1:p80", "tcp", "10.180.0.1:80");
 * // "KUBE-SEP-SXIVWICOYRO3J4NJ"
 * ```
 */
export function servicePortEndpointChainName(
  servicePortName: string,
  protocol: string,
  endpoint: string,
): string {
  return SERVICE_ENDPOINT_CHAIN_PREFIX +
    hashName(servicePortName + protocol.toLowerCase() + endpoint);
}

/** One static jump from a built-in chain into a kube-proxy chain. */
export interface JumpChain {
  readonly table: Table;
  /** The built-in chain that jumps (INPUT, FORWARD, OUTPUT, PREROUTING, POSTROUTING). */
  readonly srcChain: string;
  /** The kube-proxy chain jumped to. */
  readonly dstChain: string;
  /** The `-m comment` text, or "" for none. */
  readonly comment: string;
  /** Match arguments placed before the comment. */
  readonly extraArgs: readonly string[];
  /**
   * True for kubelet's KUBE-FIREWALL jumps, which kube-proxy ensures only when it writes the
   * KUBE-FIREWALL rule itself (IPv4 with localhost NodePorts).
   */
  readonly kubeletFirewall?: boolean;
}

const CT_NEW = ["-m", "conntrack", "--ctstate", "NEW"] as const;

/**
 * The jumps from built-in chains into kube-proxy's chains, in the order upstream ensures them.
 *
 * Each is ensured with "check, else insert at position 1" semantics on full syncs, so on a fresh
 * node a later entry ends up above an earlier one in the same built-in chain; existing rules are
 * never moved. The rule arguments are `extraArgs`, then `-m comment --comment <comment>`, then
 * `-j dstChain` (see {@linkcode jumpRuleArgs}).
 */
export const iptablesJumpChains: readonly JumpChain[] = [
  {
    table: "filter",
    srcChain: "INPUT",
    dstChain: KUBE_EXTERNAL_SERVICES,
    comment: "kubernetes externally-visible service portals",
    extraArgs: CT_NEW,
  },
  {
    table: "filter",
    srcChain: "FORWARD",
    dstChain: KUBE_EXTERNAL_SERVICES,
    comment: "kubernetes externally-visible service portals",
    extraArgs: CT_NEW,
  },
  {
    table: "filter",
    srcChain: "INPUT",
    dstChain: KUBE_NODEPORTS,
    comment: "kubernetes health check service ports",
    extraArgs: [],
  },
  {
    table: "filter",
    srcChain: "FORWARD",
    dstChain: KUBE_SERVICES,
    comment: "kubernetes service portals",
    extraArgs: CT_NEW,
  },
  {
    table: "filter",
    srcChain: "OUTPUT",
    dstChain: KUBE_SERVICES,
    comment: "kubernetes service portals",
    extraArgs: CT_NEW,
  },
  {
    table: "filter",
    srcChain: "FORWARD",
    dstChain: KUBE_FORWARD,
    comment: "kubernetes forwarding rules",
    extraArgs: [],
  },
  {
    table: "filter",
    srcChain: "INPUT",
    dstChain: KUBE_PROXY_FIREWALL,
    comment: "kubernetes load balancer firewall",
    extraArgs: CT_NEW,
  },
  {
    table: "filter",
    srcChain: "OUTPUT",
    dstChain: KUBE_PROXY_FIREWALL,
    comment: "kubernetes load balancer firewall",
    extraArgs: CT_NEW,
  },
  {
    table: "filter",
    srcChain: "FORWARD",
    dstChain: KUBE_PROXY_FIREWALL,
    comment: "kubernetes load balancer firewall",
    extraArgs: CT_NEW,
  },
  {
    table: "nat",
    srcChain: "OUTPUT",
    dstChain: KUBE_SERVICES,
    comment: "kubernetes service portals",
    extraArgs: [],
  },
  {
    table: "nat",
    srcChain: "PREROUTING",
    dstChain: KUBE_SERVICES,
    comment: "kubernetes service portals",
    extraArgs: [],
  },
  {
    table: "nat",
    srcChain: "POSTROUTING",
    dstChain: KUBE_POSTROUTING,
    comment: "kubernetes postrouting rules",
    extraArgs: [],
  },
  {
    table: "filter",
    srcChain: "INPUT",
    dstChain: KUBE_FIREWALL,
    comment: "",
    extraArgs: [],
    kubeletFirewall: true,
  },
  {
    table: "filter",
    srcChain: "OUTPUT",
    dstChain: KUBE_FIREWALL,
    comment: "",
    extraArgs: [],
    kubeletFirewall: true,
  },
];

/**
 * The rule arguments (after `-A/-I/-C <srcChain>`) of a static jump.
 *
 * @param jump an entry of {@linkcode iptablesJumpChains}.
 * @returns e.g. `["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]`.
 * @example
 * ```ts
 * jumpRuleArgs(iptablesJumpChains[9]);
 * ```
 */
export function jumpRuleArgs(jump: JumpChain): string[] {
  const args = [...jump.extraArgs];
  if (jump.comment !== "") args.push("-m", "comment", "--comment", jump.comment);
  args.push("-j", jump.dstChain);
  return args;
}
