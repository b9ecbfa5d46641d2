/**
 * Converters from raw API JSON to the trimmed objects of `cache/objects.ts`, as CoreDNS's
 * `object.ToService` does: copy out what the proxier and DNS read, normalize it (defaults
 * applied, canonical IPs), and let the API object go.
 *
 * Nothing from the API server is trusted: every name that can reach a rule comment, an nft element
 * or a DNS record is checked against Kubernetes' own rules (`cache/validation.ts`): Service names
 * are DNS-1035 labels, namespaces and port names DNS-1123 labels, EndpointSlice and Node names
 * DNS-1123 subdomains, `targetPort` names IANA service names, labels the label syntax. Every field
 * read is type-checked (`spec` must be an object, `ports` a list, ...).
 *
 * An object that cannot be used (a bad name, a wrong type, a bad cluster IP or endpoint address, a
 * port that is missing or out of range, an unknown protocol or type) gives `undefined` and exactly
 * one `log.warn` line naming the object and the field (`field="spec.ports[1].name"`); the watch
 * goes on. Parts the API server would have refused but that can be left out safely are dropped
 * from the object, which is kept, and one line per object names the dropped fields: a bad external IP,
 * load-balancer IP or source range, node address, `ipFamilies` entry, affinity timeout or policy
 * value; a port repeating an earlier port's number and protocol or name; an endpoint without
 * addresses; an endpoint's bad hostname, node name, zone or hint.
 *
 * @module
 */

import { log } from "../config/log.ts";
import { canonicalCIDR, canonicalIP } from "./ip.ts";
import {
  absent,
  defined,
  type Dropped,
  InvalidObject,
  isObject,
  listAt,
  nameAt,
  objectAt,
  partBooleanAt,
  partEnumAt,
  partNameAt,
  partsAt,
  type Raw,
  stringAt,
} from "./raw_fields.ts";
import {
  DNS1035_LABEL,
  DNS1123_LABEL,
  DNS1123_SUBDOMAIN,
  IANA_SVC_NAME,
  LABEL_VALUE,
  labelsProblem,
  type NameRule,
  QUALIFIED_NAME,
  shown,
} from "./validation.ts";
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

const SERVICE_TYPES: readonly ServiceType[] = [
  "ClusterIP",
  "NodePort",
  "LoadBalancer",
  "ExternalName",
];
const PROTOCOLS: readonly Protocol[] = ["TCP", "UDP", "SCTP"];

/** Upstream's `MaxClientIPServiceAffinitySeconds`. */
const MAX_AFFINITY_TIMEOUT_SECONDS = 86400;
const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

function protocolOf(v: unknown, field: string): Protocol {
  if (absent(v) || v === "") return "TCP";
  if (!PROTOCOLS.includes(v as Protocol)) {
    throw new InvalidObject(field, `unsupported protocol ${shown(v)}`);
  }
  return v as Protocol;
}

function portNumber(v: unknown, field: string, allowZero: boolean): number {
  if (absent(v)) {
    if (allowZero) return 0;
    throw new InvalidObject(field, "port is missing");
  }
  if (!Number.isInteger(v) || (v as number) < (allowZero ? 0 : 1) || (v as number) > 65535) {
    throw new InvalidObject(field, `invalid port ${shown(v)}`);
  }
  return v as number;
}

function ipOrThrow(v: unknown, field: string): string {
  const ip = typeof v === "string" ? canonicalIP(v) : undefined;
  if (ip === undefined) throw new InvalidObject(field, `invalid IP ${shown(v)}`);
  return ip;
}

/** `appProtocol` when it is a qualified name (as the API server requires); else ignored. */
function appProtocolOf(v: unknown, field: string, dropped: Dropped): { appProtocol?: string } {
  const s = partNameAt(v, QUALIFIED_NAME, dropped, field);
  return s === "" ? {} : { appProtocol: s };
}

/**
 * The object's `metadata`, checked: the object is a JSON object, its name follows `nameRule`, its
 * namespace (when `namespaced`) is a DNS-1123 label, its labels follow the label syntax.
 */
