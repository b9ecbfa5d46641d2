/**
 * Rule generation: a pure function from the proxier's state (service ports and their endpoints)
 * and options to the lines of the `filter` and `nat` tables, in upstream kube-proxy's exact shape.
 *
 * Packet path (see README.md): PREROUTING/OUTPUT jump to nat KUBE-SERVICES, which matches a
 * service's cluster IP, external IPs and LoadBalancer IPs (and, last, local destinations to
 * KUBE-NODEPORTS). Cluster IP traffic goes to the "internal" policy chain (KUBE-SVC-, or KUBE-SVL-
 * with internalTrafficPolicy Local); external traffic goes through KUBE-EXT- (and KUBE-FW- when
 * loadBalancerSourceRanges apply) to the "external" policy chain. Policy chains pick a KUBE-SEP-
 * chain at random; the KUBE-SEP- chain DNATs. Masquerading is requested with KUBE-MARK-MASQ and
 * performed in KUBE-POSTROUTING. The filter table REJECTs or DROPs traffic to services that have
 * no usable endpoints, so clients fail fast instead of timing out.
 *
 * NOTE: this module is pure (no Deno.*, no clock, no randomness): same input, same text. It
 * memoizes chain-name hashes per (immutable) service port and endpoint object, which does not
 * change its output. Lines are built as strings and pushed to arrays, joined once by
 * `render.ts`: at 10,000 services x 10 endpoints this is ~366,000 nat lines. With
 * `deferServiceRules` (the proxier's choice) only the fixed chains' lines are built here and each
 * service's own chains are built by the renderer as it streams, one service at a time.
 *
 * @module
 */

