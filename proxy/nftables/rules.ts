/**
 * Pure rule generation for nftables mode: the static skeleton of the `kube-proxy` table
 * ({@linkcode writeStaticRules}) and the objects of one service port rendered from its plan
 * ({@linkcode servicePortObjects}). No clock, no I/O: same input, same text.
 *
 * Rules are written in the syntax `nft list table` prints back (`meta mark set meta mark |
 * 0x00004000`, `numgen random mod 3 0`), so that a listing of the kernel's table parses into
 * exactly the rules written, and the tracer reads both. No rule uses an anonymous set or map:
 * the kernel names each one by scanning the table's sets (quadratic in their number) and nft
 * dumps every anonymous set's elements before each transaction.
 *
 * @module
 */

import type { IPFamily } from "../../cache/objects.ts";
import type { DnsIntercept, LocalDetector } from "../backend.ts";
import type { ServicePlan } from "../service_plan.ts";
import type { EndpointInfo } from "../types.ts";
import {
  affinitySetNameOf,
  chainNameOf,
  CHAINS,
  endpointBase,
  nftComment,
  PREFIX,
  quotable,
  servicePortBase,
  SETS,
} from "./names.ts";
import type { BaseChainHook, SetSpec, Transaction } from "./transaction.ts";

/** The family's spelling in rules and set types. */
export interface FamilyWords {
  /** `ip` or `ip6`: the address match keyword (`ip daddr`). */
  readonly ip: "ip" | "ip6";
  /** `ipv4_addr` or `ipv6_addr`. */
  readonly addr: "ipv4_addr" | "ipv6_addr";
  /** Loopback as excluded from NodePorts: `127.0.0.0/8` or `::1`. */
  readonly loopback: string;
}

/**
 * The words of a family.
 *
 * @param family `IPv4` or `IPv6`.
 */
export function familyWords(family: IPFamily): FamilyWords {
  return family === "IPv6"
    ? { ip: "ip6", addr: "ipv6_addr", loopback: "::1" }
    : { ip: "ip", addr: "ipv4_addr", loopback: "127.0.0.0/8" };
}

/** Options of the static skeleton. */
export interface StaticOptions {
  readonly family: IPFamily;
  /** `masqueradeBit` (0..31). */
  readonly masqueradeBit: number;
  /**
   * Local addresses NodePorts answer on (loopback already removed); undefined: every local
   * address except loopback.
   */
  readonly nodePortIPs?: readonly string[];
  /** The cluster's service CIDRs of this family; undefined when unknown (no drop rule). */
  readonly serviceCIDRs?: readonly string[];
  readonly dnsIntercept?: DnsIntercept;
  /** `masqueradeAll`: masquerade all ClusterIP traffic. */
  readonly masqueradeAll: boolean;
  /** Tells traffic from local pods (not masqueraded to ClusterIPs) from other traffic. */
  readonly localDetector: LocalDetector;
}

/** One base chain of the table (upstream's v1.34+ layout). */
interface BaseChain {
  readonly name: string;
  readonly hook: BaseChainHook;
  /** Chains it jumps to, in order (`ct state new` for the filter chains). */
  readonly jumps: readonly string[];
  readonly ctStateNew: boolean;
}

/**
 * Upstream's base chains, hooks and priorities: the same names and hooks make upstream's
 * cleanup and ours delete each other's table.
 */
const BASE_CHAINS: readonly BaseChain[] = [
  {
    name: CHAINS.filterPreroutingPreDnat,
    hook: { type: "filter", hook: "prerouting", priority: -110 },
    jumps: [CHAINS.firewallCheck],
    ctStateNew: true,
  },
  {
    name: CHAINS.filterOutputPreDnat,
    hook: { type: "filter", hook: "output", priority: -110 },
    jumps: [CHAINS.firewallCheck],
    ctStateNew: true,
  },
  {
    name: CHAINS.filterInput,
    hook: { type: "filter", hook: "input", priority: 0 },
    jumps: [CHAINS.nodeportEndpointsCheck, CHAINS.serviceEndpointsCheck],
    ctStateNew: true,
  },
  {
    name: CHAINS.filterForward,
    hook: { type: "filter", hook: "forward", priority: 0 },
    jumps: [CHAINS.serviceEndpointsCheck, CHAINS.clusterIPsCheck],
    ctStateNew: true,
  },
  {
    name: CHAINS.filterOutput,
    hook: { type: "filter", hook: "output", priority: 0 },
    jumps: [CHAINS.serviceEndpointsCheck, CHAINS.clusterIPsCheck],
    ctStateNew: true,
  },
  {
    name: CHAINS.natPrerouting,
    hook: { type: "nat", hook: "prerouting", priority: -100 },
    jumps: [CHAINS.services],
    ctStateNew: false,
  },
  {
    name: CHAINS.natOutput,
    hook: { type: "nat", hook: "output", priority: -100 },
    jumps: [CHAINS.services],
    ctStateNew: false,
  },
  {
    name: CHAINS.natPostrouting,
    hook: { type: "nat", hook: "postrouting", priority: 100 },
    jumps: [CHAINS.masquerading],
    ctStateNew: false,
  },
];