function metaOf(
  raw: Raw,
  nameRule: NameRule,
  namespaced: boolean,
): { namespace: string; name: string; rv: string } {
  if (!isObject(raw)) throw new InvalidObject("(object)", `not an object: ${shown(raw)}`);
  const meta = objectAt(raw.metadata, "metadata");
  const name = nameAt(meta?.name, nameRule, "metadata.name");
  if (name === "") throw new InvalidObject("metadata.name", "missing");
  let namespace = "";
  if (namespaced) {
    namespace = nameAt(meta?.namespace, DNS1123_LABEL, "metadata.namespace");
    if (namespace === "") throw new InvalidObject("metadata.namespace", "missing");
  }
  const labels = labelsProblem(meta?.labels);
  if (labels !== undefined) throw new InvalidObject(labels.field, labels.problem);
  return { namespace, name, rv: stringAt(meta?.resourceVersion, "metadata.resourceVersion") };
}

/** A label's value; labels were checked by `metaOf`. */
function label(raw: Raw, key: string): string | undefined {
  const v = raw?.metadata?.labels?.[key];
  return typeof v === "string" ? v : undefined;
}

/** `namespace/name` for log lines, whatever the types (the logger quotes the text). */
function describe(raw: Raw): string {
  const meta = isObject(raw) && isObject(raw.metadata) ? raw.metadata : {};
  const ns = typeof meta.namespace === "string" ? meta.namespace : "";
  const name = typeof meta.name === "string" ? meta.name : "";
  const text = ns === "" ? name : `${ns}/${name}`;
  return text.length <= 300 ? text : `${text.slice(0, 300)}...`;
}

const MAX_DROPPED_SHOWN = 10;

/**
 * Runs a converter: an `InvalidObject` gives undefined plus one warning naming the object and the
 * field; parts ignored along the way give one warning naming the fields (the first ten, then how
 * many more: a slice of 1,000 bad endpoints is one line of bounded length).
 */
function convert<T>(
  kind: string,
  raw: Raw,
  body: (dropped: Dropped) => T,
): T | undefined {
  const dropped: Dropped = [];
  try {
    const out = body(dropped);
    if (dropped.length > 0) {
      log.warn(`Ignoring invalid fields of ${kind}`, {
        [kind.toLowerCase()]: describe(raw),
        ignored: dropped.slice(0, MAX_DROPPED_SHOWN).join("; ") +
          (dropped.length > MAX_DROPPED_SHOWN
            ? ` (and ${dropped.length - MAX_DROPPED_SHOWN} more)`
            : ""),
      });
    }
    return out;
  } catch (err) {
    if (!(err instanceof InvalidObject)) throw err;
    log.warn(`Skipping invalid ${kind}`, {
      [kind.toLowerCase()]: describe(raw),
      field: err.field,
      reason: err.problem,
    });
    return undefined;
  }
}

/** A Service port's `targetPort`: a port number, or a container port name (IANA service name). */
function targetPortOf(v: unknown, port: number, field: string): number | string {
  if (absent(v) || v === 0 || v === "") return port;
  if (typeof v === "number") return portNumber(v, field, false);
  if (typeof v !== "string") throw new InvalidObject(field, `not a number or string: ${shown(v)}`);
  if (/^[0-9]+$/.test(v)) return portNumber(Number(v), field, false);
  return nameAt(v, IANA_SVC_NAME, field);
}

/**
 * `spec.ports`, checked as the API server does: names are DNS-1123 labels, required when there is
 * more than one port. A later port with the same port and protocol, or the same name, as an
 * earlier one is ignored (noted in `dropped`).
 */
function servicePorts(spec: Record<string, Raw>, dropped: Dropped): ServicePortSpec[] {
  const list = listAt(spec.ports, "spec.ports");
  const ports = list.map((entry: unknown, i: number): ServicePortSpec => {
    const where = `spec.ports[${i}]`;
    const p = objectAt(entry, where);
    if (p === undefined) throw new InvalidObject(where, "not an object: null");
    const name = nameAt(p.name, DNS1123_LABEL, where, ".name");
    if (name === "" && list.length > 1) {
      throw new InvalidObject(
        `${where}.name`,
        "missing (required when there is more than one port)",
      );
    }
    const protocol = protocolOf(p.protocol, `${where}.protocol`);
    const port = portNumber(p.port, `${where}.port`, false);
    const targetPort = targetPortOf(p.targetPort, port, `${where}.targetPort`);
    const nodePort = portNumber(p.nodePort, `${where}.nodePort`, true);
    const appProtocol = appProtocolOf(p.appProtocol, `${where}.appProtocol`, dropped);
    return { name, protocol, port, targetPort, nodePort, ...appProtocol };
  });
  return ports.length < 2 ? ports : defined(ports.map((p, i) => {
    const field = repeatedIn(ports, i, (q) => q.port === p.port && q.protocol === p.protocol)
      ? `spec.ports[${i}]: duplicate port ${p.port}/${p.protocol}`
      : repeatedIn(ports, i, (q) => q.name === p.name)
      ? `spec.ports[${i}].name: duplicate name ${shown(p.name)}`
      : undefined;
    if (field === undefined) return p;
    dropped.push(field);
    return undefined;
  }));
}

