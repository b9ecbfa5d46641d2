/**
 * Builders of the raw API objects the sandbox serves: Nodes, Services and the EndpointSlices an
 * EndpointSlice controller would write for pods of the sandbox.
 *
 * @module
 */

import type { ApiObject } from "./api_server.ts";
import type { SandboxNode, SandboxPod } from "./sandbox.ts";

/** One Service port. */
export interface PortSpec {
  name?: string;
  port: number;
  targetPort?: number;
  protocol?: "TCP" | "UDP";
  nodePort?: number;
}

/** Options of {@linkcode makeService}. */
export interface ServiceOptions {
  /** A ClusterIP, or "None" for a headless service. */
  clusterIP: string;
  ports: PortSpec[];
  type?: "ClusterIP" | "NodePort" | "LoadBalancer";
  namespace?: string;
  sessionAffinity?: "None" | "ClientIP";
  externalTrafficPolicy?: "Cluster" | "Local";
  healthCheckNodePort?: number;
  externalIPs?: string[];
  /**
   * Pod labels the Service selects: the sandbox's EndpointSlice controller then writes its
   * slices. Without one, the caller writes them (`makeEndpointSlice`).
   */
  selector?: Record<string, string>;
}

/**
 * A `v1` Node for a sandbox node: pod CIDR, InternalIP, hostname label.
 *
 * @param node The sandbox node.
 * @returns The Node object.
 */
export function makeNode(node: SandboxNode): ApiObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: node.name, labels: { "kubernetes.io/hostname": node.name } },
    spec: { podCIDR: node.podCIDR, podCIDRs: [node.podCIDR] },
    status: {
      conditions: [{ type: "Ready", status: "True", reason: "KubeletReady" }],
      nodeInfo: { kubeletVersion: "v1.31.0-sandbox" },
      addresses: [
        { type: "InternalIP", address: node.ip },
        { type: "Hostname", address: node.name },
      ],
    },
  };
}

/** The default labels of a sandbox pod: `app` = its name without a trailing `-N` (db-0 → db). */
function defaultPodLabels(podName: string): Record<string, string> {
  return { app: podName.replace(/-\d+$/, "") };
}

/**
 * A `v1` Pod for a sandbox pod: labels, node, IP, Ready condition, and the container port
 * `pod_server.ts` listens on (named `tcp`/`udp`, for named targetPorts).
 *
 * @param pod The sandbox pod.
 * @param opts Labels (default {@linkcode defaultPodLabels}), readiness (default ready), port.
 * @returns The Pod object.
 */
export function makePod(
  pod: SandboxPod,
  opts: { labels?: Record<string, string>; ready?: boolean; port?: number } = {},
): ApiObject {
  const port = opts.port ?? 8080;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: pod.name,
      namespace: "default",
      labels: opts.labels ?? defaultPodLabels(pod.name),
    },
    spec: {
      nodeName: pod.node,
      containers: [{
        name: "server",
        image: "tests/sandbox/pod_server.ts",
        ports: [
          { name: "tcp", containerPort: port, protocol: "TCP" },
          { name: "udp", containerPort: port, protocol: "UDP" },
        ],
      }],
    },
    status: {
      phase: "Running",
      podIP: pod.ip,
      podIPs: [{ ip: pod.ip }],
      conditions: [{ type: "Ready", status: opts.ready === false ? "False" : "True" }],
    },
  };
}

/**
 * A `v1` Service.
 *
 * @param name Its name.
 * @param opts ClusterIP, ports, type and policies.
 * @returns The Service object.
 */
export function makeService(name: string, opts: ServiceOptions): ApiObject {
  const spec: ApiObject = {
    type: opts.type ?? "ClusterIP",
    clusterIP: opts.clusterIP,
    clusterIPs: [opts.clusterIP],
    ipFamilies: ["IPv4"],
    ipFamilyPolicy: "SingleStack",
    ...(opts.selector ? { selector: opts.selector } : {}),
    sessionAffinity: opts.sessionAffinity ?? "None",
    ports: opts.ports.map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      protocol: p.protocol ?? "TCP",
      port: p.port,
      targetPort: p.targetPort ?? p.port,
      ...(p.nodePort ? { nodePort: p.nodePort } : {}),
    })),
  };
  if (opts.sessionAffinity === "ClientIP") {
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
  }
  if (opts.type === "NodePort" || opts.type === "LoadBalancer") {
    spec.externalTrafficPolicy = opts.externalTrafficPolicy ?? "Cluster";
    if (opts.healthCheckNodePort) spec.healthCheckNodePort = opts.healthCheckNodePort;
  }
  if (opts.externalIPs) spec.externalIPs = opts.externalIPs;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: opts.namespace ?? "default" },
    spec,
  };
}

/** Options of {@linkcode makeEndpointSlice}. */
export interface EndpointSliceOptions {
  namespace?: string;
  /** Slice name; default `<service>-sandbox`. */
  name?: string;
  /** Give each endpoint `hostname: <pod name>` (StatefulSet pods behind their headless service). */
  hostnames?: boolean;
  /** Pods whose endpoint is not ready. */
  notReady?: string[];
}

/**
 * The EndpointSlice of a service whose pods are `pods`, as the EndpointSlice controller writes it.
 *
 * @param service The Service (its name and ports).
 * @param pods The backing pods.
 * @param opts Hostnames, readiness.
 * @returns The EndpointSlice object.
 */
export function makeEndpointSlice(
  service: ApiObject,
  pods: readonly SandboxPod[],
  opts: EndpointSliceOptions = {},
): ApiObject {
  const svcName = service.metadata.name as string;
  const namespace = opts.namespace ?? service.metadata.namespace ?? "default";
  const ports = (service.spec.ports as ApiObject[]).map((p) => ({
    ...(p.name ? { name: p.name } : { name: "" }),
    protocol: p.protocol,
    port: p.targetPort,
  }));
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: opts.name ?? `${svcName}-sandbox`,
      namespace,
      labels: {
        "kubernetes.io/service-name": svcName,
        // Not the EndpointSlice controller's name: the sandbox's controller leaves these alone.
        "endpointslice.kubernetes.io/managed-by": "sandbox.kube-proxy.test",
      },
    },
    addressType: "IPv4",
    ports,
    endpoints: pods.map((pod) => {
      const ready = !(opts.notReady ?? []).includes(pod.name);
      return {
        addresses: [pod.ip],
        conditions: { ready, serving: ready, terminating: false },
        ...(opts.hostnames ? { hostname: pod.name } : {}),
        nodeName: pod.node,
        targetRef: { kind: "Pod", namespace, name: pod.name },
      };
    }),
  };
}