/**
 * The mark as `nft list` prints it: 8 hex digits.
 *
 * @param bit `masqueradeBit`.
 * @returns e.g. `0x00004000` for 14.
 */
function markOf(bit: number): string {
  return "0x" + (2 ** bit).toString(16).padStart(8, "0");
}

/** The static sets and maps (always declared). */
function staticSets(w: FamilyWords): SetSpec[] {
  const svcKey = `${w.addr} . inet_proto . inet_service`;
  return [
    { name: SETS.clusterIPs, type: w.addr },
    { name: SETS.nodePortIPs, type: w.addr },
    { name: SETS.serviceIPs, type: svcKey, valueType: "verdict" },
    { name: SETS.serviceNodePorts, type: "inet_proto . inet_service", valueType: "verdict" },
    { name: SETS.noEndpointServices, type: svcKey, valueType: "verdict" },
    { name: SETS.noEndpointNodePorts, type: "inet_proto . inet_service", valueType: "verdict" },
    { name: SETS.firewallIPs, type: svcKey, valueType: "verdict" },
    { name: SETS.hairpin, type: `${w.addr} . ${w.addr}` },
  ];
}

/**
 * Writes the table's skeleton into a transaction: base chains and their jumps, the dispatch
 * chains, sets and maps (empty), the masquerade chains, `nodeport-ips`, the ClusterIP checks and
 * the DNS intercept. The caller has created the table; service objects come after.
 *
 * @param tx the transaction.
 * @param opts the family's settings.
 */
