/**
 * Converters from raw API JSON to the trimmed objects of `cache/objects.ts`, as CoreDNS's
 * `object.ToService` does: copy out what the proxier and DNS read, normalize it (defaults
 * applied, canonical IPs), and let the API object go.
 *
 * An object that cannot be used (no name, a bad cluster IP or endpoint address, a port that is
 * missing or out of range, an unknown protocol or type) gives `undefined` and exactly one
 * `log.warn` line naming the object and the problem; the watch goes on. Entries that kube-proxy
 * itself drops one by one (a bad external IP, load-balancer IP or source range, a node address)
 * are dropped from the object, which is kept, and the same one line says so.
 *
 * @module
 */

import { log } from "../config/log.ts";
import { canonicalCIDR, canonicalIP } from "./ip.ts";
import type {
  Endpoint,
  EndpointHints,
  EndpointPort,
  EndpointSlice,
  IPFamily,
  LoadBalancerIngress,
  Namespace,
  Node,
  Protocol,
  Service,
  ServicePortSpec,
  ServiceType,
} from "./objects.ts";

// deno-lint-ignore no-explicit-any
type Raw = any;

/** A problem that makes an object unusable. */
class InvalidObject extends Error {}

const SERVICE_TYPES: readonly ServiceType[] = [
  "ClusterIP",
  "NodePort",
  "LoadBalancer",
  "ExternalName",
];
const PROTOCOLS: readonly Protocol[] = ["TCP", "UDP", "SCTP"];

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/**
 * One shared copy of each repeated short string (namespaces, node names, zones, port names): the
 * API server's JSON repeats them on every object, and at 100,000 endpoints the copies add up.
 * Bounded: the pool starts over when full, which loses sharing, never correctness.
 */
const internPool = new Map<string, string>();
const INTERN_POOL_LIMIT = 8192;

function intern(s: string): string {
  if (s === "") return s;
  const shared = internPool.get(s);
  if (shared !== undefined) return shared;
  if (internPool.size >= INTERN_POOL_LIMIT) internPool.clear();
  internPool.set(s, s);
  return s;
}

function arr(v: unknown): Raw[] {
  return Array.isArray(v) ? v : [];
}

function protocolOf(v: unknown, where: string): Protocol {
  if (v === undefined || v === null || v === "") return "TCP";
  if (!PROTOCOLS.includes(v as Protocol)) {
    throw new InvalidObject(`${where}: unsupported protocol ${JSON.stringify(v)}`);
  }
  return v as Protocol;
}

function portNumber(v: unknown, where: string, allowZero: boolean): number {
  if (v === undefined || v === null) {
    if (allowZero) return 0;
    throw new InvalidObject(`${where}: port is missing`);
  }
  if (!Number.isInteger(v) || (v as number) < (allowZero ? 0 : 1) || (v as number) > 65535) {
    throw new InvalidObject(`${where}: invalid port ${JSON.stringify(v)}`);
  }
  return v as number;
}

function ipOrThrow(v: unknown, where: string): string {
  const ip = canonicalIP(str(v));
  if (ip === undefined) throw new InvalidObject(`${where}: invalid IP ${JSON.stringify(v)}`);
  return ip;
}

function metaOf(raw: Raw, namespaced: boolean): { namespace: string; name: string; rv: string } {
  const meta = raw?.metadata;
  const name = str(meta?.name);
  if (name === "") throw new InvalidObject("metadata.name is missing");
  const namespace = namespaced ? intern(str(meta?.namespace)) : "";
  if (namespaced && namespace === "") throw new InvalidObject("metadata.namespace is missing");
  return { namespace, name, rv: str(meta?.resourceVersion) };
}

function label(raw: Raw, key: string): string | undefined {
  const v = raw?.metadata?.labels?.[key];
  return typeof v === "string" ? v : undefined;
}

function describe(raw: Raw): string {
  const ns = str(raw?.metadata?.namespace);
  const name = str(raw?.metadata?.name);
  return ns === "" ? name : `${ns}/${name}`;
}

/** Runs a converter, turning InvalidObject into undefined plus one warning. */
function convert<T>(
  kind: string,
  raw: Raw,
  body: (dropped: string[]) => T,
): T | undefined {
  const dropped: string[] = [];
  try {
    const out = body(dropped);
    if (dropped.length > 0) {
      log.warn(`Ignoring invalid fields of ${kind}`, {
        [kind.toLowerCase()]: describe(raw),
        ignored: dropped.join("; "),
      });
    }
    return out;
  } catch (err) {
    if (!(err instanceof InvalidObject)) throw err;
    log.warn(`Skipping invalid ${kind}`, {
      [kind.toLowerCase()]: describe(raw),
      reason: err.message,
    });
    return undefined;
  }
}

