/**
 * The shapes of the two configuration documents, fully defaulted and read-only.
 *
 * `KubeProxyConfiguration` is upstream's `kubeproxy.config.k8s.io/v1alpha1` object with every
 * field under its upstream JSON name, so a file written for upstream kube-proxy reads the same
 * here. `ClusterDNSConfiguration` is this project's own second document
 * (`dns.kubeproxy.config/v1alpha1`) for the built-in cluster DNS responder.
 *
 * Durations are milliseconds (`number`, fractional below 1ms); on disk and on the command line
 * they are Go duration strings (`30s`, `1h0m0s`), see `duration.ts`. Fields that upstream
 * declares as pointers (`*int32`, `*bool`, `*Duration`) are always set here: defaulting has run.
 *
 * This file imports nothing from the project.
 *
 * @module
 */

/** `apiVersion` of the kube-proxy document. */
export const KUBE_PROXY_API_VERSION = "kubeproxy.config.k8s.io/v1alpha1";
/** `kind` of the kube-proxy document. */
export const KUBE_PROXY_KIND = "KubeProxyConfiguration";
/** `apiVersion` of this project's DNS document. */
export const CLUSTER_DNS_API_VERSION = "dns.kubeproxy.config/v1alpha1";
/** `kind` of this project's DNS document. */
export const CLUSTER_DNS_KIND = "ClusterDNSConfiguration";

/** Settings of the API client (`clientConnection`). */
export interface ClientConnectionConfiguration {
  /** Path to a kubeconfig file; empty (and no `--master`) means in-cluster config. */
  readonly kubeconfig: string;
  /** `Accept` header sent to the API server. */
  readonly acceptContentTypes: string;
  /** Content type of requests. Default `application/vnd.kubernetes.protobuf`. */
  readonly contentType: string;
  /** Client-side queries per second. Default 5. */
  readonly qps: number;
  /** Client-side burst. Default 10. */
  readonly burst: number;
}

/** One `logging.vmodule` entry: a per-file verbosity. */
export interface VModuleItem {
  /** File name pattern (no `=` or `,`). */
  readonly filePattern: string;
  /** Verbosity for matching files. */
  readonly verbosity: number;
}

/** Output routing options of a log format (`logging.options.text` / `.json`). */
export interface OutputRoutingOptions {
  /** Write info messages to stdout and errors to stderr (alpha upstream). */
  readonly splitStream: boolean;
  /** Buffer size for info messages when split (a Kubernetes quantity such as `"0"`, `"64Ki"`). */
  readonly infoBufferSize: string;
}

/** component-base `LoggingConfiguration` (`logging`). */
export interface LoggingConfiguration {
  /** `text` (klog lines, default) or `json`. */
  readonly format: string;
  /** Flush interval in milliseconds. Default 5s. */
  readonly flushFrequency: number;
  /** klog verbosity (`-v`). Default 0. */
  readonly verbosity: number;
  /** Per-file verbosity overrides; empty when unset. */
  readonly vmodule: readonly VModuleItem[];
  /** Per-format options. */
  readonly options: {
    readonly text: OutputRoutingOptions;
    readonly json: OutputRoutingOptions;
  };
}

/** `iptables` section. */
export interface KubeProxyIPTablesConfiguration {
  /** Bit of the packet mark used to mark packets for SNAT, [0, 31]. Default 14. */
  readonly masqueradeBit: number;
  /** SNAT all traffic sent to cluster IPs. Default false. */
  readonly masqueradeAll: boolean;
  /** Allow NodePorts on 127.0.0.1 (route_localnet). Default true. */
  readonly localhostNodePorts: boolean;
  /** Maximum interval between full syncs, ms. Default 30s. */
  readonly syncPeriod: number;
  /** Minimum interval between syncs, ms. Default 1s. */
  readonly minSyncPeriod: number;
}

