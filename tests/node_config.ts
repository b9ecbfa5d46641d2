/**
 * The node configuration file (a `KubeProxyConfiguration` plus a `ClusterDNSConfiguration`) that
 * the sandbox, the end-to-end tests and the benchmarks run `main.ts` with.
 *
 * Conntrack sizing and timeouts are 0 ("leave as-is") so that a test never writes a sysctl that
 * is global to the machine (`nf_conntrack_max` is not per-namespace).
 *
 * @module
 */

/** The proxy modes the sandbox runs (`mode:` of the KubeProxyConfiguration). */
export type ProxyMode = "iptables" | "nftables";

/** Every {@linkcode ProxyMode}, for flag parsing. */
export const PROXY_MODES: readonly ProxyMode[] = ["iptables", "nftables"];

/** What differs between the callers' node configs. */
export interface NodeConfigOptions {
  /** `mode:`; default iptables. nftables mode gets the same periods in its own section. */
  readonly mode?: ProxyMode;
  /** `clientConnection.kubeconfig`; left out when the caller passes `--master`. */
  readonly kubeconfig?: string;
  readonly nodeName: string;
  readonly clusterCIDR: string;
  readonly healthzBindAddress: string;
  readonly metricsBindAddress: string;
  readonly minSyncPeriod: string;
  readonly dnsBindAddress: string;
  readonly dnsPort: number;
  /** Write `podRecords: insecure` (the default value) explicitly. */
  readonly podRecords?: boolean;
  /** Cluster DNS service IPs to intercept; none when empty or unset. */
  readonly dnsServiceIPs?: readonly string[];
}

/**
 * Renders the two-document config file.
 *
 * @param opts the node's settings.
 * @returns the YAML text.
 */
export function renderNodeConfig(opts: NodeConfigOptions): string {
  const lines = [
    "apiVersion: kubeproxy.config.k8s.io/v1alpha1",
    "kind: KubeProxyConfiguration",
    ...(opts.kubeconfig !== undefined
      ? ["clientConnection:", `  kubeconfig: ${opts.kubeconfig}`]
      : []),
    `hostnameOverride: ${opts.nodeName}`,
    `mode: ${opts.mode ?? "iptables"}`,
    `clusterCIDR: ${opts.clusterCIDR}`,
    `healthzBindAddress: ${opts.healthzBindAddress}`,
    `metricsBindAddress: ${opts.metricsBindAddress}`,
    "iptables:",
    `  minSyncPeriod: ${opts.minSyncPeriod}`,
    "  syncPeriod: 30s",
    ...(opts.mode === "nftables"
      ? ["nftables:", `  minSyncPeriod: ${opts.minSyncPeriod}`, "  syncPeriod: 30s"]
      : []),
    "conntrack:",
    "  maxPerCore: 0",
    "  tcpEstablishedTimeout: 0s",
    "  tcpCloseWaitTimeout: 0s",
    "---",
    "apiVersion: dns.kubeproxy.config/v1alpha1",
    "kind: ClusterDNSConfiguration",
    "enabled: true",
    `bindAddress: ${opts.dnsBindAddress}`,
    `port: ${opts.dnsPort}`,
    "clusterDomain: cluster.local",
    "upstreamServers: []",
    ...(opts.podRecords ? ["podRecords: insecure"] : []),
    ...(opts.dnsServiceIPs?.length
      ? ["serviceIPs:", ...opts.dnsServiceIPs.map((ip) => `  - ${ip}`)]
      : []),
  ];
  return lines.join("\n") + "\n";
}