export function writeStaticRules(tx: Transaction, opts: StaticOptions): void {
  const w = familyWords(opts.family);
  const mark = markOf(opts.masqueradeBit);
  for (const set of staticSets(w)) tx.addSet(set);
  const dnsIPs = dnsInterceptIPs(opts);
  const helpers = [
    CHAINS.services,
    CHAINS.serviceEndpointsCheck,
    CHAINS.nodeportEndpointsCheck,
    CHAINS.firewallCheck,
    CHAINS.clusterIPsCheck,
    CHAINS.markForMasquerade,
    CHAINS.masquerading,
    CHAINS.rejectChain,
    ...(dnsIPs.length > 0 ? [CHAINS.dnsIntercept] : []),
  ];
  for (const c of helpers) tx.addChain(c);
  for (const b of BASE_CHAINS) {
    tx.addChain(b.name, b.hook);
    for (const j of b.jumps) tx.addRule(b.name, `${b.ctStateNew ? "ct state new " : ""}jump ${j}`);
  }

  // Our extension, first in `services` so that it wins over the DNS Service's own entry.
  if (dnsIPs.length > 0) {
    tx.addRule(
      CHAINS.services,
      `jump ${CHAINS.dnsIntercept} ${nftComment("cluster DNS intercept")}`,
    );
    for (const ip of dnsIPs) {
      for (const p of ["udp", "tcp"]) {
        tx.addRule(
          CHAINS.dnsIntercept,
          `${w.ip} daddr ${ip} ${p} dport 53 redirect to :${opts.dnsIntercept!.port} ${
            nftComment("redirect cluster DNS to the node-local responder")
          }`,
        );
      }
    }
  }
  const dispatch = "meta l4proto . th dport";
  // ClusterIP traffic to masquerade, for every service at once (upstream >= 1.36 does the
  // same): marking a packet that is then rejected or dropped for want of endpoints is harmless.
  const notLocal = detectorMatches(opts.localDetector, w)?.[1];
  if (opts.masqueradeAll) {
    tx.addRule(
      CHAINS.services,
      `${w.ip} daddr @${SETS.clusterIPs} jump ${CHAINS.markForMasquerade} ${
        nftComment("masquerade all ClusterIP traffic")
      }`,
    );
  } else if (notLocal !== undefined) {
    tx.addRule(
      CHAINS.services,
      `${w.ip} daddr @${SETS.clusterIPs} ${notLocal} jump ${CHAINS.markForMasquerade} ${
        nftComment("masquerade ClusterIP traffic not from a local pod")
      }`,
    );
  }
  tx.addRule(CHAINS.services, `${w.ip} daddr . ${dispatch} vmap @${SETS.serviceIPs}`);
  if (opts.nodePortIPs === undefined) {
    tx.addRule(
      CHAINS.services,
      `fib daddr type local ${w.ip} daddr != ${w.loopback} ${dispatch} vmap @${SETS.serviceNodePorts}`,
    );
    tx.addRule(
      CHAINS.nodeportEndpointsCheck,
      `${w.ip} daddr != ${w.loopback} ${dispatch} vmap @${SETS.noEndpointNodePorts}`,
    );
  } else {
    tx.addRule(
      CHAINS.services,
      `${w.ip} daddr @${SETS.nodePortIPs} ${dispatch} vmap @${SETS.serviceNodePorts}`,
    );
    tx.addRule(
      CHAINS.nodeportEndpointsCheck,
      `${w.ip} daddr @${SETS.nodePortIPs} ${dispatch} vmap @${SETS.noEndpointNodePorts}`,
    );
    for (const ip of opts.nodePortIPs) tx.addElement(SETS.nodePortIPs, ip);
  }
  tx.addRule(
    CHAINS.serviceEndpointsCheck,
    `${w.ip} daddr . ${dispatch} vmap @${SETS.noEndpointServices}`,
  );
  tx.addRule(CHAINS.firewallCheck, `${w.ip} daddr . ${dispatch} vmap @${SETS.firewallIPs}`);
  tx.addRule(
    CHAINS.clusterIPsCheck,
    `${w.ip} daddr @${SETS.clusterIPs} reject ${
      nftComment("Reject traffic to invalid ports of ClusterIPs")
    }`,
  );
  for (const cidr of opts.serviceCIDRs ?? []) {
    tx.addRule(
      CHAINS.clusterIPsCheck,
      `${w.ip} daddr ${cidr} drop ${nftComment("Drop traffic to unallocated ClusterIPs")}`,
    );
  }
  tx.addRule(CHAINS.markForMasquerade, `meta mark set meta mark | ${mark}`);
  // A pod reaching itself through a service must see another source (hairpin).
  tx.addRule(
    CHAINS.masquerading,
    `ct status dnat ${w.ip} saddr . ${w.ip} daddr @${SETS.hairpin} masquerade fully-random`,
  );
  tx.addRule(CHAINS.masquerading, `meta mark & ${mark} == 0x00000000 return`);
  // Clear the mark, so that a packet traversing the stack again is not masqueraded twice.
  tx.addRule(CHAINS.masquerading, `meta mark set meta mark ^ ${mark}`);
  tx.addRule(CHAINS.masquerading, "masquerade fully-random");
  tx.addRule(CHAINS.rejectChain, "reject");
}

/** The DNS intercept's service IPs of this family. */
function dnsInterceptIPs(opts: StaticOptions): readonly string[] {
  if (opts.dnsIntercept === undefined) return [];
  const v6 = opts.family === "IPv6";
  return opts.dnsIntercept.serviceIPs.filter((ip) => ip.includes(":") === v6);
}

/** One element of a set or map, owned by a service port. */
export interface Element {
  readonly set: string;
  readonly key: string;
  readonly value?: string;
  /** An already-quoted `comment "..."`, or undefined. */
  readonly comment?: string;
}

/** An affinity set of a service port's endpoint. */
export interface AffinitySet {
  readonly name: string;
  readonly timeoutSeconds: number;
}

/** Everything one service port owns in the table. */
export interface ServicePortObjects {
  /** Its chains with their rules, in the order they must be created. */
  readonly chains: ReadonlyArray<readonly [name: string, rules: readonly string[]]>;
  /** Its affinity sets (ClientIP session affinity only). */
  readonly affinitySets: readonly AffinitySet[];
  /** Its elements in the shared sets and maps. */
  readonly elements: readonly Element[];
}

/** Per-family settings a service port's rules depend on. */
export interface ServiceRuleOptions {
  readonly family: IPFamily;
  readonly localDetector: LocalDetector;
}