/** `ipvs` section (accepted and validated; this build does not implement IPVS). */
export interface KubeProxyIPVSConfiguration {
  /** Sync period, ms. Default 30s. */
  readonly syncPeriod: number;
  /** Minimum sync period, ms. Default 0s. */
  readonly minSyncPeriod: number;
  /** IPVS scheduler. Default "" (rr). */
  readonly scheduler: string;
  /** CIDRs IPVS must not touch; null when unset. */
  readonly excludeCIDRs: readonly string[] | null;
  /** Strict ARP. Default false. */
  readonly strictARP: boolean;
  /** IPVS TCP timeout, ms. Default 0 (leave as is). */
  readonly tcpTimeout: number;
  /** IPVS TCP FIN timeout, ms. Default 0. */
  readonly tcpFinTimeout: number;
  /** IPVS UDP timeout, ms. Default 0. */
  readonly udpTimeout: number;
}

/** `nftables` section: the settings of nftables mode (`mode: nftables`). */
export interface KubeProxyNFTablesConfiguration {
  /** Masquerade mark bit. Default 14. */
  readonly masqueradeBit: number;
  /** SNAT all traffic sent to cluster IPs. Default false. */
  readonly masqueradeAll: boolean;
  /** Sync period, ms. Default 30s. */
  readonly syncPeriod: number;
  /** Minimum sync period, ms. Default 1s. */
  readonly minSyncPeriod: number;
}

/** `winkernel` section (Windows only; accepted and ignored). */
export interface KubeProxyWinkernelConfiguration {
  /** HNS network name. */
  readonly networkName: string;
  /** Source VIP. */
  readonly sourceVip: string;
  /** Direct server return. */
  readonly enableDSR: boolean;
  /** Root HNS endpoint name. */
  readonly rootHnsEndpointName: string;
  /** Forward health-check VIP. */
  readonly forwardHealthCheckVip: boolean;
}

/** `detectLocal` section. */
export interface DetectLocalConfiguration {
  /** Bridge interface for `detectLocalMode: BridgeInterface`. */
  readonly bridgeInterface: string;
  /** Interface name prefix for `detectLocalMode: InterfaceNamePrefix`. */
  readonly interfaceNamePrefix: string;
}

/** `conntrack` section. */
export interface KubeProxyConntrackConfiguration {
  /** Conntrack entries per CPU; 0 leaves nf_conntrack_max alone. Default 32768. */
  readonly maxPerCore: number;
  /** Minimum nf_conntrack_max. Default 131072. */
  readonly min: number;
  /** nf_conntrack_tcp_timeout_established, ms; 0 leaves it alone. Default 24h. */
  readonly tcpEstablishedTimeout: number;
  /** nf_conntrack_tcp_timeout_close_wait, ms. Default 1h. */
  readonly tcpCloseWaitTimeout: number;
  /** Set nf_conntrack_tcp_be_liberal (and omit the INVALID-drop rule). Default false. */
  readonly tcpBeLiberal: boolean;
  /** UNREPLIED UDP timeout, ms; 0 leaves it alone. */
  readonly udpTimeout: number;
  /** ASSURED UDP timeout, ms; 0 leaves it alone. */
  readonly udpStreamTimeout: number;
}

/**
 * Upstream's `KubeProxyConfiguration` (v1alpha1), fully defaulted. Field names are the JSON
 * names; see `config/README.md` and the reference for each field's meaning.
 */