/** Whether an entry before `list[i]` matches (ports are a handful: a scan beats a Set). */
function repeatedIn<T>(list: readonly T[], i: number, same: (earlier: T) => boolean): boolean {
  for (let j = 0; j < i; j++) if (same(list[j])) return true;
  return false;
}

/** Cluster IPs: `spec.clusterIPs` (or `spec.clusterIP`), canonical, at most one per family. */
function clusterIPsOf(spec: Record<string, Raw>): string[] {
  const clusterIP = stringAt(spec.clusterIP, "spec.clusterIP");
  const list = listAt(spec.clusterIPs, "spec.clusterIPs");
  const given = list.length > 0 ? list : (clusterIP === "" ? [] : [clusterIP]);
  const field = list.length > 0 ? "spec.clusterIPs" : "spec.clusterIP";
  const ips = given.map((ip, i) => ipOrThrow(ip, list.length > 0 ? `${field}[${i}]` : field));
  if (ips.length > 2 || (ips.length === 2 && ips[0].includes(":") === ips[1].includes(":"))) {
    throw new InvalidObject(field, `at most one IP per family: ${shown(given)}`);
  }
  return ips;
}

/** `spec.ipFamilies` without unknown or repeated entries (noted in `dropped`). */
function ipFamiliesOf(spec: Record<string, Raw>, dropped: Dropped): IPFamily[] {
  const list = partsAt(spec.ipFamilies, "spec.ipFamilies", dropped);
  return defined(list.map((f: unknown, i: number): IPFamily | undefined => {
    if (f !== "IPv4" && f !== "IPv6") {
      dropped.push(`spec.ipFamilies[${i}]: unsupported ${shown(f)}`);
    } else if (list.indexOf(f) < i) dropped.push(`spec.ipFamilies[${i}]: duplicate ${shown(f)}`);
    else return f;
    return undefined;
  }));
}

/** The ClientIP affinity timeout: 1 to 86400 s; the API default when unset or out of range. */
function affinityTimeoutOf(spec: Record<string, Raw>, dropped: Dropped): number {
  const config = spec.sessionAffinityConfig;
  const timeout = isObject(config) && isObject(config.clientIP)
    ? config.clientIP.timeoutSeconds
    : undefined;
  if (absent(timeout)) return DEFAULT_AFFINITY_TIMEOUT_SECONDS;
  if (Number.isInteger(timeout) && timeout > 0 && timeout <= MAX_AFFINITY_TIMEOUT_SECONDS) {
    return timeout;
  }
  dropped.push(
    `spec.sessionAffinityConfig.clientIP.timeoutSeconds: invalid ${shown(timeout)} ` +
      `(1 to ${MAX_AFFINITY_TIMEOUT_SECONDS})`,
  );
  return DEFAULT_AFFINITY_TIMEOUT_SECONDS;
}

/** Entries of a list parsed one by one; an entry `parse` refuses is dropped (noted). */
function canonicalParts(
  v: unknown,
  field: string,
  parse: (s: string) => string | undefined,
  dropped: Dropped,
): string[] {
  return partsAt(v, field, dropped).flatMap((entry: unknown, i: number) => {
    const c = typeof entry === "string" ? parse(entry) : undefined;
    if (c === undefined) {
      dropped.push(`${field}[${i}]: invalid ${shown(entry)}`);
      return [];
    }
    return [c];
  });
}

