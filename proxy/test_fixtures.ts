/**
 * Builders for the proxier's tests: cached Services, EndpointSlices and Nodes with upstream's
 * test defaults, changed through a mutator, as upstream's `makeTestService(ns, name, func(svc))`.
 *
 * @module
 */

import type { Endpoint, EndpointSlice, Node, Service } from "../cache/objects.ts";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A Service whose fields a test may set. */
export type MutableService = Mutable<Service>;
/** An EndpointSlice whose fields a test may set. */
export type MutableEndpointSlice = Mutable<EndpointSlice>;

/**
 * A ClusterIP Service with no ports, changed by `mutate`.
 *
 * @param namespace the namespace.
 * @param name the name.
 * @param mutate sets the fields the test needs.
 * @returns the Service.
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
 * An endpoint with the given address, ready, on no node, changed by `mutate`.
 *
 * @param address the endpoint's IP.
 * @param mutate sets conditions, nodeName, hints.
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
 * An IPv4 EndpointSlice of Service `name` (slice name `name-<suffix>`), changed by `mutate`.
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
