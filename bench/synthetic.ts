/**
 * A deterministic synthetic cluster for the benchmarks: N Services with M endpoints each, in a
 * realistic mix of the shapes kube-proxy and cluster DNS handle, as raw Kubernetes API JSON
 * (`v1` Service, `discovery.k8s.io/v1` EndpointSlice with the `kubernetes.io/service-name` label,
 * Namespace, Node) that can be loaded into the API server fixture, and as the trimmed objects of
 * `cache/objects.ts` that `proxy/` and `dns/` consume.
 *
 * The mix, by `index % 100` of the service:
 *
 * | slot | shape |
 * |---|---|
 * | 0-54 | ClusterIP, one unnamed TCP port |
 * | 55-64 | ClusterIP, two named TCP ports (http 80, metrics 9090) |
 * | 65-69 | ClusterIP, session affinity ClientIP |
 * | 70-74 | ClusterIP, DNS-like: UDP 53 + TCP 53 (named dns, dns-tcp) |
 * | 75-76 | ClusterIP, internalTrafficPolicy Local |
 * | 77-78 | headless (`clusterIP: None`, ignored by kube-proxy, answered by DNS) |
 * | 79-88 | NodePort, eTP Cluster (every other one with an externalIP) |
 * | 89-92 | NodePort, eTP Local |
 * | 93-96 | LoadBalancer with an ingress IP and loadBalancerSourceRanges, eTP Cluster |
 * | 97-99 | LoadBalancer, eTP Local, healthCheckNodePort, ingress IP |
 *
 * Every tenth service has its last endpoint terminating (ready false, serving true). Endpoints are
 * spread over `nodes` nodes; the proxy's own node is `node-0`, so about 1/nodes of them are local.
 * Nothing is random: the same options always give byte-identical objects. NodePorts are unique
 * until the 2,768 ports of 30000-32767 run out (beyond ~18,000 services), then they wrap.
 *
 * @module
 */

import type {
  Endpoint,
  EndpointSlice,
  Namespace,
  Node,
  Protocol,
  Service,
  ServicePortSpec,
  ServiceType,
} from "../cache/objects.ts";

/** Options of {@linkcode generateSyntheticCluster}. */
export interface SyntheticClusterOptions {
  /** Number of Services. */
  readonly services: number;
  /** Endpoints per Service (one slice per 100 endpoints, as the EndpointSlice controller). */
  readonly endpointsPerService: number;
  /** Nodes the endpoints are spread over; default 100. The proxy runs on `node-0`. */
  readonly nodes?: number;
  /** Namespaces the services are spread over; default 50 (`ns-0` ...). */
  readonly namespaces?: number;
}

/** A raw API object, as JSON. */
export type RawObject = Record<string, unknown>;

/** The synthetic cluster as raw API objects. */
export interface SyntheticCluster {
  readonly services: RawObject[];
  readonly endpointSlices: RawObject[];
  readonly namespaces: RawObject[];
  /** The proxy's own node, `node-0`. */
  readonly node: RawObject;
  readonly options: Required<SyntheticClusterOptions>;
}

/** The synthetic cluster as the trimmed objects of `cache/objects.ts`. */
export interface TrimmedCluster {
  readonly services: Service[];
  readonly endpointSlices: EndpointSlice[];
  readonly namespaces: Namespace[];
  readonly node: Node;
}

/** Name of the node the proxy under test runs on. */
export const SYNTHETIC_NODE_NAME = "node-0";
/** Pod CIDR of the whole synthetic cluster (endpoint IPs come from it). */
export const SYNTHETIC_CLUSTER_CIDR = "10.128.0.0/9";
/** Service CIDR (cluster IPs come from it). */
export const SYNTHETIC_SERVICE_CIDR = "10.96.0.0/12";

const MAX_ENDPOINTS_PER_SLICE = 100;
const NODE_PORT_BASE = 30000;
const NODE_PORT_COUNT = 2768;