function loadBalancerIngressOf(raw: Raw, dropped: Dropped): LoadBalancerIngress[] {
  const status = isObject(raw.status) ? raw.status : {};
  const lb = isObject(status.loadBalancer) ? status.loadBalancer : {};
  const field = "status.loadBalancer.ingress";
  return partsAt(lb.ingress, field, dropped).flatMap((ing: Raw, i: number) => {
    if (!isObject(ing) || absent(ing.ip) || ing.ip === "") return [];
    const ip = typeof ing.ip === "string" ? canonicalIP(ing.ip) : undefined;
    if (ip === undefined) {
      dropped.push(`${field}[${i}].ip: invalid ${shown(ing.ip)}`);
      return [];
    }
    return [{ ip, ipMode: ing.ipMode === "Proxy" ? "Proxy" : "VIP" } as LoadBalancerIngress];
  });
}

/** `spec.externalName` of an ExternalName service, lowercased, without a trailing dot. */
function externalNameOf(spec: Record<string, Raw>): string {
  const name = stringAt(spec.externalName, "spec.externalName").toLowerCase().replace(/\.$/, "");
  if (name === "") throw new InvalidObject("spec.externalName", "missing");
  return nameAt(name, DNS1123_SUBDOMAIN, "spec.externalName");
}

/**
 * Converts a raw `v1` Service.
 *
 * @param raw The API object (parsed JSON).
 * @returns the trimmed Service, or undefined (logged) when it cannot be used.
 */
export function toService(raw: Raw): Service | undefined {
  return convert("Service", raw, (dropped) => {
    const { namespace, name, rv } = metaOf(raw, DNS1035_LABEL, true);
    const spec = objectAt(raw.spec, "spec");
    if (spec === undefined) throw new InvalidObject("spec", "missing");
    const type = (stringAt(spec.type, "spec.type") || "ClusterIP") as ServiceType;
    if (!SERVICE_TYPES.includes(type)) {
      throw new InvalidObject("spec.type", `unsupported type ${shown(spec.type)}`);
    }
    const headless = spec.clusterIP === "None";
    const clusterIPs = type !== "ExternalName" && !headless ? clusterIPsOf(spec) : [];
    let ipFamilies = ipFamiliesOf(spec, dropped);
    if (clusterIPs.length > 0) {
      ipFamilies = clusterIPs.map((ip): IPFamily => ip.includes(":") ? "IPv6" : "IPv4");
    }
    const ports = servicePorts(spec, dropped);
    const externalName = type === "ExternalName" ? externalNameOf(spec) : "";
    const healthCheckNodePort = portNumber(
      spec.healthCheckNodePort,
      "spec.healthCheckNodePort",
      true,
    );
    const externalTrafficPolicy = partEnumAt(
      spec.externalTrafficPolicy,
      "spec.externalTrafficPolicy",
      ["Cluster", "Local", "OnlyLocal", "Global"],
      "Cluster",
      dropped,
    );
    return {
      namespace,
      name,
      resourceVersion: rv,
      type,
      clusterIPs,
      headless,
      ipFamilies,
      ports,
      externalIPs: canonicalParts(spec.externalIPs, "spec.externalIPs", canonicalIP, dropped),
      loadBalancerIngress: loadBalancerIngressOf(raw, dropped),
      loadBalancerSourceRanges: canonicalParts(
        spec.loadBalancerSourceRanges,
        "spec.loadBalancerSourceRanges",
        canonicalCIDR,
        dropped,
      ),
      externalName,
      sessionAffinity: partEnumAt(
        spec.sessionAffinity,
        "spec.sessionAffinity",
        ["None", "ClientIP"],
        "None",
        dropped,
      ),
      sessionAffinityTimeoutSeconds: affinityTimeoutOf(spec, dropped),
      externalTrafficPolicy: externalTrafficPolicy === "Local" ||
          externalTrafficPolicy === "OnlyLocal"
        ? "Local"
        : "Cluster",
      internalTrafficPolicy: partEnumAt(
        spec.internalTrafficPolicy,
        "spec.internalTrafficPolicy",
        ["Cluster", "Local"],
        "Cluster",
        dropped,
      ),
      healthCheckNodePort,
      publishNotReadyAddresses:
        partBooleanAt(spec.publishNotReadyAddresses, dropped, "spec.publishNotReadyAddresses") ===
          true,
      trafficDistribution: typeof spec.trafficDistribution === "string"
        ? spec.trafficDistribution
        : "",
      serviceProxyName: label(raw, "service.kubernetes.io/service-proxy-name") ?? "",
      headlessLabel: label(raw, "service.kubernetes.io/headless") !== undefined,
    };
  });
}

