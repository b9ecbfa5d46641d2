/**
 * The iptables rules of one service port, rendered from its {@linkcode ServicePlan}
 * (`../service_plan.ts` decided where each kind of traffic goes; nothing here decides policy):
 *
 * - {@linkcode writeServiceEntryRules}: the port's rules in the shared chains: nat KUBE-SERVICES
 *   (cluster, external and LoadBalancer IPs) and KUBE-NODEPORTS, and the filter REJECT/DROP,
 *   firewall and health-check rules;
 * - {@linkcode writeServiceChains}: the port's own nat chains, in order: the internal masquerade
 *   rule, KUBE-EXT-, KUBE-FW-, KUBE-SVC-, KUBE-SVL- and one KUBE-SEP- per endpoint.
 *
 * Object text in comments goes through `commentText` (`comment.ts`). Pure.
 *
 * @module
 */

import type { EndpointInfo, ServicePortInfo } from "../types.ts";
import type { ServicePlan, TrafficPlan } from "../service_plan.ts";
import {
  EXTERNAL_TRAFFIC_CHAIN_PREFIX,
  FIREWALL_CHAIN_PREFIX,
  KUBE_EXTERNAL_SERVICES,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  SERVICE_CHAIN_PREFIX,
  SERVICE_LOCAL_CHAIN_PREFIX,
  servicePortChainHash,
  servicePortEndpointChainName,
} from "./chains.ts";
import { commentText } from "./comment.ts";

