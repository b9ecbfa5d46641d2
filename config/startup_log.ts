/**
 * The start-up log line, from the effective configuration.
 *
 * @module
 */

import { formatDuration } from "./duration.ts";
import { log } from "./log.ts";
import type { Options } from "./options.ts";
import { versionString } from "./version.ts";

/**
 * Logs the start-up lines: upstream's "Version info", then "Starting kube-proxy" with what an
 * operator checks first (mode, backend, node name, the effective settings), and the whole
 * effective configuration at verbosity 2.
 *
 * @param options The loaded options.
 * @param backend The iptables backend in use (or the configured one, for `--cleanup`).
 */
export function logStartup(options: Options, backend: string): void {
  const { config, dns } = options;
  log.info("Version info", { version: versionString() });
  log.info("Starting kube-proxy", {
    mode: config.mode,
    backend,
    nodeName: options.nodeName,
    configFile: options.configFile ?? "",
    bindAddress: config.bindAddress,
    clusterCIDR: config.clusterCIDR,
    detectLocalMode: config.detectLocalMode,
    masqueradeBit: config.iptables.masqueradeBit,
    masqueradeAll: config.iptables.masqueradeAll,
    syncPeriod: formatDuration(config.iptables.syncPeriod),
    minSyncPeriod: formatDuration(config.iptables.minSyncPeriod),
    nodePortAddresses: config.nodePortAddresses ?? [],
    localhostNodePorts: config.iptables.localhostNodePorts,
    healthzBindAddress: config.healthzBindAddress,
    metricsBindAddress: config.metricsBindAddress,
    bindAddressHardFail: config.bindAddressHardFail,
    conntrackMaxPerCore: config.conntrack.maxPerCore,
    conntrackMin: config.conntrack.min,
    tcpBeLiberal: config.conntrack.tcpBeLiberal,
    dns: dns.enabled ? `${dns.bindAddress}:${dns.port} ${dns.clusterDomain}` : "disabled",
    dnsServiceIPs: dns.serviceIPs,
  });
  log.v(2).info("Effective configuration", { config, dns });
}
