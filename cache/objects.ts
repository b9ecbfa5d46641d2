/**
 * Trimmed, read-only copies of the API objects the proxier and the DNS responder read.
 *
 * As CoreDNS's `object/` package does, the cache copies only the fields its consumers use out of
 * each API object and lets the full object go, so a cluster of tens of thousands of Services costs
 * tens of megabytes rather than the API objects' full size. Don't add fields here that no consumer
 * reads. Converters from the raw API objects (`toService`, `toEndpointSlice`, `toNode`,
 * `toNamespace`) live in `cache/convert.ts`; they reject objects that cannot be used (bad IPs,
 * missing ports, names that break Kubernetes' rules, wrong types) so that consumers never see
 * them: every name, namespace and port name here is a valid DNS-1123 (or DNS-1035) name, every
 * protocol one of TCP/UDP/SCTP, so none can change the text of a rule it is written into.
 *
 * Every field is normalized: lists are never undefined (empty instead), IPs are in canonical form,
 * and the EndpointSlice conditions have their API defaults applied (`ready` unset means ready,
 * `serving` unset means the value of `ready`, `terminating` unset means false).
 *
 * @module
 */

/** Service type, as `spec.type`. */
export type ServiceType = "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";

/** L4 protocol of a port. */
export type Protocol = "TCP" | "UDP" | "SCTP";

/** IP family. */
export type IPFamily = "IPv4" | "IPv6";

/** One entry of `spec.ports`. */
export interface ServicePortSpec {
  /** Port name; "" when the service has a single unnamed port. */
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
  /** `targetPort`: a number, or the name of a container port resolved through EndpointSlices. */
  readonly targetPort: number | string;
  /** 0 when no node port is allocated. */
  readonly nodePort: number;
  readonly appProtocol?: string;
}

/** One entry of `status.loadBalancer.ingress` that carries an IP. */
export interface LoadBalancerIngress {
  readonly ip: string;
  /** `VIP` (default) or `Proxy`; with `Proxy` the proxy does not capture traffic to the IP. */
  readonly ipMode: "VIP" | "Proxy";
}

/** A Service, trimmed to what kube-proxy and cluster DNS read. */
export interface Service {
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: string;
  readonly type: ServiceType;
  /**
   * `spec.clusterIPs` in canonical form; empty for ExternalName services and for headless
   * services (`clusterIP: None`), see `headless`.
   */
  readonly clusterIPs: readonly string[];
  /** True when `spec.clusterIP` is `None`. */
  readonly headless: boolean;
  readonly ipFamilies: readonly IPFamily[];
  readonly ports: readonly ServicePortSpec[];
  readonly externalIPs: readonly string[];
  readonly loadBalancerIngress: readonly LoadBalancerIngress[];
  readonly loadBalancerSourceRanges: readonly string[];
  /** `spec.externalName` for ExternalName services, lowercased without a trailing dot; else "". */
  readonly externalName: string;
  readonly sessionAffinity: "None" | "ClientIP";
  /** `sessionAffinityConfig.clientIP.timeoutSeconds`; 10800 (the API default) when unset. */
  readonly sessionAffinityTimeoutSeconds: number;
  readonly externalTrafficPolicy: "Cluster" | "Local";
  readonly internalTrafficPolicy: "Cluster" | "Local";
  /** 0 when none is allocated. */
  readonly healthCheckNodePort: number;
  readonly publishNotReadyAddresses: boolean;
  /** `spec.trafficDistribution`, "" when unset. */
  readonly trafficDistribution: string;
  /** Label `service.kubernetes.io/service-proxy-name`; "" when unset (kube-proxy ignores set ones). */
  readonly serviceProxyName: string;
  /** Label `service.kubernetes.io/headless` present (kube-proxy ignores the service then). */
  readonly headlessLabel: boolean;
}

/** Topology hints of an endpoint. */
export interface EndpointHints {
  readonly forZones: readonly string[];
  readonly forNodes: readonly string[];
}

/** Reference to the object behind an endpoint (usually a Pod). */
export interface EndpointTargetRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** One entry of an EndpointSlice's `endpoints`. */
export interface Endpoint {
  /** Addresses in canonical form (for FQDN slices, the lowercased names). */
  readonly addresses: readonly string[];
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** `hostname` (StatefulSet pods and pods with spec.hostname); "" when unset. */
  readonly hostname: string;
  /** `nodeName`; "" when unset. */
  readonly nodeName: string;
  /** `zone`; "" when unset. */
  readonly zone: string;
  /** undefined when the endpoint carries no hints at all. */
  readonly hints: EndpointHints | undefined;
  /**
   * Always undefined from `cache/convert.ts`: no consumer reads it, and keeping one Pod
   * reference per endpoint costs megabytes at scale. Kept in the type for compatibility.
   */
  readonly targetRef: EndpointTargetRef | undefined;
}

/** One entry of an EndpointSlice's `ports`. */
export interface EndpointPort {
  /** "" when unnamed. */
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
  readonly appProtocol?: string;
}

/** A `discovery.k8s.io/v1` EndpointSlice, trimmed. */
export interface EndpointSlice {
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: string;
  /** Label `kubernetes.io/service-name`: the Service this slice belongs to. */
  readonly serviceName: string;
  readonly addressType: "IPv4" | "IPv6" | "FQDN";
  readonly ports: readonly EndpointPort[];
  readonly endpoints: readonly Endpoint[];
  /**
   * Annotation `endpoints.kubernetes.io/last-change-trigger-time` (RFC 3339) in milliseconds
   * since the epoch: when the change this slice reflects happened (a Pod or Service change).
   * The proxier measures network programming latency from it. Unset when absent or invalid.
   */
  readonly lastChangeTriggerTime?: number;
}

/** The node this proxy runs on, trimmed. */
export interface Node {
  readonly name: string;
  readonly resourceVersion: string;
  /** All labels: kube-proxy reads topology labels (`topology.kubernetes.io/zone`) from them. */
  readonly labels: Readonly<Record<string, string>>;
  /** `spec.podCIDRs` (or `spec.podCIDR`), canonical. */
  readonly podCIDRs: readonly string[];
  /** `status.addresses` of type InternalIP then ExternalIP, canonical. */
  readonly addresses: readonly string[];
  /**
   * `metadata.deletionTimestamp` (RFC 3339) while the node is being deleted; unset otherwise.
   * /healthz reports a node being deleted as not eligible (KEP-3836).
   */
  readonly deletionTimestamp?: string;
  /** The keys of `spec.taints`; /healthz looks for `ToBeDeletedByClusterAutoscaler`. */
  readonly taintKeys?: readonly string[];
}

/** A Namespace, trimmed to its name (cluster DNS answers only for namespaces that exist). */
export interface Namespace {
  readonly name: string;
  readonly resourceVersion: string;
}

/** `namespace/name`, the key every cache map uses. */
export function objectKey(obj: { readonly namespace: string; readonly name: string }): string {
  return `${obj.namespace}/${obj.name}`;
}