import type { IPFamily } from "../../cache/objects.ts";
import { categorizeEndpoints } from "../topology.ts";
import {
  type EndpointInfo,
  externallyAccessible,
  type ServicePortInfo,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from "../types.ts";
import {
  EXTERNAL_TRAFFIC_CHAIN_PREFIX,
  FIREWALL_CHAIN_PREFIX,
  isServiceChainName,
  KUBE_DNS_INTERCEPT,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FIREWALL,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  SERVICE_CHAIN_PREFIX,
  SERVICE_LOCAL_CHAIN_PREFIX,
  servicePortChainHash,
  servicePortEndpointChainName,
} from "./chains.ts";
import { cidrContains, isLoopback } from "../net.ts";
import type { DnsIntercept, LocalDetector } from "../backend.ts";

export type { DnsIntercept, LocalDetector };

/** The state rules are generated from: one family's service ports and endpoints. */
export interface ProxyState {
  /** Service ports keyed by `servicePortKey`. */
  readonly services: ReadonlyMap<string, ServicePortInfo>;
  /** Endpoints per `servicePortKey`, sorted by `endpoint`. */
  readonly endpoints: ReadonlyMap<string, readonly EndpointInfo[]>;
}

/** Options of {@linkcode buildRuleSet}: the proxier's configuration for one family. */
export interface RuleSetOptions {
  readonly family: IPFamily;
  /** The masquerade mark as hex, e.g. `0x00004000` (see {@linkcode masqueradeMarkFor}). */
  readonly masqueradeMark: string;
  /** Masquerade all traffic to cluster IPs. */
  readonly masqueradeAll: boolean;
  /** Append `--random-fully` to the MASQUERADE rule (iptables >= 1.6.2). */
  readonly randomFully?: boolean;
  readonly localDetector: LocalDetector;
  /**
   * Local IPs of this family that NodePorts answer on, when `nodePortAddresses` restricts them;
   * undefined when NodePorts match every local address.
   */
  readonly nodePortIPs?: readonly string[];
  /** Localhost NodePorts in effect (IPv4 only; route_localnet set by the caller). */
  readonly localhostNodePorts: boolean;
  /** The node's primary IP of this family ("" if unknown), for LoadBalancer source ranges. */
  readonly nodeIP: string;
  readonly nodeName: string;
  readonly nodeLabels?: Readonly<Record<string, string>>;
  /** The kernel's `nf_conntrack_tcp_be_liberal` is non-zero: the INVALID drop rule is omitted. */
  readonly tcpBeLiberal: boolean;
  /** nfacct counters that exist (their `-m nfacct` matches are only written then). */
  readonly nfacct?: { readonly invalidDropped?: boolean; readonly localhostNodePorts?: boolean };
  readonly dnsIntercept?: DnsIntercept;
  /**
   * Partial sync: only Services in this set (`namespace/name`) get their KUBE-SVC/SVL/EXT/FW/SEP
   * chains written; the others' chains stay as they are in the kernel. Undefined = full sync.
   */
  readonly updatedServices?: ReadonlySet<string>;
  /**
   * Tests only: build the skipped services' lines and count them, instead of counting them
   * arithmetically, to check that both counts agree.
   */
  readonly verifySkippedLineCounts?: boolean;
  /** nat chains currently in the kernel (from iptables-save), to delete stale service chains. */
  readonly existingNatChains?: Iterable<string>;
  /**
   * Join the lines of each service's own chains into one `natRules` entry (the rendered text is
   * the same): at 10,000 services, 366,000 concatenated line strings take about twice the memory
   * of the 10,000 flat strings, and they are what a sync's garbage collection walks.
   */
  readonly joinServiceRules?: boolean;
  /**
   * Leave each service's own chain lines out of `natRules` and build them while rendering
   * ({@linkcode RuleSet.deferredServiceRules}), one service at a time: the rendered text and the
   * counts are the same, but a full sync never holds the ~366,000 lines of a 10,000-service nat
   * table at once (about 97 MB of heap). Takes precedence over `joinServiceRules`.
   */
  readonly deferServiceRules?: boolean;
  /** Endpoint count above which comments are dropped (upstream: 1000). */
  readonly largeClusterEndpointsThreshold?: number;
}

/** Rule counts for the `sync_proxy_rules_iptables_*` metrics. */
export interface RuleCounts {
  /** filter rules written (= total). */
  readonly filter: number;
  /** nat rules written, without `-X` lines (`iptables_last{nat}`). */
  readonly nat: number;
  /** nat rules in the kernel after this sync: written + skipped unchanged (`iptables_total`). */
  readonly natTotal: number;
}

/** The output of {@linkcode buildRuleSet}, rendered by `renderRestoreInput`. */
export interface RuleSet {
  readonly family: IPFamily;
  /** filter chains to declare (flushed by restore). */
  readonly filterChains: string[];
  /** filter rule lines (`-A CHAIN ...`). */
  readonly filterRules: string[];
  /** nat chains to declare, including stale chains about to be deleted. */
  readonly natChains: string[];
  /**
   * nat rule lines, including `-X CHAIN` lines for stale chains; with `joinServiceRules`, the
   * lines of one service's own chains are one entry, joined by newlines.
   */
  readonly natRules: string[];
  /**
   * With `deferServiceRules`, the services whose own chain lines are not in `natRules`, in
   * order: each one's lines go right before `natRules[at]` (or at the end when `at` is
   * `natRules.length`). Empty otherwise.
   */
  readonly deferredServiceRules: readonly DeferredServiceRules[];
  /** For each fixed (non-service) nat chain, the indices of its lines in `natRules`. */
  readonly fixedNatLines: ReadonlyMap<string, readonly number[]>;
  /**
   * Every nat service chain this state uses (written or not); collected only when
   * `existingNatChains` is given (empty otherwise).
   */
  readonly activeNatChains: Set<string>;
  /** Stale service chains deleted by this rule set. */
  readonly deletedChains: string[];
  readonly counts: RuleCounts;
  /** Service ports whose traffic policy Local found no local endpoint, per policy. */
  readonly noLocalEndpoints: { readonly internal: number; readonly external: number };
  /** Whether comments were dropped because the cluster is large. */
  readonly largeClusterMode: boolean;
}

/** One service's own nat chain lines, built on demand (see `RuleSetOptions.deferServiceRules`). */
export interface DeferredServiceRules {
  /** Index in `natRules` before which the lines go. */
  readonly at: number;
  /** Appends the lines to `out`; the same lines every call. */
  readonly write: (out: string[]) => void;
}

/**
 * The masquerade mark for a bit, as upstream formats it (`%#08x`).
 *
 * @param bit `masqueradeBit`, 0..31.
 * @returns e.g. `0x00004000` for 14.
 * @example
 * ```ts
 * masqueradeMarkFor(14); // "0x00004000"
 * ```
 */
export function masqueradeMarkFor(bit: number): string {
  return "0x" + (2 ** bit).toString(16).padStart(8, "0");
}

/**
 * Formats a load-balancing probability as upstream (`%0.10f` of 1/n).
 *
 * @param n the number of endpoints left, including this one.
 * @returns e.g. `0.3333333333` for 3.
 * @example
 * ```ts
 * probability(2); // "0.5000000000"
 * ```
 */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

/** Upstream's `largeClusterEndpointsThreshold`. */
export const LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000;

interface ServiceChains {
  readonly svc: string;
  readonly svl: string;
  readonly ext: string;
  readonly fw: string;
}

// Chain names are memoized on the (immutable) service port and endpoint objects themselves,
// under a non-enumerable symbol: hashing is the costliest step of a build, and objects are
// replaced (not changed) when their Service or EndpointSlice changes, so the memo can never be
// stale. A Map or WeakMap memo costs more than it saves at 100,000 endpoints (WeakMap insertion
// in particular takes seconds in V8).
const CHAINS = Symbol("kube-proxy chain names");

function memo<T extends object, V>(obj: T, compute: () => V): V {
  const cached = (obj as Record<symbol, V | undefined>)[CHAINS];
  if (cached !== undefined) return cached;
  const v = compute();
  Object.defineProperty(obj, CHAINS, { value: v, enumerable: false });
  return v;
}

function chainsOf(sp: ServicePortInfo): ServiceChains {
  return memo(sp, () => {
    const h = servicePortChainHash(sp.nameString, sp.protocol);
    return {
      svc: SERVICE_CHAIN_PREFIX + h,
      svl: SERVICE_LOCAL_CHAIN_PREFIX + h,
      ext: EXTERNAL_TRAFFIC_CHAIN_PREFIX + h,
      fw: FIREWALL_CHAIN_PREFIX + h,
    };
  });
}

// Each EndpointInfo belongs to one service port's endpoint list, so its chain name, a function
// of (service port name, protocol, endpoint), is fixed for the object.
function endpointChainOf(sp: ServicePortInfo, ep: EndpointInfo): string {
  return memo(ep, () => servicePortEndpointChainName(sp.nameString, sp.protocol, ep.endpoint));
}

/** `[ifLocal, ifNotLocal]` match arguments of a detector, or undefined for the no-op detector. */
function detectorArgs(d: LocalDetector): [string, string] | undefined {
  switch (d.mode) {
    case "ClusterCIDR":
    case "NodeCIDR":
      return d.cidr === "" ? undefined : [`-s ${d.cidr}`, `! -s ${d.cidr}`];
    case "BridgeInterface":
      return d.interfaceName === ""
        ? undefined
        : [`-i ${d.interfaceName}`, `! -i ${d.interfaceName}`];
    case "InterfaceNamePrefix":
      return d.interfacePrefix === ""
        ? undefined
        : [`-i ${d.interfacePrefix}+`, `! -i ${d.interfacePrefix}+`];
    default:
      return undefined;
  }
}

const EMPTY_ENDPOINTS: readonly EndpointInfo[] = [];

/**
 * Builds the filter and nat rules for one IP family.
 *
 * @param state the service ports and endpoints of this family.
 * @param opts the proxier's configuration for this family.
 * @returns the rule set, ready for `renderRestoreInput`.
 * @example
 * ```ts
 * const text = renderRestoreInput(buildRuleSet(state, opts));
 * ```
 */
export function buildRuleSet(state: ProxyState, opts: RuleSetOptions): RuleSet {
  const isIPv6 = opts.family === "IPv6";
  const mark = opts.masqueradeMark;
  const nodeName = opts.nodeName;
  const nodeLabels = opts.nodeLabels ?? {};
  const detector = detectorArgs(opts.localDetector);
  const updated = opts.updatedServices;
  const localhostNodePorts = !isIPv6 && opts.localhostNodePorts;

  const filterChains = [
    KUBE_SERVICES,
    KUBE_EXTERNAL_SERVICES,
    KUBE_FORWARD,
    KUBE_NODEPORTS,
    KUBE_PROXY_FIREWALL,
  ];
  const filterRules: string[] = [];
  const natChains = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ];
  const natRules: string[] = [];
  // Where each fixed nat chain's lines are in natRules, so that partial syncs can compare and
  // leave them out without looking at the service chains' lines.
  const fixedNatLines = new Map<string, number[]>(natChains.map((c) => [c, []]));
  const pushFixed = (chain: string, line: string) => {
    let at = fixedNatLines.get(chain);
    if (at === undefined) fixedNatLines.set(chain, at = []);
    at.push(natRules.length);
    natRules.push(line);
  };
  const joinServiceRules = opts.joinServiceRules ?? false;
  let joinedLines = 0;
  const deferServiceRules = opts.deferServiceRules ?? false;
  const deferredServiceRules: DeferredServiceRules[] = [];
  let deferredLines = 0;
  // Only needed to find stale chains: a Set of 110,000 names costs a sync tens of milliseconds.
  const activeNatChains = new Set<string>();
  const collectActive = opts.existingNatChains !== undefined;
  let natRulesSkipped = 0;
  let noLocalInternal = 0, noLocalExternal = 0;

  // Masquerade marked packets on their way out, clearing the mark so that a packet traversing
  // the stack again is not masqueraded twice.
  pushFixed(KUBE_POSTROUTING, `-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`);
  pushFixed(KUBE_POSTROUTING, `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${mark}`);
  pushFixed(
    KUBE_POSTROUTING,
    `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" ` +
      `-j MASQUERADE${opts.randomFully ? " --random-fully" : ""}`,
  );
  pushFixed(KUBE_MARK_MASQ, `-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`);
  if (localhostNodePorts) {
    // route_localnet (needed for localhost NodePorts) lets the network reach 127.0.0.0/8
    // (CVE-2020-8558, issue #90259); this rule closes that hole. NOTE: kubelet writes an
    // identical rule into its KUBE-FIREWALL chain; keep the two interoperable.
    filterChains.push(KUBE_FIREWALL);
    filterRules.push(
      `-A ${KUBE_FIREWALL} -m comment --comment "block incoming localnet connections" ` +
        `-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    );
  }

  // Our extension: cluster-DNS service IPs are answered by the node-local responder. The jump is
  // the first rule of KUBE-SERVICES so that it wins over the DNS Service's own cluster IP rules.
  const dnsIPs = (opts.dnsIntercept?.serviceIPs ?? []).filter((ip) => ip.includes(":") === isIPv6);
  const dnsIntercepted = opts.dnsIntercept !== undefined && dnsIPs.length > 0;
  if (dnsIntercepted) {
    const port = opts.dnsIntercept.port;
    natChains.push(KUBE_DNS_INTERCEPT);
    pushFixed(
      KUBE_SERVICES,
      `-A ${KUBE_SERVICES} -m comment --comment "cluster DNS intercept" -j ${KUBE_DNS_INTERCEPT}`,
    );
    for (const ip of dnsIPs) {
      for (const p of ["udp", "tcp"]) {
        pushFixed(
          KUBE_DNS_INTERCEPT,
          `-A ${KUBE_DNS_INTERCEPT} -m comment --comment "redirect cluster DNS to the node-local responder" ` +
            `-m ${p} -p ${p} -d ${ip} --dport 53 -j REDIRECT --to-ports ${port}`,
        );
      }
    }
  }

  // Large clusters drop comments from the most numerous rules (SVC->SEP and SEP), which shrinks
  // the restore input by 40% or more.
  let totalEndpoints = 0;
  for (const key of state.services.keys()) totalEndpoints += state.endpoints.get(key)?.length ?? 0;
  const largeClusterMode = totalEndpoints >
    (opts.largeClusterEndpointsThreshold ?? LARGE_CLUSTER_ENDPOINTS_THRESHOLD);

  const keys = [...state.services.keys()].sort();
  for (const key of keys) {
    const sp = state.services.get(key)!;
    const S = sp.nameString;
    const p = sp.protocol;
    const proto = `-m ${p} -p ${p}`;
    const eps = state.endpoints.get(key) ?? EMPTY_ENDPOINTS;
    const cat = categorizeEndpoints(eps, sp, nodeName, nodeLabels);
    const chains = chainsOf(sp);
    const accessible = externallyAccessible(sp);

    const hasEndpoints = cat.hasAnyEndpoints;
    const clusterPolicyChain = chains.svc;
    const usesClusterPolicyChain = cat.clusterEndpoints.length > 0 && usesClusterEndpoints(sp);
    const localPolicyChain = chains.svl;
    const usesLocalPolicyChain = cat.localEndpoints.length > 0 && usesLocalEndpoints(sp);

    // internalTrafficChain is the chain cluster IP traffic goes to: the cluster-wide chain, or the
    // node-local one with internalTrafficPolicy Local (then "no local endpoint" means DROP).
    let internalTrafficChain = clusterPolicyChain;
    let hasInternalEndpoints = hasEndpoints;
    if (sp.internalPolicyLocal) {
      internalTrafficChain = localPolicyChain;
      if (cat.localEndpoints.length === 0) hasInternalEndpoints = false;
    }
    // externalPolicyChain is where external traffic (NodePort, external IP, LoadBalancer IP) ends
    // up after KUBE-EXT: the node-local chain with externalTrafficPolicy Local.
    let externalPolicyChain = clusterPolicyChain;
    let hasExternalEndpoints = hasEndpoints;
    if (sp.externalPolicyLocal) {
      externalPolicyChain = localPolicyChain;
      if (cat.localEndpoints.length === 0) hasExternalEndpoints = false;
    }
    // usesExternalTrafficChain depends on hasEndpoints, not hasExternalEndpoints: the
    // short-circuit rules for pods and the node itself are needed even without local endpoints.
    const externalTrafficChain = chains.ext;
    const usesExternalTrafficChain = hasEndpoints && accessible;
    let loadBalancerTrafficChain = externalTrafficChain;
    const fwChain = chains.fw;
    const usesFWChain = hasEndpoints && sp.loadBalancerVIPs.length > 0 &&
      sp.loadBalancerSourceRanges.length > 0;

    if (usesFWChain) loadBalancerTrafficChain = fwChain;
    if (collectActive) {
      if (usesClusterPolicyChain) activeNatChains.add(clusterPolicyChain);
      if (usesLocalPolicyChain) activeNatChains.add(localPolicyChain);
      if (usesExternalTrafficChain) activeNatChains.add(externalTrafficChain);
      if (usesFWChain) activeNatChains.add(fwChain);
      for (const ep of cat.allReachableEndpoints) activeNatChains.add(endpointChainOf(sp, ep));
    }

    let internalFilterTarget = "", internalFilterComment = "";
    let externalFilterTarget = "", externalFilterComment = "";
    if (!hasEndpoints) {
      // No endpoints at all: no nat chains, only filter rules that reject the service's IPs.
      internalFilterTarget = externalFilterTarget = "REJECT";
      internalFilterComment = externalFilterComment = `"${S} has no endpoints"`;
    } else {
      if (!hasInternalEndpoints) {
        internalFilterTarget = "DROP";
        internalFilterComment = `"${S} has no local endpoints"`;
        noLocalInternal++;
      }
      if (!hasExternalEndpoints) {
        externalFilterTarget = "DROP";
        externalFilterComment = `"${S} has no local endpoints"`;
        noLocalExternal++;
      }
    }

    // Capture the cluster IP.
    const clusterDest = `${proto} -d ${sp.clusterIP} --dport ${sp.port}`;
    if (hasInternalEndpoints) {
      pushFixed(
        KUBE_SERVICES,
        `-A ${KUBE_SERVICES} -m comment --comment "${S} cluster IP" ${clusterDest} -j ${internalTrafficChain}`,
      );
    } else {
      filterRules.push(
        `-A ${KUBE_SERVICES} -m comment --comment ${internalFilterComment} ${clusterDest} -j ${internalFilterTarget}`,
      );
    }

    // Capture external IPs.
    for (const ip of sp.externalIPs) {
      const dest = `${proto} -d ${ip} --dport ${sp.port}`;
      if (hasEndpoints) {
        pushFixed(
          KUBE_SERVICES,
          `-A ${KUBE_SERVICES} -m comment --comment "${S} external IP" ${dest} -j ${externalTrafficChain}`,
        );
      }
      if (!hasExternalEndpoints) {
        filterRules.push(
          `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} ${dest} -j ${externalFilterTarget}`,
        );
      }
    }

    // Capture LoadBalancer ingress IPs.
    for (const ip of sp.loadBalancerVIPs) {
      const dest = `${proto} -d ${ip} --dport ${sp.port}`;
      if (hasEndpoints) {
        pushFixed(
          KUBE_SERVICES,
          `-A ${KUBE_SERVICES} -m comment --comment "${S} loadbalancer IP" ${dest} -j ${loadBalancerTrafficChain}`,
        );
      }
      if (usesFWChain) {
        // Packets that fell off the end of KUBE-FW were not DNATed, so they still carry the
        // LoadBalancer IP as destination here and are dropped.
        filterRules.push(
          `-A ${KUBE_PROXY_FIREWALL} -m comment --comment "${S} traffic not accepted by ${fwChain}" ${dest} -j DROP`,
        );
      }
    }
    if (!hasExternalEndpoints) {
      for (const ip of sp.loadBalancerVIPs) {
        filterRules.push(
          `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} ${proto} -d ${ip} --dport ${sp.port} -j ${externalFilterTarget}`,
        );
      }
    }

    // Capture NodePorts.
    if (sp.nodePort !== 0) {
      if (hasEndpoints) {
        if (localhostNodePorts && opts.nfacct?.localhostNodePorts) {
          pushFixed(
            KUBE_NODEPORTS,
            `-A ${KUBE_NODEPORTS} -m comment --comment ${S} ${proto} -d 127.0.0.0/8 --dport ${sp.nodePort} ` +
              `-m nfacct --nfacct-name localhost_nps_accepted_pkts -j ${externalTrafficChain}`,
          );
        }
        pushFixed(
          KUBE_NODEPORTS,
          `-A ${KUBE_NODEPORTS} -m comment --comment ${S} ${proto} --dport ${sp.nodePort} -j ${externalTrafficChain}`,
        );
      }
      if (!hasExternalEndpoints) {
        filterRules.push(
          `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} -m addrtype --dst-type LOCAL ` +
            `${proto} --dport ${sp.nodePort} -j ${externalFilterTarget}`,
        );
      }
    }

    // Accept the health-check node port whatever the endpoints: the load balancer must be able
    // to learn that this node has none.
    if (sp.healthCheckNodePort !== 0) {
      filterRules.push(
        `-A ${KUBE_NODEPORTS} -m comment --comment "${S} health check node port" -m tcp -p tcp ` +
          `--dport ${sp.healthCheckNodePort} -j ACCEPT`,
      );
    }

    // Everything below is the service's own chains; a partial sync writes them only for services
    // that changed (the kernel keeps the others as they are).
    const chainMark = natChains.length, ruleMark = natRules.length;
    const skip = updated !== undefined && !updated.has(sp.serviceKey);
    if (skip ? !opts.verifySkippedLineCounts : deferServiceRules) {
      // Counted, for the rules metrics: a skipped service's lines are not built at all (building
      // and dropping them costs a partial sync as much as a full one), a deferred one's are built
      // while rendering.
      let lines = 0;
      if (hasInternalEndpoints && (opts.masqueradeAll || detector !== undefined)) lines++;
      if (usesExternalTrafficChain) {
        lines += sp.externalPolicyLocal ? (detector !== undefined ? 3 : 2) : 1;
        if (hasExternalEndpoints) lines++;
      }
      if (usesFWChain) {
        const fromNode = opts.nodeIP !== "" &&
          sp.loadBalancerSourceRanges.some((cidr) => cidrContains(cidr, opts.nodeIP));
        lines += sp.loadBalancerSourceRanges.length + 1 +
          (fromNode ? sp.loadBalancerVIPs.length : 0);
      }
      const perEndpoint = sp.stickyMaxAgeSeconds > 0 ? 2 : 1;
      if (usesClusterPolicyChain) lines += perEndpoint * cat.clusterEndpoints.length;
      if (usesLocalPolicyChain) lines += perEndpoint * cat.localEndpoints.length;
      lines += 2 * cat.allReachableEndpoints.length;
      if (skip) {
        natRulesSkipped += lines;
        continue;
      }
      deferredLines += lines;
    }

    // The service's own chains are declared now (declarations come before every rule).
    if (usesExternalTrafficChain) natChains.push(externalTrafficChain);
    if (usesFWChain) natChains.push(fwChain);
    if (usesClusterPolicyChain) natChains.push(clusterPolicyChain);
    if (usesLocalPolicyChain) natChains.push(localPolicyChain);
    for (const ep of cat.allReachableEndpoints) natChains.push(endpointChainOf(sp, ep));

    const writeOwnChains = (out: string[]): void => {
      // Internal traffic: masquerade what does not come from a local pod (or everything with
      // masqueradeAll), so replies come back through this node.
      if (hasInternalEndpoints) {
        if (opts.masqueradeAll) {
          out.push(
            `-A ${internalTrafficChain} -m comment --comment "${S} cluster IP" ${clusterDest} -j ${KUBE_MARK_MASQ}`,
          );
        } else if (detector !== undefined) {
          out.push(
            `-A ${internalTrafficChain} -m comment --comment "${S} cluster IP" ${clusterDest} ${
              detector[1]
            } -j ${KUBE_MARK_MASQ}`,
          );
        }
      }

      if (usesExternalTrafficChain) {
        if (!sp.externalPolicyLocal) {
          // Cluster policy: external traffic may be DNATed to another node, so masquerade it so
          // that replies return through this node.
          out.push(
            `-A ${externalTrafficChain} -m comment --comment "masquerade traffic for ${S} external destinations" -j ${KUBE_MARK_MASQ}`,
          );
        } else {
          // Local policy: pods are short-circuited to the cluster-wide chain, as if they had gone
          // out to the load balancer and come back; no masquerade is needed for them.
          if (detector !== undefined) {
            out.push(
              `-A ${externalTrafficChain} -m comment --comment "pod traffic for ${S} external destinations" ${
                detector[0]
              } -j ${clusterPolicyChain}`,
            );
          }
          // Traffic from the node itself has a node address as source, which the endpoint could
          // not answer directly: masquerade it and send it to the cluster-wide chain.
          out.push(
            `-A ${externalTrafficChain} -m comment --comment "masquerade LOCAL traffic for ${S} external destinations" ` +
              `-m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`,
            `-A ${externalTrafficChain} -m comment --comment "route LOCAL traffic for ${S} external destinations" ` +
              `-m addrtype --src-type LOCAL -j ${clusterPolicyChain}`,
          );
        }
        if (hasExternalEndpoints) {
          out.push(`-A ${externalTrafficChain} -j ${externalPolicyChain}`);
        }
      }

      if (usesFWChain) {
        const fwArgs = `-A ${fwChain} -m comment --comment "${S} loadbalancer IP"`;
        let allowFromNode = false;
        for (const cidr of sp.loadBalancerSourceRanges) {
          out.push(`${fwArgs} -s ${cidr} -j ${externalTrafficChain}`);
          if (opts.nodeIP !== "" && cidrContains(cidr, opts.nodeIP)) allowFromNode = true;
        }
        // The LoadBalancer IP is often also a local address of the node; a request from the node
        // to it then loops back with the VIP as source, which must be allowed too.
        if (allowFromNode) {
          for (const ip of sp.loadBalancerVIPs) {
            out.push(`${fwArgs} -s ${ip} -j ${externalTrafficChain}`);
          }
        }
        out.push(
          `-A ${fwChain} -m comment --comment "other traffic to ${S} will be dropped by KUBE-PROXY-FIREWALL"`,
        );
      }

      if (usesClusterPolicyChain) {
        writeServiceToEndpointRules(
          out,
          sp,
          clusterPolicyChain,
          cat.clusterEndpoints,
          largeClusterMode,
        );
      }
      if (usesLocalPolicyChain) {
        writeServiceToEndpointRules(
          out,
          sp,
          localPolicyChain,
          cat.localEndpoints,
          largeClusterMode,
        );
      }

      // One chain per endpoint: hairpin masquerade (a pod reaching itself through the service
      // must see a source other than its own address), then the DNAT.
      const comment = largeClusterMode ? "" : ` -m comment --comment ${S}`;
      const affinity = sp.stickyMaxAgeSeconds > 0;
      for (const ep of cat.allReachableEndpoints) {
        const chain = endpointChainOf(sp, ep);
        out.push(
          `-A ${chain}${comment} -s ${ep.ip} -j ${KUBE_MARK_MASQ}`,
          affinity
            ? `-A ${chain}${comment} -m recent --name ${chain} --set ${proto} -j DNAT --to-destination ${ep.endpoint}`
            : `-A ${chain}${comment} ${proto} -j DNAT --to-destination ${ep.endpoint}`,
        );
      }
    };

    if (skip) {
      writeOwnChains(natRules);
      natRulesSkipped += natRules.length - ruleMark;
      natRules.length = ruleMark;
      natChains.length = chainMark;
    } else if (deferServiceRules) {
      deferredServiceRules.push({ at: natRules.length, write: writeOwnChains });
    } else {
      writeOwnChains(natRules);
      if (joinServiceRules && natRules.length - ruleMark > 1) {
        // One flat string for the service's own chains instead of dozens of concatenated ones.
        const block = natRules.slice(ruleMark).join("\n");
        joinedLines += natRules.length - ruleMark - 1;
        natRules.length = ruleMark;
        natRules.push(block);
      }
    }
  }

  // Delete service chains (and the DNS intercept chain) that exist in the kernel but are no
  // longer used.
  const deletedChains: string[] = [];
  if (opts.existingNatChains !== undefined) {
    for (const chain of opts.existingNatChains) {
      // The DNS intercept chain of an earlier run with the intercept on: nothing jumps to it
      // once KUBE-SERVICES is rewritten (the first sync is full), so it goes like a stale
      // service chain instead of waiting for --cleanup.
      const staleIntercept = chain === KUBE_DNS_INTERCEPT && !dnsIntercepted;
      if (!staleIntercept && (!isServiceChainName(chain) || activeNatChains.has(chain))) continue;
      deletedChains.push(chain);
    }
    deletedChains.sort();
    for (const chain of deletedChains) {
      natChains.push(chain);
      natRules.push(`-X ${chain}`);
    }
  }

  // Finally, hand local destinations to KUBE-NODEPORTS. NOTE: this must stay the last rule of
  // KUBE-SERVICES, after every service IP rule.
  const npComment =
    `-A ${KUBE_SERVICES} -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"`;
  if (opts.nodePortIPs === undefined) {
    // Localhost NodePorts never work for IPv6, and for IPv4 only with route_localnet.
    const exclude = isIPv6 ? " ! -d ::1/128" : localhostNodePorts ? "" : " ! -d 127.0.0.0/8";
    pushFixed(
      KUBE_SERVICES,
      `${npComment} -m addrtype --dst-type LOCAL${exclude} -j ${KUBE_NODEPORTS}`,
    );
  } else {
    for (const ip of opts.nodePortIPs) {
      if (isLoopback(ip) && (isIPv6 || !localhostNodePorts)) continue;
      pushFixed(KUBE_SERVICES, `${npComment} -d ${ip} -j ${KUBE_NODEPORTS}`);
    }
  }

  // Drop INVALID packets, which would otherwise reach pods and make them reset connections
  // (issue #74839), unless conntrack is liberal about TCP windows (issue #117924).
  if (!opts.tcpBeLiberal) {
    const acct = opts.nfacct?.invalidDropped
      ? " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts"
      : "";
    filterRules.push(`-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID${acct} -j DROP`);
  }
  // Forward marked traffic even when the FORWARD policy is DROP (NodePorts to other nodes),
  // and everything belonging to a connection accepted that way.
  filterRules.push(
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );

  const natWritten = natRules.length + joinedLines + deferredLines - deletedChains.length;
  return {
    family: opts.family,
    filterChains,
    filterRules,
    natChains,
    natRules,
    deferredServiceRules,
    fixedNatLines,
    activeNatChains,
    deletedChains,
    counts: {
      filter: filterRules.length,
      nat: natWritten,
      natTotal: natWritten + natRulesSkipped,
    },
    noLocalEndpoints: { internal: noLocalInternal, external: noLocalExternal },
    largeClusterMode,
  };
}