/**
 * `[isLocal, notLocal]` matches of a detector, or undefined for the no-op detector.
 *
 * @param d the detector.
 * @param w the family's words.
 */
export function detectorMatches(
  d: LocalDetector,
  w: FamilyWords,
): readonly [string, string] | undefined {
  switch (d.mode) {
    case "ClusterCIDR":
    case "NodeCIDR":
      return d.cidr === "" ? undefined : [`${w.ip} saddr ${d.cidr}`, `${w.ip} saddr != ${d.cidr}`];
    case "BridgeInterface": {
      if (d.interfaceName === "") return undefined;
      const name = `"${quotable(d.interfaceName)}"`;
      return [`iifname ${name}`, `iifname != ${name}`];
    }
    case "InterfaceNamePrefix": {
      if (d.interfacePrefix === "") return undefined;
      const name = `"${quotable(d.interfacePrefix)}*"`;
      return [`iifname ${name}`, `iifname != ${name}`];
    }
    default:
      return undefined;
  }
}

/** How an endpoint is written as a DNAT target: `IP:port`, IPv6 `[IP]:port`. */
function dnatTarget(ep: EndpointInfo, w: FamilyWords): string {
  return w.ip === "ip6" ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}

/**
 * The chains, affinity sets and elements of one service port, rendered from its plan.
 *
 * Chains: `service-` (cluster-wide endpoints), `local-` (this node's endpoints), `external-`
 * (external traffic's masquerade and short-circuits), `firewall-` (source ranges), and, with
 * ClientIP affinity only, one `endpoint-` chain per endpoint (which records the client in the
 * endpoint's `affinity-` set). Without affinity, the policy chain DNATs itself (one
 * `numgen random mod k 0` rule per endpoint), so the table grows no chain per endpoint.
 *
 * @param plan the service port's plan.
 * @param opts the family's settings.
 * @returns what the service port owns.
 */