/** An endpoint's topology hints; names that break their rules are dropped (noted). */
function hintsOf(v: unknown, where: string, dropped: Dropped): EndpointHints | undefined {
  if (absent(v)) return undefined;
  if (!isObject(v)) {
    dropped.push(`${where}.hints: not an object: ${shown(v)}`);
    return undefined;
  }
  const names = (list: string, rule: NameRule) =>
    partsAt(v[list], `${where}.hints.${list}`, dropped).flatMap((h: Raw, i: number) => {
      const n = partNameAt(
        isObject(h) ? h.name : h,
        rule,
        dropped,
        `${where}.hints.${list}[${i}].name`,
      );
      return n === "" ? [] : [n];
    });
  return {
    forZones: names("forZones", LABEL_VALUE),
    forNodes: names("forNodes", DNS1123_SUBDOMAIN),
  };
}

/**
 * One entry of `endpoints`, or undefined when it has no address (noted in `dropped`: the API
 * server requires one). A bad address makes the slice unusable; a bad hostname, node name, zone,
 * hint or condition is ignored (noted).
 */
function endpointOf(
  e: unknown,
  i: number,
  addressType: EndpointSlice["addressType"],
  dropped: Dropped,
): Endpoint | undefined {
  const where = `endpoints[${i}]`;
  const raw = objectAt(e, where);
  if (raw === undefined) throw new InvalidObject(where, "not an object: null");
  const list = listAt(raw.addresses, where, ".addresses");
  if (list.length === 0) {
    dropped.push(`${where}.addresses: empty (the endpoint is ignored)`);
    return undefined;
  }
  const addresses = list.map((a: unknown, j: number) => {
    if (addressType === "FQDN") {
      const field = `${where}.addresses[${j}]`;
      const s = stringAt(a, field).toLowerCase();
      if (s === "") throw new InvalidObject(field, "empty");
      return nameAt(s, DNS1123_SUBDOMAIN, field);
    }
    const ip = typeof a === "string" ? canonicalIP(a) : undefined;
    if (ip === undefined) {
      throw new InvalidObject(`${where}.addresses[${j}]`, `invalid IP ${shown(a)}`);
    }
    if ((addressType === "IPv6") !== ip.includes(":")) {
      throw new InvalidObject(
        `${where}.addresses[${j}]`,
        `${ip} is not an ${addressType} address`,
      );
    }
    return ip;
  });
  const c = isObject(raw.conditions) ? raw.conditions : {};
  const ready = partBooleanAt(c.ready, dropped, where, ".conditions.ready") !== false;
  const serving = partBooleanAt(c.serving, dropped, where, ".conditions.serving") ?? ready;
  const terminating =
    partBooleanAt(c.terminating, dropped, where, ".conditions.terminating") === true;
  const hints = hintsOf(raw.hints, where, dropped);
  const hostname = partNameAt(raw.hostname, DNS1123_LABEL, dropped, where, ".hostname");
  // Not kept: neither the proxier nor DNS reads `targetRef`, and at 100,000 endpoints the Pod
  // references (an object and a unique name each) cost megabytes.
  return new CachedEndpoint(
    addresses,
    partNameAt(raw.nodeName, DNS1123_SUBDOMAIN, dropped, where, ".nodeName"),
    partNameAt(raw.zone, LABEL_VALUE, dropped, where, ".zone"),
    (ready ? READY : 0) | (serving ? SERVING : 0) | (terminating ? TERMINATING : 0),
    hostname === "" && hints === undefined ? undefined : { hostname, hints },
  );
}

/**
 * An EndpointSlice's `ports`: names are DNS-1123 labels; a later port with the name of an earlier
 * one is ignored (noted in `dropped`), as the API server refuses duplicate names.
 */
