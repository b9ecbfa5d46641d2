/**
 * The traffic policy of one service port, decided once for every backend: a pure function from
 * the port, its endpoints and this node to a {@linkcode ServicePlan}. Backends render the plan
 * (iptables chains, nftables maps) and decide nothing about where traffic goes.
 *
 * Terms, as upstream's proxiers use them:
 * - internal traffic: to the cluster IP; it uses the cluster-wide endpoints, or only this node's
 *   with `internalTrafficPolicy: Local`;
 * - external traffic: to a NodePort, an external IP or a LoadBalancer IP; cluster-wide endpoints,
 *   or only this node's with `externalTrafficPolicy: Local`;
 * - a kind of traffic with no endpoint is refused: REJECT when the service has no usable endpoint
 *   at all (clients fail fast), DROP when only the policy Local found no endpoint on this node
 *   (the load balancer's health check steers clients away; a REJECT would make them give up).
 *
 * @module
 */

import { categorizeEndpoints } from "./topology.ts";
import { type EndpointInfo, externallyAccessible, type ServicePortInfo } from "./types.ts";
import { cidrContains } from "./net.ts";

/** This node's facts a plan depends on. */
export interface PlanContext {
  /** This node's name (topology hints, local endpoints). */
  readonly nodeName: string;
  /** This node's labels (the zone for topology hints). */
  readonly nodeLabels: Readonly<Record<string, string>>;
  /** The node's primary IP of this family ("" when unknown), for LoadBalancer source ranges. */
  readonly nodeIP: string;
  /** Whether this family has a local-traffic detector (`detectLocalMode` resolved to a match). */
  readonly hasLocalDetector: boolean;
  /** `masqueradeAll`: masquerade every packet to a cluster IP. */
  readonly masqueradeAll: boolean;
}

/** What happens to one kind of traffic (internal or external). */
export interface TrafficPlan {
  /**
   * Which endpoint set serves it: `cluster` (the cluster-wide endpoints, KUBE-SVC in iptables)
   * or `local` (this node's, KUBE-SVL), as the traffic policy says.
   */
  readonly policy: "cluster" | "local";
  /**
   * undefined when the traffic has an endpoint; else what refuses it: `REJECT` when the service
   * has no usable endpoint at all, `DROP` when policy Local found none on this node.
   */
  readonly refuse?: "REJECT" | "DROP";
}

/** The LoadBalancer source-range firewall of a service port. */
export interface FirewallPlan {
  /** Sources allowed in (`loadBalancerSourceRanges` of this family, masked). */
  readonly sourceRanges: readonly string[];
  /**
   * LoadBalancer IPs allowed as sources too: when a range holds the node's IP, a request from the
   * node to a LoadBalancer IP that is also a local address loops back with that IP as source.
   * Empty otherwise.
   */
  readonly vipSources: readonly string[];
}

