/**
 * The start-up log line, from the effective configuration.
 *
 * @module
 */

import { formatDuration } from "./duration.ts";
import { log } from "./log.ts";
import type { Options } from "./options.ts";
import type { KubeProxyConfiguration } from "./types.ts";
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
  const section = proxierSection(config);
  log.info("Version info", { version: versionString() });
  log.info("Starting kube-proxy", {
    mode: config.mode,
    backend,
    nodeName: options.nodeName,
    configFile: options.configFile ?? "",
    bindAddress: config.bindAddress,
    clusterCIDR: config.clusterCIDR,
    detectLocalMode: config.detectLocalMode,
    masqueradeBit: section.masqueradeBit,
    masqueradeAll: section.masqueradeAll,
    syncPeriod: formatDuration(section.syncPeriod),
    minSyncPeriod: formatDuration(section.minSyncPeriod),
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

/**
 * Upstream's lines for the proxier it creates (`"Using iptables Proxier"`) and, at verbosity 2,
 * its sync parameters (`"Iptables sync params" minSyncPeriod="1s" syncPeriod="30s"`), worded as
 * upstream's so that a grep written for upstream's logs finds them.
 *
 * @param options The loaded options.
 */
export function logProxier(options: Options): void {
  const { config } = options;
  const mode = config.mode === "" ? "iptables" : config.mode;
  log.info(`Using ${mode} Proxier`);
  const periods = proxierSection(config);
  log.v(2).info(mode === "nftables" ? "NFTables sync params" : "Iptables sync params", {
    minSyncPeriod: formatDuration(periods.minSyncPeriod),
    syncPeriod: formatDuration(periods.syncPeriod),
    burstSyncs: 2,
  });
}

/**
 * The configuration section the proxier runs on: `nftables` in nftables mode, else `iptables`
 * (sync periods and masquerading, as `proxierOptionsFromConfig` and the backends read them).
 */
function proxierSection(config: KubeProxyConfiguration) {
  return config.mode === "nftables" ? config.nftables : config.iptables;
}

/** The names upstream's informers log their sync under (`pkg/proxy/config/config.go`). */
const CONTROLLERS = ["service config", "endpoint slice config", "node config"] as const;

/**
 * Upstream's `"Waiting for caches to sync"` line, once per watched resource, and the
 * `"Caches are synced"` lines when `synced` resolves.
 *
 * @param synced Resolves when every resource has been listed once.
 */
export function logCacheSync(synced: Promise<void>): void {
  for (const controller of CONTROLLERS) log.info("Waiting for caches to sync", { controller });
  synced.then(() => {
    for (const controller of CONTROLLERS) log.info("Caches are synced", { controller });
  }, () => {});
}
