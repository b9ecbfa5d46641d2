/**
 * Derives the service ports the proxier programs from a cached Service, for one IP family, as
 * upstream's `newBaseServiceInfo` and `ShouldSkipService` do.
 *
 * @module
 */

import type { IPFamily, Service } from "../cache/objects.ts";
import { log } from "../config/log.ts";
import { canonicalIP, cidrFamily, formatCIDR, ipFamilyOf, parseCIDRSloppy } from "./net.ts";
import {
  type ServicePortInfo,
  servicePortKey,
  type ServicePortMap,
  servicePortNameString,
} from "./types.ts";

/**
 * Tells whether kube-proxy ignores a Service entirely: ExternalName services, headless services,
 * services without a cluster IP, and services labelled `service.kubernetes.io/service-proxy-name`
 * (handled by another proxy) or `service.kubernetes.io/headless`.
 *
 * @param svc the cached Service.
 * @returns true when the proxier must not program anything for it.
 * @example
 * ```ts
 * shouldSkipService(externalNameService); // true
 * ```
 */
export function shouldSkipService(svc: Service): boolean {
  return svc.type === "ExternalName" || svc.headless || svc.headlessLabel ||
    svc.serviceProxyName !== "" || svc.clusterIPs.length === 0;
}

/** Shared by every service port without external IPs, LB VIPs or source ranges (most). */
const NO_STRINGS: readonly string[] = Object.freeze([]);

function ipsOfFamily(ips: readonly string[], family: IPFamily): readonly string[] {
  if (ips.length === 0) return NO_STRINGS;
  const out: string[] = [];
  for (const raw of ips) {
    const ip = canonicalIP(raw);
    if (ip !== undefined && ipFamilyOf(ip) === family) out.push(ip);
  }
  return out.length === 0 ? NO_STRINGS : out;
}

function sourceRangesOfFamily(svc: Service, family: IPFamily): readonly string[] {
  if (svc.loadBalancerSourceRanges.length === 0) return NO_STRINGS;
  const out: string[] = [];
  for (const raw of svc.loadBalancerSourceRanges) {
    const cidr = parseCIDRSloppy(raw);
    if (cidr === undefined) {
      log.v(2).info("Ignoring invalid loadBalancerSourceRanges entry", {
        service: `${svc.namespace}/${svc.name}`,
        cidr: raw,
      });
      continue;
    }
    if (cidrFamily(cidr) !== family) continue;
    // A zero CIDR allows everything: the service behaves as if it had no source ranges.
    if (cidr.prefix === 0) return [];
    out.push(formatCIDR(cidr));
  }
  return out;
}

/**
 * The service ports of `svc` for one IP family, keyed by `servicePortKey`.
 *
 * @param svc the cached Service.
 * @param family the proxier's IP family.
 * @returns an empty map when the Service is skipped or has no cluster IP of this family.
 * @example
 * ```ts
 * const ports = servicePortsFromService(svc, "IPv4");
 * ```
 */
export function servicePortsFromService(svc: Service, family: IPFamily): ServicePortMap {
  const out: ServicePortMap = new Map();
  if (shouldSkipService(svc)) return out;
  const clusterIP = ipsOfFamily(svc.clusterIPs, family)[0];
  if (clusterIP === undefined) return out;
  const externalIPs = ipsOfFamily(svc.externalIPs, family);
  const lbVIPs = svc.loadBalancerIngress.length === 0 ? NO_STRINGS : ipsOfFamily(
    svc.loadBalancerIngress.filter((ing) => ing.ipMode !== "Proxy").map((ing) => ing.ip),
    family,
  );
  const sourceRanges = sourceRangesOfFamily(svc, family);
  const externalPolicyLocal = svc.externalTrafficPolicy === "Local" &&
    (svc.type === "NodePort" || svc.type === "LoadBalancer" || svc.externalIPs.length > 0);
  const healthCheckNodePort = svc.type === "LoadBalancer" && externalPolicyLocal
    ? svc.healthCheckNodePort
    : 0;
  const serviceKey = `${svc.namespace}/${svc.name}`;
  for (const port of svc.ports) {
    const portName = {
      namespace: svc.namespace,
      name: svc.name,
      port: port.name,
      protocol: port.protocol,
    };
    const info: ServicePortInfo = {
      portName,
      nameString: servicePortNameString(portName),
      serviceKey,
      protocol: port.protocol.toLowerCase() as ServicePortInfo["protocol"],
      family,
      clusterIP,
      port: port.port,
      nodePort: port.nodePort,
      externalIPs,
      loadBalancerVIPs: lbVIPs,
      loadBalancerSourceRanges: sourceRanges,
      stickyMaxAgeSeconds: svc.sessionAffinity === "ClientIP"
        ? svc.sessionAffinityTimeoutSeconds
        : 0,
      externalPolicyLocal,
      internalPolicyLocal: svc.internalTrafficPolicy === "Local",
      healthCheckNodePort,
    };
    out.set(servicePortKey(portName), info);
  }
  return out;
}

/**
 * Tells whether two service port maps describe the same rules (used to detect "no change").
 *
 * @param a one map.
 * @param b another map.
 * @returns true when both hold equal entries.
 * @example
 * ```ts
 * servicePortMapsEqual(new Map(), new Map()); // true
 * ```
 */
export function servicePortMapsEqual(a: ServicePortMap, b: ServicePortMap): boolean {
  if (a.size !== b.size) return false;
  for (const [key, x] of a) {
    const y = b.get(key);
    if (y === undefined || !servicePortInfoEqual(x, y)) return false;
  }
  return true;
}

function servicePortInfoEqual(x: ServicePortInfo, y: ServicePortInfo): boolean {
  return x.nameString === y.nameString && x.protocol === y.protocol &&
    x.clusterIP === y.clusterIP && x.port === y.port && x.nodePort === y.nodePort &&
    arraysEqual(x.externalIPs, y.externalIPs) &&
    arraysEqual(x.loadBalancerVIPs, y.loadBalancerVIPs) &&
    arraysEqual(x.loadBalancerSourceRanges, y.loadBalancerSourceRanges) &&
    x.stickyMaxAgeSeconds === y.stickyMaxAgeSeconds &&
    x.externalPolicyLocal === y.externalPolicyLocal &&
    x.internalPolicyLocal === y.internalPolicyLocal &&
    x.healthCheckNodePort === y.healthCheckNodePort;
}

function arraysEqual(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
