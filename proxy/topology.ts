/**
 * Chooses which endpoints of a service port each kind of traffic may use, as upstream's
 * `CategorizeEndpoints`: traffic policies, topology hints and the terminating-endpoint fallback.
 * A pure function of its inputs.
 *
 * @module
 */

import {
  type EndpointInfo,
  type ServicePortInfo,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from "./types.ts";

/** Label of the Node holding its zone. */
export const ZONE_LABEL = "topology.kubernetes.io/zone";

/** The result of {@linkcode categorizeEndpoints}. */
export interface CategorizedEndpoints {
  /** Endpoints for "Cluster" policy traffic; empty when the service uses none. */
  readonly clusterEndpoints: readonly EndpointInfo[];
  /** Endpoints for "Local" policy traffic; empty when the service uses none. */
  readonly localEndpoints: readonly EndpointInfo[];
  /** The union of both: the endpoints that need a KUBE-SEP chain. */
  readonly allReachableEndpoints: readonly EndpointInfo[];
  /** Whether any endpoint is usable (ready, or serving and terminating), local or not. */
  readonly hasAnyEndpoints: boolean;
}

const EMPTY: readonly EndpointInfo[] = [];

type TopologyMode = "" | "PreferSameNode" | "PreferSameZone";

/**
 * Picks the topology mode from the hints: node hints when every ready endpoint has them and one
 * names this node; else zone hints when every ready endpoint has them and one names this node's
 * zone; else none. Hints that would leave this node without an endpoint are ignored.
 */
function topologyModeFromHints(
  endpoints: readonly EndpointInfo[],
  nodeName: string,
  zone: string,
): TopologyMode {
  let allNodeHints = true, hasForNode = false, allZoneHints = true, hasForZone = false;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    if (ep.nodeHints.length === 0) allNodeHints = false;
    else if (ep.nodeHints.includes(nodeName)) hasForNode = true;
    if (ep.zoneHints.length === 0) allZoneHints = false;
    else if (zone !== "" && ep.zoneHints.includes(zone)) hasForZone = true;
  }
  if (allNodeHints && hasForNode) return "PreferSameNode";
  if (allZoneHints && hasForZone) return "PreferSameZone";
  return "";
}

function availableForTopology(
  ep: EndpointInfo,
  mode: TopologyMode,
  nodeName: string,
  zone: string,
): boolean {
  if (mode === "PreferSameNode") return ep.nodeHints.includes(nodeName);
  if (mode === "PreferSameZone") return ep.zoneHints.includes(zone);
  return true;
}

/**
 * Categorizes the endpoints of one service port.
 *
 * Cluster traffic uses ready endpoints (filtered by topology hints); when none is ready anywhere
 * it falls back to endpoints that are serving and terminating (KEP-1669), so that connections
 * still succeed during a rolling update. Local traffic uses ready local endpoints, falling back to
 * serving-and-terminating local ones the same way.
 *
 * @param endpoints the service port's endpoints, sorted.
 * @param svc the service port.
 * @param nodeName this node's name.
 * @param nodeLabels this node's labels (the zone comes from `topology.kubernetes.io/zone`).
 * @returns the categorized endpoints.
 * @example
 * ```ts
 * const { clusterEndpoints, localEndpoints } = categorizeEndpoints(eps, svc, "node1", {});
 * ```
 */
export function categorizeEndpoints(
  endpoints: readonly EndpointInfo[],
  svc: ServicePortInfo,
  nodeName: string,
  nodeLabels: Readonly<Record<string, string>>,
): CategorizedEndpoints {
  let clusterEndpoints: readonly EndpointInfo[] = EMPTY;
  let hasAnyEndpoints = false;
  const useCluster = usesClusterEndpoints(svc);
  if (useCluster) {
    const zone = nodeLabels[ZONE_LABEL] ?? "";
    const mode = topologyModeFromHints(endpoints, nodeName, zone);
    clusterEndpoints = endpoints.filter((ep) =>
      ep.ready && availableForTopology(ep, mode, nodeName, zone)
    );
    if (clusterEndpoints.length === 0) {
      clusterEndpoints = endpoints.filter((ep) => ep.serving && ep.terminating);
    }
    // Any ready endpoint anywhere guarantees one in clusterEndpoints.
    if (clusterEndpoints.length > 0) hasAnyEndpoints = true;
  }
  if (!usesLocalEndpoints(svc)) {
    return {
      clusterEndpoints,
      localEndpoints: EMPTY,
      allReachableEndpoints: clusterEndpoints,
      hasAnyEndpoints,
    };
  }
  let hasLocalReady = false, hasLocalServingTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      hasAnyEndpoints = true;
      if (ep.isLocal) hasLocalReady = true;
    } else if (ep.serving && ep.terminating) {
      hasAnyEndpoints = true;
      if (ep.isLocal) hasLocalServingTerminating = true;
    }
  }
  let localEndpoints: readonly EndpointInfo[] = EMPTY;
  if (hasLocalReady) {
    localEndpoints = endpoints.filter((ep) => ep.isLocal && ep.ready);
  } else if (hasLocalServingTerminating) {
    localEndpoints = endpoints.filter((ep) => ep.isLocal && ep.serving && ep.terminating);
  }
  if (!useCluster) {
    return {
      clusterEndpoints: EMPTY,
      localEndpoints,
      allReachableEndpoints: localEndpoints,
      hasAnyEndpoints,
    };
  }
  let allReachableEndpoints: readonly EndpointInfo[];
  if (clusterEndpoints.length === 0) allReachableEndpoints = localEndpoints;
  else if (localEndpoints.length === 0) allReachableEndpoints = clusterEndpoints;
  else {
    const seen = new Set(clusterEndpoints.map((ep) => ep.endpoint));
    const union = [...clusterEndpoints];
    for (const ep of localEndpoints) if (!seen.has(ep.endpoint)) union.push(ep);
    union.sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0));
    allReachableEndpoints = union;
  }
  return { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints };
}
