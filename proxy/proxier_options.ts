/**
 * The proxier's settings, decided from the `KubeProxyConfiguration` and what start-up found out
 * about the node: the part of upstream's `newProxyServer`/`createProxier` that is policy, kept
 * pure so that it is tested without a node. Backend settings are built in `backends.ts`.
 *
 * @module
 */

import type { IPFamily } from "../cache/objects.ts";
import { splitCIDRList } from "../config/ip.ts";
import type { ClusterDNSConfiguration, KubeProxyConfiguration } from "../config/types.ts";
import type { DnsIntercept } from "./backend.ts";
import { allowsLocalhostNodePorts } from "./net.ts";
import { bindAddressFamily } from "./node_addresses.ts";
import type { LocalDetectorConfig, ProxierOptions } from "./proxier.ts";

/**
 * Builds the backend-neutral {@linkcode ProxierOptions} from the configuration. The node's
 * addresses are not here: the proxier derives them from `bindAddress`, `nodePortAddresses` and
 * the Node object.
 *
 * @param config The validated, defaulted proxy configuration.
 * @param nodeName This node's name (`hostnameOverride` or the hostname).
 */
export function proxierOptionsFromConfig(
  config: KubeProxyConfiguration,
  nodeName: string,
): ProxierOptions {
  const localDetector: LocalDetectorConfig = {
    mode: config.detectLocalMode as LocalDetectorConfig["mode"],
    clusterCIDRs: splitCIDRList(config.clusterCIDR),
    bridgeInterface: config.detectLocal.bridgeInterface,
    interfaceNamePrefix: config.detectLocal.interfaceNamePrefix,
  };
  // Each mode reads its own section's periods (upstream's v1alpha1 conversion).
  const periods = config.mode === "nftables" ? config.nftables : config.iptables;
  return {
    nodeName,
    syncPeriodMs: periods.syncPeriod,
    minSyncPeriodMs: periods.minSyncPeriod,
    localDetector,
    bindAddress: config.bindAddress,
    nodePortAddresses: config.nodePortAddresses ?? [],
  };
}

/**
 * The DNS interception (our extension) every backend writes: on only when the responder runs
 * and `serviceIPs` names addresses to catch.
 *
 * @param dns The validated, defaulted cluster DNS configuration.
 * @param dnsPort The UDP port the responder really listens on; undefined when it is not running.
 */
export function dnsInterceptFor(
  dns: ClusterDNSConfiguration,
  dnsPort: number | undefined,
): DnsIntercept | undefined {
  return dnsPort !== undefined && dns.serviceIPs.length > 0
    ? { serviceIPs: dns.serviceIPs, port: dnsPort }
    : undefined;
}

/**
 * Whether localhost NodePorts are in effect, as upstream decides it (and as the iptables backend
 * does): `iptables.localhostNodePorts` on, and `nodePortAddresses` allowing IPv4 loopback. Node
 * preparation sets `route_localnet` only then.
 *
 * @param config The validated proxy configuration.
 */
export function localhostNodePortsEffective(config: KubeProxyConfiguration): boolean {
  // nftables mode has no localhost NodePorts (and never sets route_localnet).
  return config.mode !== "nftables" && config.iptables.localhostNodePorts &&
    allowsLocalhostNodePorts(config.nodePortAddresses ?? []);
}

/**
 * The primary IP family: that of `bindAddress` when it is a specific IP, else IPv4 (upstream).
 *
 * @param config The validated proxy configuration.
 */
export function primaryIPFamily(config: KubeProxyConfiguration): IPFamily {
  return bindAddressFamily(config.bindAddress) ?? "IPv4";
}
