/**
 * The proxier's settings, decided from the `KubeProxyConfiguration` and what start-up found out
 * about the node: the part of upstream's `newProxyServer`/`createProxier` that is policy, kept
 * pure so that it is tested without a node.
 *
 * @module
 */

import type { IPFamily } from "../cache/objects.ts";
import type { ClusterDNSConfiguration, KubeProxyConfiguration } from "../config/types.ts";
import { allowsLocalhostNodePorts } from "./net.ts";
import { bindAddressFamily } from "./node_addresses.ts";
import type { LocalDetectorConfig, ProxierOptions } from "./proxier.ts";

/** What start-up learned about the node, beyond the configuration. */
export interface NodeFacts {
  /** This node's name (`hostnameOverride` or the hostname). */
  readonly nodeName: string;
  /** The families whose iptables work here (`createFamilies`). */
  readonly families: readonly IPFamily[];
  /** The node IP per family, kept current by `trackNodeAddresses` (shared, read on each sync). */
  readonly nodeIPs: Partial<Record<IPFamily, string>>;
  /** `nodePortAddresses` with `primary` resolved, kept current by `trackNodeAddresses`. */
  readonly nodePortAddresses: readonly string[];
  /** The kernel's `nf_conntrack_tcp_be_liberal` after node preparation. */
  readonly tcpBeLiberal: boolean;
  /** Whether iptables supports MASQUERADE `--random-fully`. */
  readonly randomFully: boolean;
  /** The UDP port the cluster DNS responder really listens on; undefined when it is not running. */
  readonly dnsPort?: number;
}

/**
 * Builds the {@linkcode ProxierOptions} from the configuration and the node's facts. DNS
 * interception is on only when the responder runs and `serviceIPs` names addresses to catch.
 *
 * @param config The validated, defaulted proxy configuration.
 * @param dns The validated, defaulted cluster DNS configuration.
 * @param node What start-up found out about the node.
 */
export function proxierOptionsFromConfig(
  config: KubeProxyConfiguration,
  dns: ClusterDNSConfiguration,
  node: NodeFacts,
): ProxierOptions {
  const localDetector: LocalDetectorConfig = {
    mode: config.detectLocalMode as LocalDetectorConfig["mode"],
    clusterCIDRs: splitCIDRs(config.clusterCIDR),
    bridgeInterface: config.detectLocal.bridgeInterface,
    interfaceNamePrefix: config.detectLocal.interfaceNamePrefix,
  };
  return {
    nodeName: node.nodeName,
    families: node.families,
    nodeIPs: node.nodeIPs,
    masqueradeBit: config.iptables.masqueradeBit,
    masqueradeAll: config.iptables.masqueradeAll,
    syncPeriodMs: config.iptables.syncPeriod,
    minSyncPeriodMs: config.iptables.minSyncPeriod,
    localDetector,
    nodePortAddresses: node.nodePortAddresses,
    localhostNodePorts: config.iptables.localhostNodePorts,
    tcpBeLiberal: node.tcpBeLiberal,
    randomFully: node.randomFully,
    dnsIntercept: node.dnsPort !== undefined && dns.serviceIPs.length > 0
      ? { serviceIPs: dns.serviceIPs, port: node.dnsPort }
      : undefined,
  };
}

/**
 * Whether localhost NodePorts are in effect, as upstream decides it (and as the proxier does):
 * `iptables.localhostNodePorts` on, and `nodePortAddresses` allowing IPv4 loopback. Node
 * preparation sets `route_localnet` only then.
 *
 * @param config The validated proxy configuration.
 */
export function localhostNodePortsEffective(config: KubeProxyConfiguration): boolean {
  return config.iptables.localhostNodePorts &&
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

/** Splits `clusterCIDR` (`"10.244.0.0/16,fd00::/48"`) into its CIDRs. */
function splitCIDRs(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}
