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

// ---------------------------------------------------------------------------------------------
// Hashing. A synchronous SHA-256 (crypto.subtle is async only) specialised for the short inputs
// chain names hash; rule generation calls it once per service port and once per endpoint.

const K = new Uint32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);
const W = new Uint32Array(64);
const H = new Uint32Array(8);
const encoder = new TextEncoder();
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function rotr(x: number, n: number): number {
  return (x >>> n) | (x << (32 - n));
}

let buf = new Uint8Array(256);

/** Writes `input` as UTF-8 into the shared buffer; returns its length in bytes. */
function encodeInput(input: string): number {
  const n = input.length;
  if (buf.length < n * 3 + 72) buf = new Uint8Array(n * 3 + 72);
  for (let i = 0; i < n; i++) {
    const c = input.charCodeAt(i);
    if (c > 0x7f) {
      // Rare (names are ASCII): fall back to the full encoder.
      const bytes = encoder.encode(input);
      if (buf.length < bytes.length + 72) buf = new Uint8Array(bytes.length + 72);
      buf.set(bytes);
      return bytes.length;
    }
    buf[i] = c;
  }
  return n;
}

function sha256Words(input: string): Uint32Array {
  const len = encodeInput(input);
  const blocks = (len + 9 + 63) >> 6;
  const total = blocks * 64;
  buf.fill(0, len, total);
  buf[len] = 0x80;
  const bitLen = len * 8;
  buf[total - 5] = (bitLen / 0x100000000) & 0xff;
  buf[total - 4] = (bitLen >>> 24) & 0xff;
  buf[total - 3] = (bitLen >>> 16) & 0xff;
  buf[total - 2] = (bitLen >>> 8) & 0xff;
  buf[total - 1] = bitLen & 0xff;
  H[0] = 0x6a09e667;
  H[1] = 0xbb67ae85;
  H[2] = 0x3c6ef372;
  H[3] = 0xa54ff53a;
  H[4] = 0x510e527f;
  H[5] = 0x9b05688c;
  H[6] = 0x1f83d9ab;
  H[7] = 0x5be0cd19;
  for (let off = 0; off < total; off += 64) {
    for (let i = 0; i < 16; i++) {
      const j = off + i * 4;
      W[i] = (buf[j] << 24) | (buf[j + 1] << 16) | (buf[j + 2] << 8) | buf[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const w15 = W[i - 15], w2 = W[i - 2];
      const s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >>> 3);
      const s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
    }
    let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    for (let i = 0; i < 64; i++) {
      const s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + s1 + ch + K[i] + W[i]) | 0;
      const s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (s0 + maj) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    H[0] += a;
    H[1] += b;
    H[2] += c;
    H[3] += d;
    H[4] += e;
    H[5] += f;
    H[6] += g;
    H[7] += h;
  }
  return H;
}

/**
 * base32(sha256(input)) truncated to 16 characters: exactly the first 80 bits of the digest.
 * Also nftables mode's name hash (`../nftables/names.ts`).
 */
export function hashName(input: string): string {
  const h = sha256Words(input);
  const w0 = h[0], w1 = h[1], w2 = h[2];
  // 16 groups of 5 bits: 6 from w0 (30 bits), one straddling w0/w1, 5 from w1, one straddling
  // w1/w2, then the rest from w2.
  return BASE32[w0 >>> 27] + BASE32[(w0 >>> 22) & 31] + BASE32[(w0 >>> 17) & 31] +
    BASE32[(w0 >>> 12) & 31] + BASE32[(w0 >>> 7) & 31] + BASE32[(w0 >>> 2) & 31] +
    BASE32[((w0 & 3) << 3) | (w1 >>> 29)] + BASE32[(w1 >>> 24) & 31] +
    BASE32[(w1 >>> 19) & 31] + BASE32[(w1 >>> 14) & 31] + BASE32[(w1 >>> 9) & 31] +
    BASE32[(w1 >>> 4) & 31] + BASE32[((w1 & 15) << 1) | (w2 >>> 31)] +
    BASE32[(w2 >>> 26) & 31] + BASE32[(w2 >>> 21) & 31] + BASE32[(w2 >>> 16) & 31];
}