function endpointPorts(raw: Record<string, Raw>, dropped: Dropped): EndpointPort[] {
  const ports = listAt(raw.ports, "ports").map((entry: unknown, i: number): EndpointPort => {
    const where = `ports[${i}]`;
    const p = objectAt(entry, where);
    if (p === undefined) throw new InvalidObject(where, "not an object: null");
    const name = nameAt(p.name, DNS1123_LABEL, where, ".name");
    const protocol = protocolOf(p.protocol, `${where}.protocol`);
    const port = portNumber(p.port, `${where}.port`, false);
    const appProtocol = appProtocolOf(p.appProtocol, `${where}.appProtocol`, dropped);
    return { name, protocol, port, ...appProtocol };
  });
  return ports.length < 2 ? ports : defined(ports.map((p, i) => {
    if (!repeatedIn(ports, i, (q) => q.name === p.name)) return p;
    dropped.push(`ports[${i}].name: duplicate name ${shown(p.name)}`);
    return undefined;
  }));
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
    const { namespace, name, rv } = metaOf(raw, DNS1123_SUBDOMAIN, true);
    const addressType = raw.addressType;
    if (addressType !== "IPv4" && addressType !== "IPv6" && addressType !== "FQDN") {
      throw new InvalidObject("addressType", `unsupported ${shown(addressType)}`);
    }
    const ports = endpointPorts(raw, dropped);
    // `endpoints: null` is how the API server sends a slice without endpoints: empty, not wrong.
    const endpoints = defined(
      listAt(raw.endpoints, "endpoints").map((e: unknown, i: number) =>
        endpointOf(e, i, addressType, dropped)
      ),
    );
    const slice: EndpointSlice = {
      namespace,
      name,
      resourceVersion: rv,
      serviceName: label(raw, "kubernetes.io/service-name") ?? "",
      addressType,
      ports,
      endpoints,
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
function lastChangeTriggerTimeOf(raw: Raw, dropped: Dropped): number | undefined {
  const annotations = raw.metadata.annotations;
  const value = isObject(annotations) ? annotations[LAST_CHANGE_TRIGGER_TIME] : undefined;
  if (value === undefined || value === null || value === "") return undefined;
  const ms = typeof value === "string" && RFC3339.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    dropped.push(
      `metadata.annotations[${LAST_CHANGE_TRIGGER_TIME}]: invalid ${shown(value)}`,
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
    const { name, rv } = metaOf(raw, DNS1123_SUBDOMAIN, false);
    const spec = objectAt(raw.spec, "spec") ?? {};
    const cidrList = listAt(spec.podCIDRs, "spec.podCIDRs");
    const podCIDR = stringAt(spec.podCIDR, "spec.podCIDR");
    const cidrs: unknown[] = cidrList.length > 0 ? cidrList : (podCIDR === "" ? [] : [podCIDR]);
    const podCIDRs = cidrs.map((c, i) => {
      const canonical = typeof c === "string" ? canonicalCIDR(c) : undefined;
      if (canonical === undefined) {
        throw new InvalidObject(`spec.podCIDRs[${i}]`, `invalid CIDR ${shown(c)}`);
      }
      return canonical;
    });
    const status = isObject(raw.status) ? raw.status : {};
    const statusAddresses = partsAt(status.addresses, "status.addresses", dropped);
    const addresses: string[] = [];
    for (const kind of ["InternalIP", "ExternalIP"]) {
      statusAddresses.forEach((a: Raw, i: number) => {
        if (!isObject(a) || a.type !== kind) return;
        const ip = typeof a.address === "string" ? canonicalIP(a.address) : undefined;
        if (ip === undefined) {
          dropped.push(`status.addresses[${i}].address: invalid ${shown(a.address)}`);
        } else if (!addresses.includes(ip)) {
          addresses.push(ip);
        }
      });
    }
    // Checked by metaOf: a map of valid keys to string values.
    const labels: Record<string, string> = { ...(raw.metadata.labels ?? {}) };
    const node: Node = { name, resourceVersion: rv, labels, podCIDRs, addresses };
    // Only set when present, so that an ordinary node compares equal to its earlier copies.
    const deletion = raw.metadata.deletionTimestamp;
    const taintKeys = partsAt(spec.taints, "spec.taints", dropped)
      .map((t: Raw) => isObject(t) && typeof t.key === "string" ? t.key : "")
      .filter((k) => k !== "");
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
 * @returns the trimmed Namespace, or undefined (logged) without a valid name.
 */
export function toNamespace(raw: Raw): Namespace | undefined {
  return convert("Namespace", raw, () => {
    const { name, rv } = metaOf(raw, DNS1123_LABEL, false);
    return { name, resourceVersion: rv };
  });
}