/** The chain names of one service port, and its name as comment text. */
export interface ServiceChainNames {
  /** KUBE-SVC-: the cluster-wide endpoints. */
  readonly svc: string;
  /** KUBE-SVL-: this node's endpoints. */
  readonly svl: string;
  /** KUBE-EXT-: external traffic's stage. */
  readonly ext: string;
  /** KUBE-FW-: LoadBalancer source ranges. */
  readonly fw: string;
  /** `ns/name:port` through `commentText`. */
  readonly comment: string;
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

/**
 * The chain names of a service port (memoized on the object).
 *
 * @param sp the service port.
 * @returns its KUBE-SVC/SVL/EXT/FW names and comment text.
 */
export function chainsOf(sp: ServicePortInfo): ServiceChainNames {
  return memo(sp, () => {
    const h = servicePortChainHash(sp.nameString, sp.protocol);
    return {
      svc: SERVICE_CHAIN_PREFIX + h,
      svl: SERVICE_LOCAL_CHAIN_PREFIX + h,
      ext: EXTERNAL_TRAFFIC_CHAIN_PREFIX + h,
      fw: FIREWALL_CHAIN_PREFIX + h,
      comment: commentText(sp.nameString),
    };
  });
}

/**
 * The KUBE-SEP- chain of an endpoint (memoized on the endpoint object, which belongs to one
 * service port's endpoint list, so its name is fixed for the object).
 *
 * @param sp the service port the endpoint belongs to.
 * @param ep the endpoint.
 * @returns e.g. `KUBE-SEP-SXIVWICOYRO3J4NJ`.
 */
function endpointChainOf(sp: ServicePortInfo, ep: EndpointInfo): string {
  return memo(ep, () => servicePortEndpointChainName(sp.nameString, sp.protocol, ep.endpoint));
}

/** The chain of an endpoint set. */
function policyChain(names: ServiceChainNames, policy: TrafficPlan["policy"]): string {
  return policy === "local" ? names.svl : names.svc;
}

/** The service's own nat chains a plan uses, in declaration order. */
export function serviceChainsOf(plan: ServicePlan, names: ServiceChainNames): string[] {
  const out: string[] = [];
  if (plan.externalStage) out.push(names.ext);
  if (plan.firewall !== undefined) out.push(names.fw);
  if (plan.clusterEndpoints.length > 0) out.push(names.svc);
  if (plan.localEndpoints.length > 0) out.push(names.svl);
  for (const ep of plan.reachableEndpoints) out.push(endpointChainOf(plan.service, ep));
  return out;
}

/** Where {@linkcode writeServiceEntryRules} writes, and the settings it needs. */
export interface EntryRuleSink {
  /** Appends a line to a fixed nat chain (KUBE-SERVICES, KUBE-NODEPORTS). */
  nat(chain: string, line: string): void;
  /** Appends a filter line. */
  filter(line: string): void;
  /** Localhost NodePorts with the nfacct counter: an extra counted 127.0.0.0/8 rule. */
  readonly countLocalhostNodePorts: boolean;
}

function protoArgs(sp: ServicePortInfo): string {
  return `-m ${sp.protocol} -p ${sp.protocol}`;
}

/** The filter rule refusing one kind of traffic. */
function refusal(t: TrafficPlan, names: ServiceChainNames): { comment: string; target: string } {
  const why = t.refuse === "REJECT" ? "has no endpoints" : "has no local endpoints";
  return { comment: `"${names.comment} ${why}"`, target: t.refuse ?? "" };
}

/**
 * Writes a service port's rules in the shared chains: its IPs in nat KUBE-SERVICES, its NodePort
 * in KUBE-NODEPORTS, the filter rules refusing traffic without endpoints, dropping LoadBalancer
 * traffic the source ranges did not accept, and accepting the health-check node port.
 *
 * @param sink where the lines go.
 * @param plan the port's plan.
 */
export function writeServiceEntryRules(sink: EntryRuleSink, plan: ServicePlan): void {
  const names = chainsOf(plan.service);
  writeClusterIPRule(sink, plan, names);
  writeExternalIPRules(sink, plan, names);
  writeLoadBalancerRules(sink, plan, names);
  writeNodePortRules(sink, plan, names);
  writeHealthCheckRule(sink, plan, names);
}

function writeClusterIPRule(sink: EntryRuleSink, plan: ServicePlan, names: ServiceChainNames) {
  const sp = plan.service;
  const dest = `${protoArgs(sp)} -d ${sp.clusterIP} --dport ${sp.port}`;
  if (plan.internal.refuse === undefined) {
    sink.nat(
      KUBE_SERVICES,
      `-A ${KUBE_SERVICES} -m comment --comment "${names.comment} cluster IP" ${dest} -j ${
        policyChain(names, plan.internal.policy)
      }`,
    );
    return;
  }
  const r = refusal(plan.internal, names);
  sink.filter(`-A ${KUBE_SERVICES} -m comment --comment ${r.comment} ${dest} -j ${r.target}`);
}

function writeExternalIPRules(sink: EntryRuleSink, plan: ServicePlan, names: ServiceChainNames) {
  const sp = plan.service;
  for (const ip of sp.externalIPs) {
    const dest = `${protoArgs(sp)} -d ${ip} --dport ${sp.port}`;
    if (plan.externalStage) {
      sink.nat(
        KUBE_SERVICES,
        `-A ${KUBE_SERVICES} -m comment --comment "${names.comment} external IP" ${dest} -j ${names.ext}`,
      );
    }
    if (plan.external.refuse !== undefined) {
      const r = refusal(plan.external, names);
      sink.filter(
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${r.comment} ${dest} -j ${r.target}`,
      );
    }
  }
}

function writeLoadBalancerRules(sink: EntryRuleSink, plan: ServicePlan, names: ServiceChainNames) {
  const sp = plan.service;
  const entry = plan.firewall !== undefined ? names.fw : names.ext;
  for (const ip of sp.loadBalancerVIPs) {
    const dest = `${protoArgs(sp)} -d ${ip} --dport ${sp.port}`;
    if (plan.externalStage) {
      sink.nat(
        KUBE_SERVICES,
        `-A ${KUBE_SERVICES} -m comment --comment "${names.comment} loadbalancer IP" ${dest} -j ${entry}`,
      );
    }
    if (plan.firewall !== undefined) {
      // Packets that fell off the end of KUBE-FW were not DNATed, so they still carry the
      // LoadBalancer IP as destination here and are dropped.
      sink.filter(
        `-A ${KUBE_PROXY_FIREWALL} -m comment --comment "${names.comment} traffic not accepted by ${names.fw}" ${dest} -j DROP`,
      );
    }
  }
  if (plan.external.refuse === undefined) return;
  const r = refusal(plan.external, names);
  for (const ip of sp.loadBalancerVIPs) {
    sink.filter(
      `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${r.comment} ${
        protoArgs(sp)
      } -d ${ip} --dport ${sp.port} -j ${r.target}`,
    );
  }
}

function writeNodePortRules(sink: EntryRuleSink, plan: ServicePlan, names: ServiceChainNames) {
  const sp = plan.service;
  if (sp.nodePort === 0) return;
  const proto = protoArgs(sp);
  if (plan.externalStage) {
    if (sink.countLocalhostNodePorts) {
      sink.nat(
        KUBE_NODEPORTS,
        `-A ${KUBE_NODEPORTS} -m comment --comment ${names.comment} ${proto} -d 127.0.0.0/8 --dport ${sp.nodePort} ` +
          `-m nfacct --nfacct-name localhost_nps_accepted_pkts -j ${names.ext}`,
      );
    }
    sink.nat(
      KUBE_NODEPORTS,
      `-A ${KUBE_NODEPORTS} -m comment --comment ${names.comment} ${proto} --dport ${sp.nodePort} -j ${names.ext}`,
    );
  }
  if (plan.external.refuse !== undefined) {
    const r = refusal(plan.external, names);
    sink.filter(
      `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${r.comment} -m addrtype --dst-type LOCAL ` +
        `${proto} --dport ${sp.nodePort} -j ${r.target}`,
    );
  }
}

/**
 * Accepts the health-check node port whatever the endpoints: the load balancer must be able to
 * learn that this node has none.
 */
function writeHealthCheckRule(sink: EntryRuleSink, plan: ServicePlan, names: ServiceChainNames) {
  const port = plan.service.healthCheckNodePort;
  if (port === 0) return;
  sink.filter(
    `-A ${KUBE_NODEPORTS} -m comment --comment "${names.comment} health check node port" -m tcp -p tcp ` +
      `--dport ${port} -j ACCEPT`,
  );
}

/** Settings of {@linkcode writeServiceChains}. */
export interface ServiceChainSettings {
  /** `[ifLocal, ifNotLocal]` match arguments of the local detector; undefined for none. */
  readonly detector: readonly [string, string] | undefined;
  /** Large cluster: the SVC/SVL-to-SEP and SEP rules go without comments. */
  readonly largeClusterMode: boolean;
}

/**
 * Writes the lines of a service port's own nat chains (declared by the caller with
 * {@linkcode serviceChainsOf}).
 *
 * @param out where the lines go.
 * @param plan the port's plan.
 * @param settings detector and comment settings.
 */
export function writeServiceChains(
  out: string[],
  plan: ServicePlan,
  settings: ServiceChainSettings,
): void {
  const names = chainsOf(plan.service);
  writeInternalMasquerade(out, plan, names, settings);
  if (plan.externalStage) writeExternalChain(out, plan, names, settings);
  if (plan.firewall !== undefined) writeFirewallChain(out, plan, names);
  const comments = !settings.largeClusterMode;
  if (plan.clusterEndpoints.length > 0) {
    writePolicyChain(out, plan, names.svc, plan.clusterEndpoints, comments);
  }
  if (plan.localEndpoints.length > 0) {
    writePolicyChain(out, plan, names.svl, plan.localEndpoints, comments);
  }
  writeEndpointChains(out, plan, names, comments);
}

/**
 * Cluster IP traffic: masquerade what does not come from a local pod (or everything with
 * masqueradeAll), so replies come back through this node.
 */
function writeInternalMasquerade(
  out: string[],
  plan: ServicePlan,
  names: ServiceChainNames,
  settings: ServiceChainSettings,
): void {
  if (plan.internalMasquerade === "none") return;
  const sp = plan.service;
  const match = plan.internalMasquerade === "notLocal" ? ` ${settings.detector![1]}` : "";
  out.push(
    `-A ${
      policyChain(names, plan.internal.policy)
    } -m comment --comment "${names.comment} cluster IP" ${
      protoArgs(sp)
    } -d ${sp.clusterIP} --dport ${sp.port}${match} -j ${KUBE_MARK_MASQ}`,
  );
}

/** KUBE-EXT-: masquerade as the plan says, short-circuit pods and the node, then the endpoints. */
function writeExternalChain(
  out: string[],
  plan: ServicePlan,
  names: ServiceChainNames,
  settings: ServiceChainSettings,
): void {
  const S = names.comment;
  const ext = `-A ${names.ext} -m comment --comment`;
  if (plan.externalMasquerade === "all") {
    out.push(`${ext} "masquerade traffic for ${S} external destinations" -j ${KUBE_MARK_MASQ}`);
  } else {
    if (plan.shortCircuitLocalPods) {
      out.push(
        `${ext} "pod traffic for ${S} external destinations" ${
          settings.detector![0]
        } -j ${names.svc}`,
      );
    }
    out.push(
      `${ext} "masquerade LOCAL traffic for ${S} external destinations" -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`,
      `${ext} "route LOCAL traffic for ${S} external destinations" -m addrtype --src-type LOCAL -j ${names.svc}`,
    );
  }
  if (plan.external.refuse === undefined) {
    out.push(`-A ${names.ext} -j ${policyChain(names, plan.external.policy)}`);
  }
}

/** KUBE-FW-: accepted sources go on to KUBE-EXT-; the rest falls through (dropped in filter). */
function writeFirewallChain(out: string[], plan: ServicePlan, names: ServiceChainNames): void {
  const fw = plan.firewall!;
  const accept = `-A ${names.fw} -m comment --comment "${names.comment} loadbalancer IP"`;
  for (const cidr of fw.sourceRanges) out.push(`${accept} -s ${cidr} -j ${names.ext}`);
  for (const ip of fw.vipSources) out.push(`${accept} -s ${ip} -j ${names.ext}`);
  out.push(
    `-A ${names.fw} -m comment --comment "other traffic to ${names.comment} will be dropped by KUBE-PROXY-FIREWALL"`,
  );
}

/**
 * KUBE-SVC-/KUBE-SVL-: session-affinity rules, then rule `i` of `n` jumping to its endpoint with
 * probability `1/(n-i)`, the last one unconditionally.
 */
function writePolicyChain(
  out: string[],
  plan: ServicePlan,
  chain: string,
  endpoints: readonly EndpointInfo[],
  comments: boolean,
): void {
  const sp = plan.service;
  const S = chainsOf(sp).comment;
  const commentOf = (ep: EndpointInfo) =>
    comments ? ` -m comment --comment "${S} -> ${commentText(ep.endpoint)}"` : "";
  if (plan.affinitySeconds > 0) {
    for (const ep of endpoints) {
      const epChain = endpointChainOf(sp, ep);
      out.push(
        `-A ${chain}${
          commentOf(ep)
        } -m recent --name ${epChain} --rcheck --seconds ${plan.affinitySeconds} --reap -j ${epChain}`,
      );
    }
  }
  const n = endpoints.length;
  for (let i = 0; i < n; i++) {
    const ep = endpoints[i];
    const epChain = endpointChainOf(sp, ep);
    out.push(
      i < n - 1
        ? `-A ${chain}${commentOf(ep)} -m statistic --mode random --probability ${
          probability(n - i)
        } -j ${epChain}`
        : `-A ${chain}${commentOf(ep)} -j ${epChain}`,
    );
  }
}

/**
 * One KUBE-SEP- per endpoint: hairpin masquerade (a pod reaching itself through the service must
 * see a source other than its own address), the affinity entry, then the DNAT.
 */
function writeEndpointChains(
  out: string[],
  plan: ServicePlan,
  names: ServiceChainNames,
  comments: boolean,
): void {
  const sp = plan.service;
  const comment = comments ? ` -m comment --comment ${names.comment}` : "";
  const proto = protoArgs(sp);
  for (const ep of plan.reachableEndpoints) {
    const chain = endpointChainOf(sp, ep);
    out.push(
      `-A ${chain}${comment} -s ${ep.ip} -j ${KUBE_MARK_MASQ}`,
      plan.affinitySeconds > 0
        ? `-A ${chain}${comment} -m recent --name ${chain} --set ${proto} -j DNAT --to-destination ${ep.endpoint}`
        : `-A ${chain}${comment} ${proto} -j DNAT --to-destination ${ep.endpoint}`,
    );
  }
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