function servicePorts(spec: Raw): ServicePortSpec[] {
  return arr(spec?.ports).map((p: Raw, i: number) => {
    const where = `spec.ports[${i}]`;
    const port = portNumber(p?.port, where, false);
    let targetPort: number | string = port;
    if (typeof p?.targetPort === "number") {
      if (p.targetPort !== 0) targetPort = portNumber(p.targetPort, `${where}.targetPort`, false);
    } else if (typeof p?.targetPort === "string" && p.targetPort !== "") {
      targetPort = /^[0-9]+$/.test(p.targetPort) ? Number(p.targetPort) : p.targetPort;
    }
    const out: ServicePortSpec = {
      name: intern(str(p?.name)),
      protocol: protocolOf(p?.protocol, where),
      port,
      targetPort,
      nodePort: portNumber(p?.nodePort, `${where}.nodePort`, true),
      ...(typeof p?.appProtocol === "string" ? { appProtocol: p.appProtocol } : {}),
    };
    return out;
  });
}

/**
 * Converts a raw `v1` Service.
 *
 * @param raw The API object (parsed JSON).
 * @returns the trimmed Service, or undefined (logged) when it cannot be used.
 */
export function toService(raw: Raw): Service | undefined {
  return convert("Service", raw, (dropped) => {
    const { namespace, name, rv } = metaOf(raw, true);
    const spec = raw?.spec ?? {};
    const type = (spec.type ?? "ClusterIP") as ServiceType;
    if (!SERVICE_TYPES.includes(type)) {
      throw new InvalidObject(`spec.type: unsupported type ${JSON.stringify(spec.type)}`);
    }
    const headless = spec.clusterIP === "None";
    let clusterIPs: string[] = [];
    if (type !== "ExternalName" && !headless) {
      const given: unknown[] = Array.isArray(spec.clusterIPs) && spec.clusterIPs.length > 0
        ? spec.clusterIPs
        : (str(spec.clusterIP) === "" ? [] : [spec.clusterIP]);
      clusterIPs = given.map((ip, i) => ipOrThrow(ip, `spec.clusterIPs[${i}]`));
    }
    let ipFamilies: IPFamily[] = arr(spec.ipFamilies).filter((f: unknown) =>
      f === "IPv4" || f === "IPv6"
    );
    if (ipFamilies.length === 0 || clusterIPs.length > 0) {
      const fromIPs = clusterIPs.map((ip): IPFamily => ip.includes(":") ? "IPv6" : "IPv4");
      if (fromIPs.length > 0) ipFamilies = fromIPs;
    }
    const canonicalList = (
      list: unknown[],
      field: string,
      parse: (s: string) => string | undefined,
    ) =>
      list.flatMap((v, i) => {
        const c = parse(str(v));
        if (c === undefined) {
          dropped.push(`${field}[${i}]: invalid ${JSON.stringify(v)}`);
          return [];
        }
        return [c];
      });
    const loadBalancerIngress: LoadBalancerIngress[] = arr(raw?.status?.loadBalancer?.ingress)
      .flatMap((ing: Raw, i: number) => {
        if (ing?.ip === undefined || ing.ip === "") return [];
        const ip = canonicalIP(str(ing.ip));
        if (ip === undefined) {
          dropped.push(`status.loadBalancer.ingress[${i}].ip: invalid ${JSON.stringify(ing.ip)}`);
          return [];
        }
        return [{ ip, ipMode: ing.ipMode === "Proxy" ? "Proxy" : "VIP" } as LoadBalancerIngress];
      });
    const timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    let externalName = "";
    if (type === "ExternalName") {
      externalName = str(spec.externalName).toLowerCase().replace(/\.$/, "");
    }
    return {
      namespace,
      name,
      resourceVersion: rv,
      type,
      clusterIPs,
      headless,
      ipFamilies,
      ports: servicePorts(spec),
      externalIPs: canonicalList(arr(spec.externalIPs), "spec.externalIPs", canonicalIP),
      loadBalancerIngress,
      loadBalancerSourceRanges: canonicalList(
        arr(spec.loadBalancerSourceRanges),
        "spec.loadBalancerSourceRanges",
        canonicalCIDR,
      ),
      externalName,
      sessionAffinity: spec.sessionAffinity === "ClientIP" ? "ClientIP" : "None",
      sessionAffinityTimeoutSeconds: Number.isInteger(timeout) && timeout > 0 ? timeout : 10800,
      externalTrafficPolicy: spec.externalTrafficPolicy === "Local" ||
          spec.externalTrafficPolicy === "OnlyLocal"
        ? "Local"
        : "Cluster",
      internalTrafficPolicy: spec.internalTrafficPolicy === "Local" ? "Local" : "Cluster",
      healthCheckNodePort: portNumber(spec.healthCheckNodePort, "spec.healthCheckNodePort", true),
      publishNotReadyAddresses: spec.publishNotReadyAddresses === true,
      trafficDistribution: str(spec.trafficDistribution),
      serviceProxyName: label(raw, "service.kubernetes.io/service-proxy-name") ?? "",
      headlessLabel: label(raw, "service.kubernetes.io/headless") !== undefined,
    };
  });
}

