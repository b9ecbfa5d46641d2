/**
 * `kube-proxy trace --explain`: why each endpoint of a service port is or is not used on this
 * node, in words. The decision itself is the proxier's own `categorizeEndpoints()`
 * (`proxy/topology.ts`) over the endpoints the proxier would build (`proxy/endpoints.ts`,
 * `proxy/service_port.ts`); this file only puts its outcome and the endpoint conditions behind it
 * into sentences. Pure.
 *
 * @module
 */

import type { EndpointSlice, IPFamily, Service } from "../../cache/objects.ts";
import { endpointsFromSlices } from "../endpoints.ts";
import { servicePortsFromService } from "../service_port.ts";
import { categorizeEndpoints, ZONE_LABEL } from "../topology.ts";
import {
  type EndpointInfo,
  type ServicePortInfo,
  servicePortKey,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from "../types.ts";

/** One endpoint and why it is or is not used. */
export interface EndpointExplanation {
  /** `IP:port`. */
  readonly endpoint: string;
  /** The node the EndpointSlice places it on ("" when unset). */
  readonly nodeName: string;
  /** Used by traffic under the Cluster policy (cluster IP, and external with eTP Cluster). */
  readonly clusterEligible: boolean;
  /** Used by traffic under a Local policy (iTP Local, or external with eTP Local). */
  readonly localEligible: boolean;
  /** The reasons, in words. */
  readonly reasons: readonly string[];
}

/** Why a service port's endpoints are or are not used. */
export interface ServicePortExplanation {
  /** `ns/name:port`. */
  readonly service: string;
  readonly internalTrafficPolicy: "Cluster" | "Local";
  readonly externalTrafficPolicy: "Cluster" | "Local";
  readonly endpoints: readonly EndpointExplanation[];
  /** Sentences about the service port as a whole. */
  readonly summary: readonly string[];
}

/** What {@linkcode explainServicePort} needs to know about this node. */
export interface ExplainNode {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly family: IPFamily;
}

function describeConditions(ep: EndpointInfo): string {
  if (ep.ready) return "ready";
  if (ep.serving && ep.terminating) return "terminating but still serving";
  if (ep.terminating) return "terminating and not serving";
  return "not ready";
}

function explainEndpoint(
  ep: EndpointInfo,
  nodeName: string,
  info: ServicePortInfo,
  cluster: ReadonlySet<string>,
  local: ReadonlySet<string>,
  node: ExplainNode,
  usesCluster: boolean,
  usesLocal: boolean,
): EndpointExplanation {
  const reasons: string[] = [describeConditions(ep)];
  const clusterEligible = cluster.has(ep.endpoint);
  const localEligible = local.has(ep.endpoint);
  if (!ep.ready && !(ep.serving && ep.terminating)) {
    reasons.push("not used: an endpoint must be ready, or serving while terminating");
  } else if (!ep.ready) {
    reasons.push(
      clusterEligible || localEligible
        ? "used as a fallback: no ready endpoint is left for this traffic"
        : "not used: ready endpoints exist, which are preferred over terminating ones",
    );
  }
  if (usesCluster && ep.ready && !clusterEligible) {
    const zone = node.labels[ZONE_LABEL] ?? "";
    const hints = ep.nodeHints.length > 0
      ? `node hints ${ep.nodeHints.join(",")}`
      : `zone hints ${ep.zoneHints.join(",") || "(none)"}`;
    reasons.push(
      `not used for cluster traffic: topology hints (${hints}) send this node's traffic to ` +
        `other endpoints (node ${node.name}${zone ? `, zone ${zone}` : ""})`,
    );
  }
  if (usesLocal && !ep.isLocal) {
    reasons.push(
      `on node ${nodeName || "(unknown)"}, not on this node (${node.name}): not used by ` +
        `${info.internalPolicyLocal ? "internal" : "external"} traffic under the Local policy`,
    );
  }
  if (clusterEligible) reasons.push("used for cluster-policy traffic");
  if (localEligible) reasons.push("used for local-policy traffic (on this node)");
  return { endpoint: ep.endpoint, nodeName, clusterEligible, localEligible, reasons };
}

/**
 * Explains one service port of a Service on this node.
 *
 * @param svc the Service.
 * @param slices its EndpointSlices.
 * @param portName the service port name (`""` for an unnamed port) or number as text.
 * @param node this node's name, labels, and the family of the traced packet.
 * @returns the explanation, or undefined when the Service has no such port in this family.
 * @example
 * ```ts
 * explainServicePort(svc, slices, "p80", { name: "node1", labels: {}, family: "IPv4" });
 * ```
 */
export function explainServicePort(
  svc: Service,
  slices: readonly EndpointSlice[],
  portName: string,
  node: ExplainNode,
): ServicePortExplanation | undefined {
  const ports = [...servicePortsFromService(svc, node.family).values()];
  const info = ports.find((p) => p.portName.port === portName) ??
    ports.find((p) => String(p.port) === portName);
  if (info === undefined) return undefined;
  const endpoints = endpointsFromSlices(slices, node.family, node.name)
    .get(servicePortKey(info.portName)) ?? [];
  const categorized = categorizeEndpoints(endpoints, info, node.name, node.labels);
  const cluster = new Set(categorized.clusterEndpoints.map((e) => e.endpoint));
  const local = new Set(categorized.localEndpoints.map((e) => e.endpoint));
  const usesCluster = usesClusterEndpoints(info);
  const usesLocal = usesLocalEndpoints(info);
  const nodeOf = new Map<string, string>();
  for (const s of slices) {
    for (const e of s.endpoints) for (const a of e.addresses) nodeOf.set(a, e.nodeName);
  }
  const explained = endpoints.map((ep) =>
    explainEndpoint(
      ep,
      nodeOf.get(ep.ip) ?? "",
      info,
      cluster,
      local,
      node,
      usesCluster,
      usesLocal,
    )
  );
  const summary: string[] = [];
  if (endpoints.length === 0) {
    summary.push("the Service has no endpoints at all: its traffic is rejected (REJECT)");
  } else if (!categorized.hasAnyEndpoints) {
    summary.push("no endpoint is ready or serving: traffic is rejected (REJECT)");
  }
  if (categorized.hasAnyEndpoints && info.externalPolicyLocal && local.size === 0) {
    summary.push(
      "externalTrafficPolicy Local and no usable endpoint on this node: external traffic " +
        "arriving here is dropped (DROP), so that load balancers send it to other nodes",
    );
  }
  if (categorized.hasAnyEndpoints && info.internalPolicyLocal && local.size === 0) {
    summary.push(
      "internalTrafficPolicy Local and no usable endpoint on this node: cluster IP traffic " +
        "from this node is dropped (DROP)",
    );
  }
  if (info.stickyMaxAgeSeconds > 0) {
    summary.push(
      `sessionAffinity ClientIP: a client returns to its endpoint for ${info.stickyMaxAgeSeconds}s`,
    );
  }
  if (cluster.size > 0) summary.push(`${cluster.size} endpoint(s) take cluster-policy traffic`);
  if (usesLocal) summary.push(`${local.size} endpoint(s) on this node take local-policy traffic`);
  return {
    service: info.nameString,
    internalTrafficPolicy: info.internalPolicyLocal ? "Local" : "Cluster",
    externalTrafficPolicy: info.externalPolicyLocal ? "Local" : "Cluster",
    endpoints: explained,
    summary,
  };
}
