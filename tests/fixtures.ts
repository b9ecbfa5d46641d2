/**
 * Shared test builders of the trimmed cache objects (`cache/objects.ts`), as upstream's
 * `makeTestService(ns, name, func(svc))`: each returns an object with upstream's defaults, changed
 * by an optional mutator. Area-specific defaults and fixture clusters stay in the areas
 * (`dns/testing.ts`, `proxy/iptables/test_helpers.ts`) and are built on these.
 *
 * @module
 */

import type { Endpoint, EndpointSlice, Namespace, Node, Service } from "../cache/objects.ts";

/** A mutable copy of a readonly object, for builder callbacks. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A Service whose fields a test may set. */
export type MutableService = Mutable<Service>;
/** An EndpointSlice whose fields a test may set. */
export type MutableEndpointSlice = Mutable<EndpointSlice>;

/**
 * A ClusterIP Service with no cluster IPs and no ports (the defaults the cache's converter fills
 * in), changed by `mutate`.
 *
 * @param namespace the namespace.
 * @param name the name.
 * @param mutate sets the fields the test needs.
 * @returns the Service.
 * @example
 * ```ts
 * makeService("ns1", "svc1", (s) => s.clusterIPs = ["172.30.0.41"]);
 * ```
 */
export function makeService(
  namespace: string,
  name: string,
  mutate: (svc: MutableService) => void = () => {},
): Service {
  const svc: MutableService = {
    namespace,
    name,
    resourceVersion: "1",
    type: "ClusterIP",
    clusterIPs: [],
    headless: false,
    ipFamilies: ["IPv4"],
    ports: [],
    externalIPs: [],
    loadBalancerIngress: [],
    loadBalancerSourceRanges: [],
    externalName: "",
    sessionAffinity: "None",
    sessionAffinityTimeoutSeconds: 10800,
    externalTrafficPolicy: "Cluster",
    internalTrafficPolicy: "Cluster",
    healthCheckNodePort: 0,
    publishNotReadyAddresses: false,
    trafficDistribution: "",
    serviceProxyName: "",
    headlessLabel: false,
  };
  mutate(svc);
  return svc;
}

/**
 * An endpoint with the given address, ready and serving, on no node, changed by `mutate`.
 *
 * @param address the endpoint's IP.
 * @param mutate sets conditions, hostname, nodeName, hints.
 * @returns the endpoint.
 */
export function makeEndpoint(
  address: string,
  mutate: (ep: Mutable<Endpoint>) => void = () => {},
): Endpoint {
  const ep: Mutable<Endpoint> = {
    addresses: [address],
    ready: true,
    serving: true,
    terminating: false,
    hostname: "",
    nodeName: "",
    zone: "",
    hints: undefined,
    targetRef: undefined,
  };
  mutate(ep);
  return ep;
}

/**
 * An IPv4 EndpointSlice of Service `name` (slice name `name-<suffix>`), with no ports and no
 * endpoints, changed by `mutate`.
 *
 * @param namespace the namespace.
 * @param name the Service name.
 * @param suffix distinguishes several slices of one Service.
 * @param mutate sets ports and endpoints.
 * @returns the slice.
 */
export function makeEndpointSlice(
  namespace: string,
  name: string,
  suffix: number,
  mutate: (slice: MutableEndpointSlice) => void = () => {},
): EndpointSlice {
  const slice: MutableEndpointSlice = {
    namespace,
    name: `${name}-${suffix}`,
    resourceVersion: "1",
    serviceName: name,
    addressType: "IPv4",
    ports: [],
    endpoints: [],
  };
  mutate(slice);
  return slice;
}

/**
 * A Node with the given name and labels.
 *
 * @param name the node name.
 * @param labels its labels.
 * @returns the Node.
 */
export function makeNode(name: string, labels: Record<string, string> = {}): Node {
  return { name, resourceVersion: "1", labels, podCIDRs: [], addresses: [] };
}

/**
 * A Namespace.
 *
 * @param name the name.
 * @returns the Namespace.
 */
export function makeNamespace(name: string): Namespace {
  return { name, resourceVersion: "1" };
}