function ipv4(base: number, offset: number): string {
  const n = (base + offset) >>> 0;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

const SERVICE_IP_BASE = (10 << 24) | (96 << 16); // 10.96.0.0
const POD_IP_BASE = ((10 << 24) | (128 << 16)) >>> 0; // 10.128.0.0
const LB_IP_BASE = ((172 << 24) | (16 << 16)) >>> 0; // 172.16.0.0
const EXTERNAL_IP_BASE = ((192 << 24) | (168 << 16)) >>> 0; // 192.168.0.0

interface Shape {
  type: ServiceType;
  ports: { name: string; protocol: Protocol; port: number; targetPort: number }[];
  headless: boolean;
  affinity: boolean;
  etpLocal: boolean;
  itpLocal: boolean;
  externalIP: boolean;
  loadBalancer: boolean;
  sourceRanges: boolean;
}

function shapeOf(index: number): Shape {
  const slot = index % 100;
  const shape: Shape = {
    type: "ClusterIP",
    ports: [{ name: "", protocol: "TCP", port: 80, targetPort: 8080 }],
    headless: false,
    affinity: false,
    etpLocal: false,
    itpLocal: false,
    externalIP: false,
    loadBalancer: false,
    sourceRanges: false,
  };
  if (slot >= 55 && slot < 65) {
    shape.ports = [
      { name: "http", protocol: "TCP", port: 80, targetPort: 8080 },
      { name: "metrics", protocol: "TCP", port: 9090, targetPort: 9090 },
    ];
  } else if (slot >= 65 && slot < 70) {
    shape.affinity = true;
  } else if (slot >= 70 && slot < 75) {
    shape.ports = [
      { name: "dns", protocol: "UDP", port: 53, targetPort: 5353 },
      { name: "dns-tcp", protocol: "TCP", port: 53, targetPort: 5353 },
    ];
  } else if (slot >= 75 && slot < 77) {
    shape.itpLocal = true;
  } else if (slot >= 77 && slot < 79) {
    shape.headless = true;
  } else if (slot >= 79 && slot < 89) {
    shape.type = "NodePort";
    shape.externalIP = slot % 2 === 0;
  } else if (slot >= 89 && slot < 93) {
    shape.type = "NodePort";
    shape.etpLocal = true;
  } else if (slot >= 93 && slot < 97) {
    shape.type = "LoadBalancer";
    shape.loadBalancer = true;
    shape.sourceRanges = true;
  } else if (slot >= 97) {
    shape.type = "LoadBalancer";
    shape.loadBalancer = true;
    shape.etpLocal = true;
  }
  return shape;
}

/** Namespace of service `index`. */
export function syntheticNamespace(index: number, namespaces = 50): string {
  return `ns-${index % namespaces}`;
}

/** Name of service `index`. */
export function syntheticServiceName(index: number): string {
  return `svc-${index}`;
}

/** Cluster IP of service `index` (10.96.0.10 upwards). */
export function syntheticClusterIP(index: number): string {
  return ipv4(SERVICE_IP_BASE, 10 + index);
}

/** IP of endpoint `endpoint` of service `index` (from 10.128.0.0/9). */
export function syntheticEndpointIP(index: number, endpoint: number, perService: number): string {
  return ipv4(POD_IP_BASE, index * perService + endpoint);
}

/**
 * Builds the synthetic cluster as raw API JSON objects.
 *
 * @throws RangeError when the pod IP space (2^23 addresses) would overflow.
 */
export function generateSyntheticCluster(options: SyntheticClusterOptions): SyntheticCluster {
  const opts: Required<SyntheticClusterOptions> = {
    nodes: 100,
    namespaces: 50,
    ...options,
  };
  if (opts.services * opts.endpointsPerService >= 1 << 23) {
    throw new RangeError("synthetic cluster too large: services x endpoints must be < 2^23");
  }
  const services: RawObject[] = [];
  const endpointSlices: RawObject[] = [];
  let nodePorts = 0;
  const created = "2026-01-01T00:00:00Z";
  for (let i = 0; i < opts.services; i++) {
    const shape = shapeOf(i);
    const namespace = syntheticNamespace(i, opts.namespaces);
    const name = syntheticServiceName(i);
    const uid = `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
    const needsNodePort = shape.type !== "ClusterIP";
    const ports = shape.ports.map((p) => {
      const port: RawObject = {
        protocol: p.protocol,
        port: p.port,
        targetPort: p.targetPort,
      };
      if (p.name) port.name = p.name;
      if (needsNodePort) port.nodePort = NODE_PORT_BASE + (nodePorts++ % NODE_PORT_COUNT);
      return port;
    });
    const clusterIP = shape.headless ? "None" : syntheticClusterIP(i);
    const spec: RawObject = {
      type: shape.type,
      clusterIP,
      clusterIPs: [clusterIP],
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      ports,
      selector: { app: name },
      sessionAffinity: shape.affinity ? "ClientIP" : "None",
      internalTrafficPolicy: shape.itpLocal ? "Local" : "Cluster",
    };
    if (shape.affinity) spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
    if (needsNodePort) spec.externalTrafficPolicy = shape.etpLocal ? "Local" : "Cluster";
    if (shape.externalIP) spec.externalIPs = [ipv4(EXTERNAL_IP_BASE, i)];
    if (shape.sourceRanges) spec.loadBalancerSourceRanges = ["203.0.113.0/25", "198.51.100.0/24"];
    if (shape.loadBalancer && shape.etpLocal) {
      spec.healthCheckNodePort = NODE_PORT_BASE + (nodePorts++ % NODE_PORT_COUNT);
    }
    const status: RawObject = shape.loadBalancer
      ? { loadBalancer: { ingress: [{ ip: ipv4(LB_IP_BASE, i), ipMode: "VIP" }] } }
      : { loadBalancer: {} };
    services.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name,
        namespace,
        uid,
        resourceVersion: "1",
        creationTimestamp: created,
        labels: { app: name },
      },
      spec,
      status,
    });

    const slicePorts = shape.ports.map((p) => {
      const port: RawObject = { protocol: p.protocol, port: p.targetPort };
      port.name = p.name;
      return port;
    });
    const m = opts.endpointsPerService;
    for (let s = 0; s * MAX_ENDPOINTS_PER_SLICE < m || (m === 0 && s === 0); s++) {
      const endpoints: RawObject[] = [];
      const end = Math.min(m, (s + 1) * MAX_ENDPOINTS_PER_SLICE);
      for (let e = s * MAX_ENDPOINTS_PER_SLICE; e < end; e++) {
        const terminating = i % 10 === 0 && e === m - 1 && m > 1;
        const node = (i * m + e) % opts.nodes;
        const endpoint: RawObject = {
          addresses: [syntheticEndpointIP(i, e, m)],
          conditions: { ready: !terminating, serving: true, terminating },
          nodeName: `node-${node}`,
          zone: `zone-${node % 3}`,
          targetRef: { kind: "Pod", namespace, name: `${name}-${e}` },
        };
        if (shape.headless) endpoint.hostname = `${name}-${e}`;
        endpoints.push(endpoint);
      }
      endpointSlices.push({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: `${name}-${s.toString(36).padStart(5, "x")}`,
          namespace,
          uid: `00000000-0000-4000-9000-${(i * 16 + s).toString(16).padStart(12, "0")}`,
          resourceVersion: "1",
          creationTimestamp: created,
          generateName: `${name}-`,
          labels: {
            "kubernetes.io/service-name": name,
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
          },
          ownerReferences: [{
            apiVersion: "v1",
            kind: "Service",
            name,
            uid,
            controller: true,
            blockOwnerDeletion: true,
          }],
        },
        addressType: "IPv4",
        endpoints,
        ports: slicePorts,
      });
    }
  }
  const namespaces: RawObject[] = [];
  for (let n = 0; n < opts.namespaces; n++) {
    namespaces.push({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: `ns-${n}`, uid: `ns-${n}`, resourceVersion: "1" },
      spec: {},
      status: { phase: "Active" },
    });
  }
  const node: RawObject = {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: SYNTHETIC_NODE_NAME,
      resourceVersion: "1",
      labels: {
        "kubernetes.io/hostname": SYNTHETIC_NODE_NAME,
        "topology.kubernetes.io/zone": "zone-0",
      },
    },
    spec: { podCIDR: "10.128.0.0/24", podCIDRs: ["10.128.0.0/24"] },
    status: { addresses: [{ type: "InternalIP", address: "192.168.255.1" }] },
  };
  return { services, endpointSlices, namespaces, node, options: opts };
}

// The raw objects above are built by this file, so their shape is known; these accessors only
// spare the casts.
// deno-lint-ignore no-explicit-any
type Any = any;

function trimService(raw: Any): Service {
  const spec = raw.spec;
  const headless = spec.clusterIP === "None";
  return {
    namespace: raw.metadata.namespace,
    name: raw.metadata.name,
    resourceVersion: raw.metadata.resourceVersion,
    type: spec.type,
    clusterIPs: headless ? [] : [...spec.clusterIPs],
    headless,
    ipFamilies: [...spec.ipFamilies],
    ports: spec.ports.map((p: Any): ServicePortSpec => ({
      name: p.name ?? "",
      protocol: p.protocol,
      port: p.port,
      targetPort: p.targetPort,
      nodePort: p.nodePort ?? 0,
    })),
    externalIPs: [...(spec.externalIPs ?? [])],
    loadBalancerIngress: (raw.status.loadBalancer.ingress ?? []).map((g: Any) => ({
      ip: g.ip,
      ipMode: g.ipMode ?? "VIP",
    })),
    loadBalancerSourceRanges: [...(spec.loadBalancerSourceRanges ?? [])],
    externalName: "",
    sessionAffinity: spec.sessionAffinity,
    sessionAffinityTimeoutSeconds: spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800,
    externalTrafficPolicy: spec.externalTrafficPolicy ?? "Cluster",
    internalTrafficPolicy: spec.internalTrafficPolicy ?? "Cluster",
    healthCheckNodePort: spec.healthCheckNodePort ?? 0,
    publishNotReadyAddresses: false,
    trafficDistribution: "",
    serviceProxyName: "",
    headlessLabel: false,
  };
}

function trimEndpointSlice(raw: Any): EndpointSlice {
  return {
    namespace: raw.metadata.namespace,
    name: raw.metadata.name,
    resourceVersion: raw.metadata.resourceVersion,
    serviceName: raw.metadata.labels["kubernetes.io/service-name"],
    addressType: raw.addressType,
    ports: raw.ports.map((p: Any) => ({ name: p.name ?? "", protocol: p.protocol, port: p.port })),
    endpoints: raw.endpoints.map((e: Any): Endpoint => ({
      addresses: [...e.addresses],
      ready: e.conditions.ready,
      serving: e.conditions.serving,
      terminating: e.conditions.terminating,
      hostname: e.hostname ?? "",
      nodeName: e.nodeName ?? "",
      zone: e.zone ?? "",
      hints: undefined,
      targetRef: { ...e.targetRef },
    })),
  };
}

/**
 * Converts the synthetic cluster's raw objects into the trimmed objects of `cache/objects.ts`,
 * for benchmarks that feed `proxy/` or `dns/` directly without the watch cache. Only handles the
 * shapes {@linkcode generateSyntheticCluster} makes (it is not the cache's converter).
 */
export function trimSyntheticCluster(cluster: SyntheticCluster): TrimmedCluster {
  const raw: Any = cluster.node;
  return {
    services: cluster.services.map(trimService),
    endpointSlices: cluster.endpointSlices.map(trimEndpointSlice),
    namespaces: cluster.namespaces.map((n: Any) => ({
      name: n.metadata.name,
      resourceVersion: n.metadata.resourceVersion,
    })),
    node: {
      name: raw.metadata.name,
      resourceVersion: raw.metadata.resourceVersion,
      labels: { ...raw.metadata.labels },
      podCIDRs: [...raw.spec.podCIDRs],
      addresses: raw.status.addresses.map((a: Any) => a.address),
    },
  };
}