/** Everything a backend needs to write the rules of one service port. */
export interface ServicePlan {
  readonly service: ServicePortInfo;
  /** Whether any endpoint is usable (ready, or serving and terminating), local or not. */
  readonly hasEndpoints: boolean;
  /** The endpoints of the `cluster` endpoint set; empty when no traffic uses it. */
  readonly clusterEndpoints: readonly EndpointInfo[];
  /** The endpoints of the `local` endpoint set; empty when no traffic uses it. */
  readonly localEndpoints: readonly EndpointInfo[];
  /** Every endpoint some traffic may reach (the union of both sets, sorted). */
  readonly reachableEndpoints: readonly EndpointInfo[];
  /** Cluster IP traffic. */
  readonly internal: TrafficPlan;
  /** NodePort, external IP and LoadBalancer IP traffic. */
  readonly external: TrafficPlan;
  /**
   * Whether external traffic has its own stage before the endpoint set (KUBE-EXT in iptables):
   * the service has endpoints and is reachable from outside. It exists even when
   * {@linkcode TrafficPlan.refuse} is set for external traffic: pods and the node itself are
   * still short-circuited to the cluster-wide endpoints.
   */
  readonly externalStage: boolean;
  /**
   * Cluster IP traffic to masquerade (only when it has endpoints): `all` (`masqueradeAll`),
   * `notLocal` (what does not come from a local pod, so replies come back through this node), or
   * `none` (no detector for this family).
   */
  readonly internalMasquerade: "all" | "notLocal" | "none";
  /**
   * External traffic to masquerade: `all` with externalTrafficPolicy Cluster (it may go to another
   * node); `fromNode` with Local (the source IP is kept; only traffic from the node itself, whose
   * source the endpoint could not answer, is masqueraded and sent to the cluster-wide endpoints).
   */
  readonly externalMasquerade: "all" | "fromNode";
  /**
   * externalTrafficPolicy Local with a detector: traffic from local pods to an external address
   * goes to the cluster-wide endpoints, as if it had gone out to the load balancer and come back.
   */
  readonly shortCircuitLocalPods: boolean;
  /** The source-range firewall of LoadBalancer IPs; undefined when none applies. */
  readonly firewall?: FirewallPlan;
  /** ClientIP session affinity timeout in seconds; 0 when off. */
  readonly affinitySeconds: number;
  /**
   * This port's contribution to `no_local_endpoints_total`: policy Local found no local endpoint
   * while the service has endpoints elsewhere.
   */
  readonly noLocalEndpoints: { readonly internal: boolean; readonly external: boolean };
}

/**
 * Decides the traffic policy of one service port.
 *
 * @param service the service port.
 * @param endpoints its endpoints, sorted by `endpoint`.
 * @param ctx this node's facts.
 * @returns the plan both backends render.
 * @example
 * ```ts
 * const plan = planServicePort(sp, eps, ctx);
 * if (plan.internal.refuse) writeRefuse(plan.internal.refuse);
 * ```
 */
export function planServicePort(
  service: ServicePortInfo,
  endpoints: readonly EndpointInfo[],
  ctx: PlanContext,
): ServicePlan {
  const cat = categorizeEndpoints(endpoints, service, ctx.nodeName, ctx.nodeLabels);
  const hasEndpoints = cat.hasAnyEndpoints;
  const noLocal = cat.localEndpoints.length === 0;
  const internal = trafficPlan(hasEndpoints, service.internalPolicyLocal, noLocal);
  const external = trafficPlan(hasEndpoints, service.externalPolicyLocal, noLocal);
  const firewall = hasEndpoints && service.loadBalancerVIPs.length > 0 &&
      service.loadBalancerSourceRanges.length > 0
    ? firewallPlan(service, ctx.nodeIP)
    : undefined;
  return {
    service,
    hasEndpoints,
    clusterEndpoints: cat.clusterEndpoints,
    localEndpoints: cat.localEndpoints,
    reachableEndpoints: cat.allReachableEndpoints,
    internal,
    external,
    externalStage: hasEndpoints && externallyAccessible(service),
    internalMasquerade: internal.refuse !== undefined
      ? "none"
      : ctx.masqueradeAll
      ? "all"
      : ctx.hasLocalDetector
      ? "notLocal"
      : "none",
    externalMasquerade: service.externalPolicyLocal ? "fromNode" : "all",
    shortCircuitLocalPods: service.externalPolicyLocal && ctx.hasLocalDetector,
    firewall,
    affinitySeconds: service.stickyMaxAgeSeconds,
    noLocalEndpoints: {
      internal: internal.refuse === "DROP",
      external: external.refuse === "DROP",
    },
  };
}

function trafficPlan(hasEndpoints: boolean, policyLocal: boolean, noLocal: boolean): TrafficPlan {
  const policy = policyLocal ? "local" : "cluster";
  if (!hasEndpoints) return { policy, refuse: "REJECT" };
  if (policyLocal && noLocal) return { policy, refuse: "DROP" };
  return { policy };
}

function firewallPlan(service: ServicePortInfo, nodeIP: string): FirewallPlan {
  const fromNode = nodeIP !== "" &&
    service.loadBalancerSourceRanges.some((cidr) => cidrContains(cidr, nodeIP));
  return {
    sourceRanges: service.loadBalancerSourceRanges,
    vipSources: fromNode ? service.loadBalancerVIPs : [],
  };
}