export interface KubeProxyConfiguration {
  /** Feature gates by name; empty when unset. */
  readonly featureGates: Readonly<Record<string, boolean>>;
  /** API client settings. */
  readonly clientConnection: ClientConnectionConfiguration;
  /** Logging settings. */
  readonly logging: LoggingConfiguration;
  /** Node name override; empty means the lowercased host name. */
  readonly hostnameOverride: string;
  /** The node's primary IP override (not a listen address); `0.0.0.0`/`::` = auto-detect. */
  readonly bindAddress: string;
  /** `IP:port` of the /healthz server; empty disables it. */
  readonly healthzBindAddress: string;
  /** `IP:port` of the /metrics server; empty disables it. */
  readonly metricsBindAddress: string;
  /** Exit when the healthz or metrics server cannot bind. */
  readonly bindAddressHardFail: boolean;
  /** Serve /debug/pprof on the metrics server (accepted; not implemented). */
  readonly enableProfiling: boolean;
  /** Previous minor version whose hidden metrics to show. */
  readonly showHiddenMetricsForVersion: string;
  /** Proxy mode: `""` (= iptables), `iptables` or `nftables` in this build. */
  readonly mode: string;
  /** iptables settings. */
  readonly iptables: KubeProxyIPTablesConfiguration;
  /** IPVS settings (unused). */
  readonly ipvs: KubeProxyIPVSConfiguration;
  /** nftables settings (used in nftables mode). */
  readonly nftables: KubeProxyNFTablesConfiguration;
  /** Windows settings (unused). */
  readonly winkernel: KubeProxyWinkernelConfiguration;
  /** How to tell local traffic: `ClusterCIDR` (blank), `NodeCIDR`, `BridgeInterface`, `InterfaceNamePrefix`. */
  readonly detectLocalMode: string;
  /** Settings of the interface-based local-traffic modes. */
  readonly detectLocal: DetectLocalConfiguration;
  /** Pod CIDR(s), comma-separated dual-stack pair allowed; used by ClusterCIDR mode. */
  readonly clusterCIDR: string;
  /** CIDRs (or `primary`) whose addresses accept NodePorts; null = all local addresses. */
  readonly nodePortAddresses: readonly string[] | null;
  /** OOM score adjustment for the process, [-1000, 1000]. Default -999. */
  readonly oomScoreAdj: number;
  /** Conntrack settings. */
  readonly conntrack: KubeProxyConntrackConfiguration;
  /** Informer resync period, ms. Default 15m. */
  readonly configSyncPeriod: number;
  /** Unused (userspace proxy removed) but validated as a port range. */
  readonly portRange: string;
  /** Windows only. */
  readonly windowsRunAsService: boolean;
}

/** Pod record mode of the DNS responder, as CoreDNS's `pods` option. */
export type PodRecordsMode = "insecure" | "disabled";

/**
 * This project's `ClusterDNSConfiguration` (`dns.kubeproxy.config/v1alpha1`), fully defaulted.
 * A file without this document (and a configuration from flags only) gets every default below
 * but `enabled: false`: no DNS port is opened unless the document asks for it.
 */
export interface ClusterDNSConfiguration {
  /** Run the DNS responder. Default true inside the document; false without the document. */
  readonly enabled: boolean;
  /** Listen address (UDP and TCP). Default `0.0.0.0`. */
  readonly bindAddress: string;
  /** Listen port; 0 picks an ephemeral port (tests). Default 53. */
  readonly port: number;
  /** Cluster domain, without a trailing dot. Default `cluster.local`. */
  readonly clusterDomain: string;
  /** TTL of answers, seconds. Default 5 (as CoreDNS). */
  readonly ttl: number;
  /** Resolvers for names outside the cluster domain (`ip` or `ip:port`); empty = the node's
   * /etc/resolv.conf nameservers, read at start-up by the DNS server. */
  readonly upstreamServers: readonly string[];
  /** Timeout of one forwarded query, ms. Default 2s. */
  readonly forwardTimeout: number;
  /** Forwarded queries in flight at most; more are answered SERVFAIL. Default 1000. */
  readonly maxConcurrentForwards: number;
  /**
   * A DNS-over-TCP connection is closed when no complete query arrives within this long of its
   * opening or of its last answer (partial bytes do not extend it), ms. Default 5s.
   */
  readonly tcpIdleTimeout: number;
  /** `insecure` (answer any pod A record, as CoreDNS) or `disabled`. Default `insecure`. */
  readonly podRecords: PodRecordsMode;
  /** Cluster DNS service IPs whose port-53 traffic this node sends to the local responder;
   * empty = no interception. */
  readonly serviceIPs: readonly string[];
  /**
   * CIDRs whose clients are answered besides the cluster's own (pod CIDRs, node addresses,
   * loopback); everyone else gets REFUSED. Default empty.
   */
  readonly allowedClients: readonly string[];
}