function endpointOf(e: Raw, i: number, addressType: EndpointSlice["addressType"]): Endpoint {
  const where = `endpoints[${i}]`;
  const addresses = arr(e?.addresses).map((a: unknown, j: number) => {
    if (addressType === "FQDN") {
      const s = str(a).toLowerCase();
      if (s === "") throw new InvalidObject(`${where}.addresses[${j}]: empty`);
      return s;
    }
    const ip = ipOrThrow(a, `${where}.addresses[${j}]`);
    if ((addressType === "IPv6") !== ip.includes(":")) {
      throw new InvalidObject(`${where}.addresses[${j}]: ${ip} is not an ${addressType} address`);
    }
    return ip;
  });
  const c = e?.conditions ?? {};
  const ready = c.ready !== false;
  const serving = typeof c.serving === "boolean" ? c.serving : ready;
  const hintsRaw = e?.hints;
  const hints = hintsRaw === undefined || hintsRaw === null ? undefined : {
    forZones: arr(hintsRaw.forZones).map((z: Raw) => intern(str(z?.name))).filter((z) => z !== ""),
    forNodes: arr(hintsRaw.forNodes).map((n: Raw) => intern(str(n?.name))).filter((n) => n !== ""),
  };
  const hostname = str(e?.hostname);
  // Not kept: neither the proxier nor DNS reads `targetRef`, and at 100,000 endpoints the Pod
  // references (an object and a unique name each) cost megabytes.
  return new CachedEndpoint(
    addresses,
    intern(str(e?.nodeName)),
    intern(str(e?.zone)),
    (ready ? READY : 0) | (serving ? SERVING : 0) | (c.terminating === true ? TERMINATING : 0),
    hostname === "" && hints === undefined ? undefined : { hostname, hints },
  );
}

const READY = 1, SERVING = 2, TERMINATING = 4;

/**
 * An Endpoint in five fields instead of nine: the three conditions in one number, the fields most
 * endpoints leave unset (hostname, hints) in one optional object. Deno's V8 has no pointer
 * compression, so each field is 8 bytes: 64 instead of 96 bytes per endpoint (100,000 of them at
 * 10,000 services x 10 endpoints). Read-only, like every cached object.
 */
class CachedEndpoint implements Endpoint {
  readonly addresses: readonly string[];
  readonly nodeName: string;
  readonly zone: string;
  readonly #conditions: number;
  readonly #rare:
    | { readonly hostname: string; readonly hints: EndpointHints | undefined }
    | undefined;

  constructor(
    addresses: readonly string[],
    nodeName: string,
    zone: string,
    conditions: number,
    rare: { readonly hostname: string; readonly hints: EndpointHints | undefined } | undefined,
  ) {
    this.addresses = addresses;
    this.nodeName = nodeName;
    this.zone = zone;
    this.#conditions = conditions;
    this.#rare = rare;
  }