/** Session-affinity rules, then the random load-balancing rules, into a KUBE-SVC/SVL chain. */
function writeServiceToEndpointRules(
  natRules: string[],
  sp: ServicePortInfo,
  chain: string,
  endpoints: readonly EndpointInfo[],
  largeClusterMode: boolean,
): void {
  const S = sp.nameString;
  if (sp.stickyMaxAgeSeconds > 0) {
    for (const ep of endpoints) {
      const epChain = endpointChainOf(sp, ep);
      const comment = largeClusterMode ? "" : ` -m comment --comment "${S} -> ${ep.endpoint}"`;
      natRules.push(
        `-A ${chain}${comment} -m recent --name ${epChain} --rcheck --seconds ${sp.stickyMaxAgeSeconds} --reap -j ${epChain}`,
      );
    }
  }
  const n = endpoints.length;
  for (let i = 0; i < n; i++) {
    const ep = endpoints[i];
    const epChain = endpointChainOf(sp, ep);
    const comment = largeClusterMode ? "" : ` -m comment --comment "${S} -> ${ep.endpoint}"`;
    natRules.push(
      i < n - 1
        ? `-A ${chain}${comment} -m statistic --mode random --probability ${
          probability(n - i)
        } -j ${epChain}`
        : `-A ${chain}${comment} -j ${epChain}`,
    );
  }
}