export function servicePortObjects(
  plan: ServicePlan,
  opts: ServiceRuleOptions,
): ServicePortObjects {
  const sp = plan.service;
  const w = familyWords(opts.family);
  const detector = detectorMatches(opts.localDetector, w);
  const base = servicePortBase(
    sp.portName.namespace,
    sp.portName.name,
    sp.protocol,
    sp.portName.port,
  );
  const serviceChain = chainNameOf(PREFIX.service, base);
  const localChain = chainNameOf(PREFIX.local, base);
  const externalChain = chainNameOf(PREFIX.external, base);
  const firewallChain = chainNameOf(PREFIX.firewall, base);
  const proto = sp.protocol;
  const chains: Array<readonly [string, readonly string[]]> = [];
  const affinitySets: AffinitySet[] = [];
  const elements: Element[] = [];
  const affinity = plan.affinitySeconds > 0;
  const hasServiceChain = plan.clusterEndpoints.length > 0;
  const hasLocalChain = plan.localEndpoints.length > 0;
  const internalChain = plan.internal.policy === "local" ? localChain : serviceChain;

  // Endpoint chains and affinity sets (affinity only): record the client, then DNAT.
  const endpointChains = new Map<EndpointInfo, { chain: string; set: string }>();
  if (affinity) {
    for (const ep of plan.reachableEndpoints) {
      const epBase = endpointBase(base, ep.ip, ep.port);
      const chain = chainNameOf(PREFIX.endpoint, epBase);
      const set = affinitySetNameOf(epBase);
      endpointChains.set(ep, { chain, set });
      affinitySets.push({ name: set, timeoutSeconds: plan.affinitySeconds });
      chains.push([chain, [
        `update @${set} { ${w.ip} saddr }`,
        `meta l4proto ${proto} dnat to ${dnatTarget(ep, w)}`,
      ]]);
    }
  }

  const policyRules = (endpoints: readonly EndpointInfo[]): string[] => {
    // (ClusterIP masquerading is one static rule in `services`, see writeStaticRules.)
    const rules: string[] = [];
    if (affinity) {
      for (const ep of endpoints) {
        const { chain, set } = endpointChains.get(ep)!;
        rules.push(`${w.ip} saddr @${set} goto ${chain}`);
      }
    }
    // Load balancing as a cascade, as iptables' statistic rules: rule i of n matches with
    // probability 1/(n-i), the last always, so each endpoint gets 1/n. No anonymous map: the
    // kernel names each one with a scan of the table's sets (quadratic at 10,000 services),
    // and nft dumps every anonymous set's elements before each transaction.
    endpoints.forEach((ep, i) => {
      const left = endpoints.length - i;
      const pick = left > 1 ? `numgen random mod ${left} 0 ` : "";
      rules.push(
        affinity
          ? `${pick}goto ${endpointChains.get(ep)!.chain}`
          : `${pick}meta l4proto ${proto} dnat to ${dnatTarget(ep, w)}`,
      );
    });
    return rules;
  };
  if (hasServiceChain) {
    chains.push([serviceChain, policyRules(plan.clusterEndpoints)]);
  }
  if (hasLocalChain) chains.push([localChain, policyRules(plan.localEndpoints)]);

  if (plan.externalStage) {
    const rules: string[] = [];
    if (plan.externalMasquerade === "all") {
      rules.push(`jump ${CHAINS.markForMasquerade}`);
      if (hasServiceChain) rules.push(`goto ${serviceChain}`);
    } else {
      if (plan.shortCircuitLocalPods && detector !== undefined && hasServiceChain) {
        rules.push(
          `${detector[0]} goto ${serviceChain} ${nftComment("short-circuit pod traffic")}`,
        );
      }
      rules.push(
        `fib saddr type local jump ${CHAINS.markForMasquerade} ${
          nftComment("masquerade local traffic")
        }`,
      );
      if (hasServiceChain) {
        rules.push(
          `fib saddr type local goto ${serviceChain} ${nftComment("short-circuit local traffic")}`,
        );
      }
      if (plan.external.refuse === undefined && hasLocalChain) rules.push(`goto ${localChain}`);
    }
    chains.push([externalChain, rules]);
  }

  if (plan.firewall !== undefined) {
    // One `return` per allowed source, then drop (no anonymous set; see the load balancing).
    const allowed = [...plan.firewall.sourceRanges, ...plan.firewall.vipSources];
    chains.push([firewallChain, [...allowed.map((a) => `${w.ip} saddr ${a} return`), "drop"]]);
    for (const vip of sp.loadBalancerVIPs) {
      elements.push({
        set: SETS.firewallIPs,
        key: `${vip} . ${proto} . ${sp.port}`,
        value: `goto ${firewallChain}`,
      });
    }
  }

  // Dispatch elements.
  const refuseVerdict = (r: "REJECT" | "DROP") =>
    r === "REJECT" ? `goto ${CHAINS.rejectChain}` : "drop";
  const comment = nftComment(sp.nameString);
  elements.push({ set: SETS.clusterIPs, key: sp.clusterIP });
  const clusterKey = `${sp.clusterIP} . ${proto} . ${sp.port}`;
  if (plan.internal.refuse === undefined) {
    elements.push({ set: SETS.serviceIPs, key: clusterKey, value: `goto ${internalChain}` });
  } else {
    elements.push({
      set: SETS.noEndpointServices,
      key: clusterKey,
      value: refuseVerdict(plan.internal.refuse),
      comment,
    });
  }
  for (const ip of [...sp.externalIPs, ...sp.loadBalancerVIPs]) {
    const key = `${ip} . ${proto} . ${sp.port}`;
    if (plan.externalStage) {
      elements.push({ set: SETS.serviceIPs, key, value: `goto ${externalChain}` });
    }
    if (plan.external.refuse !== undefined) {
      elements.push({
        set: SETS.noEndpointServices,
        key,
        value: refuseVerdict(plan.external.refuse),
        comment,
      });
    }
  }
  if (sp.nodePort !== 0) {
    const key = `${proto} . ${sp.nodePort}`;
    if (plan.externalStage) {
      elements.push({ set: SETS.serviceNodePorts, key, value: `goto ${externalChain}` });
    }
    if (plan.external.refuse !== undefined) {
      elements.push({
        set: SETS.noEndpointNodePorts,
        key,
        value: refuseVerdict(plan.external.refuse),
        comment,
      });
    }
  }
  // Hairpin: only a pod on this node can reach itself through this node's rules, so only local
  // endpoints need an element (1 % of them in the benchmarks' cluster of 100 nodes).
  for (const ep of plan.reachableEndpoints) {
    if (ep.isLocal) elements.push({ set: SETS.hairpin, key: `${ep.ip} . ${ep.ip}` });
  }
  return { chains, affinitySets, elements };
}