  get ready(): boolean {
    return (this.#conditions & READY) !== 0;
  }

  get serving(): boolean {
    return (this.#conditions & SERVING) !== 0;
  }

  get terminating(): boolean {
    return (this.#conditions & TERMINATING) !== 0;
  }

  get hostname(): string {
    return this.#rare?.hostname ?? "";
  }

  get hints(): EndpointHints | undefined {
    return this.#rare?.hints;
  }

  get targetRef(): undefined {
    return undefined;
  }
}

/**
 * Converts a raw `discovery.k8s.io/v1` EndpointSlice.
 *
 * @param raw The API object (parsed JSON).
 * @returns the trimmed EndpointSlice, or undefined (logged) when it cannot be used.
 */
export function toEndpointSlice(raw: Raw): EndpointSlice | undefined {
  return convert("EndpointSlice", raw, (dropped) => {
    const { namespace, name, rv } = metaOf(raw, true);
    const addressType = raw?.addressType;
    if (addressType !== "IPv4" && addressType !== "IPv6" && addressType !== "FQDN") {
      throw new InvalidObject(`addressType: unsupported ${JSON.stringify(addressType)}`);
    }
    const ports: EndpointPort[] = arr(raw?.ports).map((p: Raw, i: number) => ({
      name: intern(str(p?.name)),
      protocol: protocolOf(p?.protocol, `ports[${i}]`),
      port: portNumber(p?.port, `ports[${i}]`, false),
      ...(typeof p?.appProtocol === "string" ? { appProtocol: p.appProtocol } : {}),
    }));
    const slice: EndpointSlice = {
      namespace,
      name,
      resourceVersion: rv,
      serviceName: label(raw, "kubernetes.io/service-name") ?? "",
      addressType,
      ports,
      endpoints: arr(raw?.endpoints).map((e: Raw, i: number) => endpointOf(e, i, addressType)),
    };
    // Only set when present, so that a slice without it compares equal to its earlier copies.
    const trigger = lastChangeTriggerTimeOf(raw, dropped);
    return trigger === undefined ? slice : { ...slice, lastChangeTriggerTime: trigger };
  });
}

/** The annotation upstream's EndpointSlice controller sets on every slice it writes. */
const LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time";

/**
 * The `last-change-trigger-time` annotation in ms since the epoch; undefined when absent, or when
 * it is not an RFC 3339 time (then noted in `dropped`: the slice itself is fine).
 */
function lastChangeTriggerTimeOf(raw: Raw, dropped: string[]): number | undefined {
  const value = raw?.metadata?.annotations?.[LAST_CHANGE_TRIGGER_TIME];
  if (value === undefined || value === null || value === "") return undefined;
  const ms = typeof value === "string" && RFC3339.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    dropped.push(
      `metadata.annotations[${LAST_CHANGE_TRIGGER_TIME}]: invalid ${JSON.stringify(value)}`,
    );
    return undefined;
  }
  return ms;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Converts a raw `v1` Node.
 *
 * @param raw The API object (parsed JSON).
 * @returns the trimmed Node, or undefined (logged) when it cannot be used (no name, a bad pod
 *   CIDR).
 */
export function toNode(raw: Raw): Node | undefined {
  return convert("Node", raw, (dropped) => {
    const { name, rv } = metaOf(raw, false);
    const spec = raw?.spec ?? {};
    const cidrs: unknown[] = Array.isArray(spec.podCIDRs) && spec.podCIDRs.length > 0
      ? spec.podCIDRs
      : (str(spec.podCIDR) === "" ? [] : [spec.podCIDR]);
    const podCIDRs = cidrs.map((c, i) => {
      const canonical = canonicalCIDR(str(c));
      if (canonical === undefined) {
        throw new InvalidObject(`spec.podCIDRs[${i}]: invalid CIDR ${JSON.stringify(c)}`);
      }
      return canonical;
    });
    const addresses: string[] = [];
    for (const kind of ["InternalIP", "ExternalIP"]) {
      arr(raw?.status?.addresses).forEach((a: Raw, i: number) => {
        if (a?.type !== kind) return;
        const ip = canonicalIP(str(a.address));
        if (ip === undefined) {
          dropped.push(`status.addresses[${i}]: invalid ${JSON.stringify(a.address)}`);
        } else if (!addresses.includes(ip)) {
          addresses.push(ip);
        }
      });
    }
    const labelsRaw = raw?.metadata?.labels ?? {};
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(labelsRaw)) if (typeof v === "string") labels[k] = v;
    const node: Node = { name, resourceVersion: rv, labels, podCIDRs, addresses };
    // Only set when present, so that an ordinary node compares equal to its earlier copies.
    const deletion = raw?.metadata?.deletionTimestamp;
    const taintKeys = arr(spec.taints).map((t: Raw) => str(t?.key)).filter((k) => k !== "");
    return {
      ...node,
      ...(typeof deletion === "string" && deletion !== "" ? { deletionTimestamp: deletion } : {}),
      ...(taintKeys.length > 0 ? { taintKeys } : {}),
    };
  });
}

/**
 * Converts a raw `v1` Namespace.
 *
 * @param raw The API object (parsed JSON).
 * @returns the trimmed Namespace, or undefined (logged) without a name.
 */
export function toNamespace(raw: Raw): Namespace | undefined {
  return convert("Namespace", raw, () => {
    const { name, rv } = metaOf(raw, false);
    return { name, resourceVersion: rv };
  });
}
