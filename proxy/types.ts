/**
 * The proxier's model of services and endpoints, independent of any backend: a
 * {@linkcode ServicePortInfo} per service port of one IP family, and an
 * {@linkcode EndpointInfo} per endpoint of a service port. Backends (`proxy/iptables/`) import
 * these types, never the proxier itself.
 *
 * Keys: a service port is identified by its {@linkcode ServicePortName}; maps are keyed by
 * {@linkcode servicePortKey} (the name plus the protocol, since a Service may use one port name
 * only once but EndpointSlice ports carry their own protocol).
 *
 * @module
 */

import type { IPFamily, Protocol } from "../cache/objects.ts";

/** Identifies one port of one Service, as upstream's `proxy.ServicePortName`. */
export interface ServicePortName {
  readonly namespace: string;
  readonly name: string;
  /** The port's name; "" for the single unnamed port of a service. */
  readonly port: string;
  readonly protocol: Protocol;
}

/**
 * The display form of a service port name: `ns/name:port`, or `ns/name` for an unnamed port.
 * This string is what upstream hashes into chain names and writes into rule comments.
 *
 * @param spn the service port name.
 * @returns e.g. `ns1/svc1:p80`.
 * @example
 * ```ts
 * servicePortNameString({ namespace: "ns1", name: "svc1", port: "", protocol: "TCP" }); // "ns1/svc1"
 * ```
 */
export function servicePortNameString(spn: ServicePortName): string {
  const base = `${spn.namespace}/${spn.name}`;
  return spn.port === "" ? base : `${base}:${spn.port}`;
}

/**
 * The key of a service port in the proxier's maps: the display name, a space, the protocol.
 *
 * @param spn the service port name.
 * @returns e.g. `ns1/svc1:p80 TCP`.
 * @example
 * ```ts
 * servicePortKey({ namespace: "ns1", name: "svc1", port: "p80", protocol: "TCP" });
 * ```
 */
export function servicePortKey(spn: ServicePortName): string {
  return `${servicePortNameString(spn)} ${spn.protocol}`;
}

/** One port of one Service, for one IP family, with everything rule generation needs. */
export interface ServicePortInfo {
  /** The service port name. */
  readonly portName: ServicePortName;
  /** `servicePortNameString(portName)`, precomputed (comments and chain hashes use it). */
  readonly nameString: string;
  /** `namespace/name` of the Service. */
  readonly serviceKey: string;
  /** Lowercased protocol as iptables spells it: `tcp`, `udp`, `sctp`. */
  readonly protocol: "tcp" | "udp" | "sctp";
  readonly family: IPFamily;
  /** The cluster IP of this family. */
  readonly clusterIP: string;
  readonly port: number;
  /** 0 when the port has no NodePort. */
  readonly nodePort: number;
  /** External IPs of this family. */
  readonly externalIPs: readonly string[];
  /** LoadBalancer ingress IPs of this family, excluding `ipMode: Proxy` ones. */
  readonly loadBalancerVIPs: readonly string[];
  /**
   * `loadBalancerSourceRanges` of this family, trimmed and masked; empty when unset or when any
   * range is the zero CIDR (which allows everything).
   */
  readonly loadBalancerSourceRanges: readonly string[];
  /** ClientIP affinity timeout in seconds; 0 when session affinity is off. */
  readonly stickyMaxAgeSeconds: number;
  /** externalTrafficPolicy Local on an externally reachable service (upstream's `ExternalPolicyLocal`). */
  readonly externalPolicyLocal: boolean;
  /** internalTrafficPolicy Local. */
  readonly internalPolicyLocal: boolean;
  /** healthCheckNodePort; non-zero only for type LoadBalancer with externalTrafficPolicy Local. */
  readonly healthCheckNodePort: number;
}

/** Whether traffic can reach the service port from outside the cluster IP. */
export function externallyAccessible(svc: ServicePortInfo): boolean {
  return svc.nodePort !== 0 || svc.loadBalancerVIPs.length > 0 || svc.externalIPs.length > 0;
}

/** Whether some traffic to the service port uses cluster-wide endpoints. */
export function usesClusterEndpoints(svc: ServicePortInfo): boolean {
  return !svc.internalPolicyLocal || externallyAccessible(svc);
}

/** Whether some traffic to the service port uses only node-local endpoints. */
export function usesLocalEndpoints(svc: ServicePortInfo): boolean {
  return svc.internalPolicyLocal || (svc.externalPolicyLocal && externallyAccessible(svc));
}

/** One endpoint of one service port. */
export interface EndpointInfo {
  /** `IP:port`, IPv6 as `[IP]:port`. */
  readonly endpoint: string;
  readonly ip: string;
  readonly port: number;
  /** On this node (EndpointSlice `nodeName` equals the proxy's node name). */
  readonly isLocal: boolean;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** Zones from `hints.forZones`; empty when none. */
  readonly zoneHints: readonly string[];
  /** Nodes from `hints.forNodes`; empty when none. */
  readonly nodeHints: readonly string[];
}

/** Service ports of one family, keyed by {@linkcode servicePortKey}. */
export type ServicePortMap = Map<string, ServicePortInfo>;

/** Endpoints per service port, keyed by {@linkcode servicePortKey}, sorted by `endpoint`. */
export type EndpointsMap = Map<string, readonly EndpointInfo[]>;
