/**
 * Prometheus metrics of the proxy (upstream's `kubeproxy_*` set for iptables mode) and of the
 * built-in DNS responder (`clusterdns_*`), and the metrics HTTP server.
 *
 * This is the only file that imports `prom-client`. Other parts of the proxy record through the
 * typed methods of {@linkcode ProxyMetrics}; the DNS responder records through the structural
 * {@linkcode DnsMetrics} interface (dns/ declares the same shape and never imports proxy/).
 *
 * Names, types, label names, help texts (with component-base's `[ALPHA] ` prefix) and buckets are
 * upstream's `pkg/proxy/metrics`. The standard metrics every Kubernetes component serves are here
 * too, with upstream's names, labels and buckets: Go's process collector (`process_*`, read from
 * `/proc` by `process_stats.ts`), client-go's `rest_client_requests_total` and
 * `rest_client_request_duration_seconds` (fed by the API client's `onRequest` hook),
 * `kubernetes_build_info` and `kubernetes_feature_enabled`. Deno's heap figures are added under
 * their own names (`deno_memory_*`); Go's runtime metrics (`go_*`) have no equivalent here.
 * A labelled histogram shows its zero series for the label values known at start (the proxy's
 * IP families, the API server, the DNS protocols) before its first observation. The DNS metrics
 * follow CoreDNS's `coredns_dns_*` and `coredns_forward_*` families with CoreDNS's buckets, under
 * our own prefix.
 *
 * The metrics server serves, as upstream's: `/metrics` (text format 0.0.4), `/healthz` (the
 * generic apiserver `ok`, not the proxy's sync health), `/proxyMode` and `/configz`.
 *
 * @module
 */

import client from "prom-client";
import type { IPFamily } from "../cache/objects.ts";
import { featureStates } from "../config/feature_gates.ts";
import { log } from "../config/log.ts";
import { KUBERNETES_MAJOR, KUBERNETES_MINOR, PROXY_VERSION } from "../config/version.ts";
import { type HttpListeners, serveHttp } from "./listen.ts";
import { type ProcessStats, readProcessStats } from "./process_stats.ts";

/** `ExponentialBuckets(0.001, 2, 15)`: 1 ms … 16.384 s, upstream's sync-duration buckets. */
export const SYNC_DURATION_BUCKETS: readonly number[] = exponentialBuckets(0.001, 2, 15);

/** Upstream's network programming latency buckets: 0.25 s … 59 s by 1 s, … 300 s. */
export const NETWORK_PROGRAMMING_BUCKETS: readonly number[] = [
  ...linearBuckets(0.25, 0.25, 2),
  ...linearBuckets(1, 1, 59),
  ...linearBuckets(60, 5, 12),
  ...linearBuckets(120, 30, 7),
];

/** client-go's `rest_client_request_duration_seconds` buckets. */
export const REST_CLIENT_DURATION_BUCKETS: readonly number[] = [
  0.005,
  0.025,
  0.1,
  0.25,
  0.5,
  1,
  2,
  4,
  8,
  15,
  30,
  60,
];

/** CoreDNS's `plugin.TimeBuckets`: `ExponentialBuckets(0.00025, 2, 16)`, 0.25 ms … 8.192 s. */
export const DNS_TIME_BUCKETS: readonly number[] = exponentialBuckets(0.00025, 2, 16);

/** CoreDNS's `plugin.SizeBuckets` (bytes). */
export const DNS_SIZE_BUCKETS: readonly number[] = [
  0,
  100,
  200,
  300,
  400,
  511,
  1023,
  2047,
  4095,
  8291,
  16e3,
  32e3,
  48e3,
  64e3,
];

function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  let v = start;
  for (let i = 0; i < count; i++, v *= factor) out.push(Number(v.toPrecision(12)));
  return out;
}

function linearBuckets(start: number, width: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(start + i * width);
  return out;
}

/** Which traffic policy a no-local-endpoints count is about. */
export type TrafficPolicyKind = "internal" | "external";

/** The iptables tables whose rule counts are reported. */
export type RuleTable = "filter" | "nat";

/**
 * What the DNS responder records. dns/ declares the same interface structurally; this module's
 * {@linkcode ProxyMetrics.dns} implements it.
 */
export interface DnsMetrics {
  /** Counts one query by transport and query type (`A`, `AAAA`, `SRV`, …). */
  observeRequest(labels: { proto: "udp" | "tcp"; type: string }): void;
  /** Counts one response by rcode and records its latency and size. */
  observeResponse(
    labels: { proto: "udp" | "tcp"; rcode: string },
    seconds: number,
    sizeBytes: number,
  ): void;
  /** Counts one upstream (forwarded) query by its rcode and records its latency. */
  observeForward(labels: { rcode: string }, seconds: number): void;
  /** Counts one query refused because its client is not one of the cluster's. */
  observeBlocked(labels: { proto: "udp" | "tcp" }): void;
}

const ALPHA = "[ALPHA] ";

/** One API request as the `rest_client_*` metrics count it (`cache/client.ts`'s RequestRecord). */
export interface RestRequest {
  /** HTTP method (`GET`). */
  readonly method: string;
  /** `host:port` of the API server. */
  readonly host: string;
  /** Status code as text, or `<error>`. */
  readonly code: string;
  /** Time to the response headers. */
  readonly seconds: number;
}

/** What {@linkcode ProxyMetrics} knows at start. All optional: without, no zero series. */
export interface ProxyMetricsOptions {
  /** The proxy's IP families: the `ip_family` histograms show their zero series for them. */
  readonly families?: readonly IPFamily[];
  /** `featureGates` of the configuration, for `kubernetes_feature_enabled`. */
  readonly featureGates?: Readonly<Record<string, boolean>>;
  /** The API server's `host:port`: `rest_client_request_duration_seconds` shows GET's zero series. */
  readonly apiServerHost?: string;
  /** Whether the DNS responder runs: its histograms show their zero series for udp and tcp. */
  readonly dns?: boolean;
  /** Source of the `process_*` figures; `/proc/self` by default (tests inject). */
  readonly processStats?: () => ProcessStats | undefined;
}

/** `linux/amd64`, as Go's `runtime.GOOS/GOARCH`. */
function platform(): string {
  const arch: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };
  return `${Deno.build.os}/${arch[Deno.build.arch] ?? Deno.build.arch}`;
}

/**
 * Registers the metrics every Kubernetes component serves (see the module comment).
 *
 * @returns The recorder of one API request.
 */
function registerStandardMetrics(
  registers: client.Registry[],
  opts: ProxyMetricsOptions,
): (request: RestRequest) => void {
  const read = opts.processStats ?? readProcessStats;
  // One /proc reading per scrape, shared by the process gauges of that scrape.
  let cached: { at: number; stats: ProcessStats | undefined } | undefined;
  const stats = () => {
    const now = performance.now();
    if (cached === undefined || now - cached.at > 100) cached = { at: now, stats: read() };
    return cached.stats;
  };
  new client.Counter({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
    registers,
    collect() {
      const s = stats();
      this.reset();
      if (s) this.inc(s.cpuSeconds);
    },
  });
  const gauge = (name: string, help: string, value: (s: ProcessStats) => number) =>
    new client.Gauge({
      name,
      help,
      registers,
      collect() {
        const s = stats();
        if (s) this.set(value(s));
      },
    });
  gauge("process_open_fds", "Number of open file descriptors.", (s) => s.openFds);
  gauge("process_max_fds", "Maximum number of open file descriptors.", (s) => s.maxFds);
  gauge(
    "process_virtual_memory_bytes",
    "Virtual memory size in bytes.",
    (s) => s.virtualMemoryBytes,
  );
  gauge(
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
    (s) => s.residentMemoryBytes,
  );
  gauge(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
    (s) => s.startTimeSeconds,
  );
  const heap = (name: string, help: string, key: "heapUsed" | "heapTotal" | "external") =>
    new client.Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(Deno.memoryUsage()[key]);
      },
    });
  heap("deno_memory_heap_used_bytes", "V8 heap in use, in bytes (Deno.memoryUsage).", "heapUsed");
  heap(
    "deno_memory_heap_total_bytes",
    "V8 heap reserved, in bytes (Deno.memoryUsage).",
    "heapTotal",
  );
  heap(
    "deno_memory_external_bytes",
    "Memory of objects outside the V8 heap, in bytes.",
    "external",
  );

  const buildInfo = new client.Gauge({
    name: "kubernetes_build_info",
    help: ALPHA + "A metric with a constant '1' value labeled by major, minor, git version, git " +
      "commit, git tree state, build date, Go version, and compiler from which Kubernetes was " +
      "built, and platform on which it is running.",
    labelNames: [
      "buildDate",
      "compiler",
      "gitCommit",
      "gitTreeState",
      "gitVersion",
      "goVersion",
      "major",
      "minor",
      "platform",
    ],
    registers,
  });
  // Honest values: the release followed, this build's version, and the runtime it runs on.
  buildInfo.set({
    // In Go's order (sorted by name), as client_golang writes them.
    buildDate: "1970-01-01T00:00:00Z",
    compiler: "deno",
    gitCommit: "",
    gitTreeState: "",
    gitVersion: `v${KUBERNETES_MAJOR}.${KUBERNETES_MINOR}.0+kube-proxy-deno.${PROXY_VERSION}`,
    goVersion: `deno${Deno.version.deno}`,
    major: String(KUBERNETES_MAJOR),
    minor: String(KUBERNETES_MINOR),
    platform: platform(),
  }, 1);

  const features = new client.Gauge({
    name: "kubernetes_feature_enabled",
    help: "[BETA] This metric records the data about the stage and enablement of a k8s feature.",
    labelNames: ["name", "stage"],
    registers,
  });
  for (const f of featureStates(opts.featureGates ?? {})) {
    features.set({ name: f.name, stage: f.stage }, f.enabled ? 1 : 0);
  }

  const requests = new client.Counter({
    name: "rest_client_requests_total",
    help: ALPHA + "Number of HTTP requests, partitioned by status code, method, and host.",
    labelNames: ["code", "host", "method"],
    registers,
  });
  const duration = new client.Histogram({
    name: "rest_client_request_duration_seconds",
    help: ALPHA + "Request latency in seconds. Broken down by verb, and host.",
    labelNames: ["host", "verb"],
    buckets: [...REST_CLIENT_DURATION_BUCKETS],
    registers,
  });
  if (opts.apiServerHost !== undefined) duration.zero({ host: opts.apiServerHost, verb: "GET" });
  return (r) => {
    requests.inc({ code: r.code, host: r.host, method: r.method });
    duration.observe({ host: r.host, verb: r.method }, r.seconds);
  };
}

/**
 * The proxy's and the DNS responder's metrics, in one registry of their own.
 *
 * @example
 * ```ts
 * const metrics = new ProxyMetrics();
 * metrics.observeSyncDuration("IPv4", 0.042, { full: true });
 * console.log(await metrics.render());
 * ```
 */
export class ProxyMetrics {
  #registry = new client.Registry();
  #syncDuration: client.Histogram<"ip_family">;
  #syncFullDuration: client.Histogram<"ip_family">;
  #syncPartialDuration: client.Histogram<"ip_family">;
  #lastSync: client.Gauge<"ip_family">;
  #lastQueued: client.Gauge<"ip_family">;
  #networkProgramming: client.Histogram<"ip_family">;
  #endpointChangesPending: client.Gauge;
  #endpointChangesTotal: client.Counter;
  #serviceChangesPending: client.Gauge;
  #serviceChangesTotal: client.Counter;
  #noLocalEndpoints: client.Gauge<"ip_family" | "traffic_policy">;
  #healthzTotal: client.Counter<"code">;
  #livezTotal: client.Counter<"code">;
  #restoreFailures: client.Counter<"ip_family">;
  #partialRestoreFailures: client.Counter<"ip_family">;
  #rulesTotal: client.Gauge<"table" | "ip_family">;
  #rulesLast: client.Gauge<"table" | "ip_family">;
  #conntrackDuration: client.Histogram<"ip_family">;
  #conntrackDeleted: client.Counter<"ip_family">;
  #nftablesFailures?: {
    sync: client.Counter<"ip_family">;
    cleanup: client.Counter<"ip_family">;
  };
  #dnsRequests: client.Counter<"proto" | "type">;
  #dnsResponses: client.Counter<"proto" | "rcode">;
  #dnsDuration: client.Histogram<"proto">;
  #dnsSize: client.Histogram<"proto">;
  #dnsForward: client.Counter<"rcode">;
  #dnsForwardDuration: client.Histogram<"rcode">;
  #dnsBlocked: client.Counter<"proto">;
  #restRequest: (request: RestRequest) => void;

  /** The DNS responder's view of these metrics. */
  readonly dns: DnsMetrics;

  /** @param opts What is known at start (families, gates, API server); see the type. */
  constructor(opts: ProxyMetricsOptions = {}) {
    const registers = [this.#registry];
    const family = ["ip_family"] as const;
    const syncHistogram = (name: string, help: string) =>
      new client.Histogram({
        name,
        help: ALPHA + help,
        labelNames: family,
        buckets: [...SYNC_DURATION_BUCKETS],
        registers,
      });
    this.#syncDuration = syncHistogram(
      "kubeproxy_sync_proxy_rules_duration_seconds",
      "SyncProxyRules latency in seconds",
    );
    this.#syncFullDuration = syncHistogram(
      "kubeproxy_sync_full_proxy_rules_duration_seconds",
      "SyncProxyRules latency in seconds for full resyncs",
    );
    this.#syncPartialDuration = syncHistogram(
      "kubeproxy_sync_partial_proxy_rules_duration_seconds",
      "SyncProxyRules latency in seconds for partial resyncs",
    );
    this.#lastSync = new client.Gauge({
      name: "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
      help: ALPHA + "The last time proxy rules were successfully synced",
      labelNames: family,
      registers,
    });
    this.#lastQueued = new client.Gauge({
      name: "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
      help: ALPHA + "The last time a sync of proxy rules was queued",
      labelNames: family,
      registers,
    });
    this.#networkProgramming = new client.Histogram({
      name: "kubeproxy_network_programming_duration_seconds",
      help: ALPHA + "In Cluster Network Programming Latency in seconds",
      labelNames: family,
      buckets: [...NETWORK_PROGRAMMING_BUCKETS],
      registers,
    });
    this.#endpointChangesPending = new client.Gauge({
      name: "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
      help: ALPHA + "Pending proxy rules Endpoint changes",
      registers,
    });
    this.#endpointChangesTotal = new client.Counter({
      name: "kubeproxy_sync_proxy_rules_endpoint_changes_total",
      help: ALPHA + "Cumulative proxy rules Endpoint changes",
      registers,
    });
    this.#serviceChangesPending = new client.Gauge({
      name: "kubeproxy_sync_proxy_rules_service_changes_pending",
      help: ALPHA + "Pending proxy rules Service changes",
      registers,
    });
    this.#serviceChangesTotal = new client.Counter({
      name: "kubeproxy_sync_proxy_rules_service_changes_total",
      help: ALPHA + "Cumulative proxy rules Service changes",
      registers,
    });
    this.#noLocalEndpoints = new client.Gauge({
      name: "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
      help: ALPHA + "Number of services with a Local traffic policy and no endpoints",
      labelNames: ["ip_family", "traffic_policy"],
      registers,
    });
    this.#healthzTotal = new client.Counter({
      name: "kubeproxy_proxy_healthz_total",
      help: ALPHA + "Cumulative proxy healthz HTTP status",
      labelNames: ["code"],
      registers,
    });
    this.#livezTotal = new client.Counter({
      name: "kubeproxy_proxy_livez_total",
      help: ALPHA + "Cumulative proxy livez HTTP status",
      labelNames: ["code"],
      registers,
    });
    this.#restoreFailures = new client.Counter({
      name: "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
      help: ALPHA + "Cumulative proxy iptables restore failures",
      labelNames: family,
      registers,
    });
    this.#partialRestoreFailures = new client.Counter({
      name: "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total",
      help: ALPHA + "Cumulative proxy iptables partial restore failures",
      labelNames: family,
      registers,
    });
    this.#rulesTotal = new client.Gauge({
      name: "kubeproxy_sync_proxy_rules_iptables_total",
      help: ALPHA + "Total number of iptables rules owned by kube-proxy",
      labelNames: ["ip_family", "table"],
      registers,
    });
    this.#rulesLast = new client.Gauge({
      name: "kubeproxy_sync_proxy_rules_iptables_last",
      help: ALPHA + "Number of iptables rules written by kube-proxy in last sync",
      labelNames: ["ip_family", "table"],
      registers,
    });
    this.#conntrackDuration = new client.Histogram({
      name: "kubeproxy_conntrack_reconciler_sync_duration_seconds",
      help: ALPHA + "ReconcileConntrackFlowsLatency latency in seconds",
      labelNames: family,
      buckets: [...SYNC_DURATION_BUCKETS],
      registers,
    });
    this.#conntrackDeleted = new client.Counter({
      name: "kubeproxy_conntrack_reconciler_deleted_entries_total",
      help: ALPHA + "Cumulative conntrack flows deleted by conntrack reconciler",
      labelNames: family,
      registers,
    });

    this.#dnsRequests = new client.Counter({
      name: "clusterdns_requests_total",
      help: "Counter of DNS requests made per protocol and query type.",
      labelNames: ["proto", "type"],
      registers,
    });
    this.#dnsResponses = new client.Counter({
      name: "clusterdns_responses_total",
      help: "Counter of DNS responses per protocol and response code.",
      labelNames: ["proto", "rcode"],
      registers,
    });
    this.#dnsDuration = new client.Histogram({
      name: "clusterdns_request_duration_seconds",
      help: "Histogram of the time (in seconds) each request took per protocol.",
      labelNames: ["proto"],
      buckets: [...DNS_TIME_BUCKETS],
      registers,
    });
    this.#dnsSize = new client.Histogram({
      name: "clusterdns_response_size_bytes",
      help: "Size of the returned response in bytes.",
      labelNames: ["proto"],
      buckets: [...DNS_SIZE_BUCKETS],
      registers,
    });
    this.#dnsForward = new client.Counter({
      name: "clusterdns_forward_requests_total",
      help: "Counter of requests forwarded upstream, per response code.",
      labelNames: ["rcode"],
      registers,
    });
    this.#dnsForwardDuration = new client.Histogram({
      name: "clusterdns_forward_request_duration_seconds",
      help: "Histogram of the time each forwarded request took, per response code.",
      labelNames: ["rcode"],
      buckets: [...DNS_TIME_BUCKETS],
      registers,
    });

    this.#dnsBlocked = new client.Counter({
      name: "clusterdns_acl_blocked_requests_total",
      help: "Counter of requests refused because the client is not one of the cluster's.",
      labelNames: ["proto"],
      registers,
    });

    this.#restRequest = registerStandardMetrics(registers, opts);
    this.showFamilies(opts.families ?? []);
    if (opts.dns) {
      for (const proto of ["udp", "tcp"]) {
        this.#dnsDuration.zero({ proto });
        this.#dnsSize.zero({ proto });
      }
    }

    const requests = this.#dnsRequests;
    const responses = this.#dnsResponses;
    const duration = this.#dnsDuration;
    const size = this.#dnsSize;
    const forward = this.#dnsForward;
    const forwardDuration = this.#dnsForwardDuration;
    const blocked = this.#dnsBlocked;
    this.dns = {
      observeRequest(labels) {
        requests.inc({ proto: labels.proto, type: labels.type });
      },
      observeResponse(labels, seconds, sizeBytes) {
        responses.inc({ proto: labels.proto, rcode: labels.rcode });
        duration.observe({ proto: labels.proto }, seconds);
        size.observe({ proto: labels.proto }, sizeBytes);
      },
      observeForward(labels, seconds) {
        forward.inc({ rcode: labels.rcode });
        forwardDuration.observe({ rcode: labels.rcode }, seconds);
      },
      observeBlocked(labels) {
        blocked.inc({ proto: labels.proto });
      },
    };
  }

  /**
   * Shows the zero series of the `ip_family` histograms for these families (upstream shows them
   * before the first sync). Called at construction and again once the backends, which decide the
   * usable families, exist.
   *
   * @param families the proxy's IP families.
   */
  showFamilies(families: readonly IPFamily[]): void {
    for (const ip_family of families) {
      for (
        const h of [
          this.#syncDuration,
          this.#syncFullDuration,
          this.#syncPartialDuration,
          this.#networkProgramming,
          this.#conntrackDuration,
        ]
      ) h.zero({ ip_family });
    }
  }

  /** Counts one API request and records its latency (`rest_client_*`). */
  observeRestRequest(request: RestRequest): void {
    this.#restRequest(request);
  }

  /**
   * Records the duration of one syncProxyRules call (success or failure), in the overall
   * histogram and in the full or partial one.
   *
   * @param family The proxier's family.
   * @param seconds Elapsed time.
   * @param opts Whether the sync was a full sync.
   */
  observeSyncDuration(family: IPFamily, seconds: number, opts: { full: boolean }): void {
    this.#syncDuration.observe({ ip_family: family }, seconds);
    (opts.full ? this.#syncFullDuration : this.#syncPartialDuration).observe(
      { ip_family: family },
      seconds,
    );
  }

  /** Sets the last successful sync time (ms since the epoch; now by default). */
  setLastSyncTimestamp(family: IPFamily, ms: number = Date.now()): void {
    this.#lastSync.set({ ip_family: family }, ms / 1000);
  }

  /** Sets the last time a sync was queued (ms since the epoch; now by default). */
  setLastQueuedTimestamp(family: IPFamily, ms: number = Date.now()): void {
    this.#lastQueued.set({ ip_family: family }, ms / 1000);
  }

  /** Records one network programming latency (now − an EndpointSlice's last-change-trigger-time). */
  observeNetworkProgrammingLatency(family: IPFamily, seconds: number): void {
    this.#networkProgramming.observe({ ip_family: family }, seconds);
  }

  /** Sets the number of services with pending endpoint changes. */
  setEndpointChangesPending(n: number): void {
    this.#endpointChangesPending.set(n);
  }

  /** Counts endpoint changes (EndpointSlice events that changed tracked state). */
  incEndpointChanges(n = 1): void {
    this.#endpointChangesTotal.inc(n);
  }

  /** Sets the number of services with pending service changes. */
  setServiceChangesPending(n: number): void {
    this.#serviceChangesPending.set(n);
  }

  /** Counts service changes (Service events that changed tracked state). */
  incServiceChanges(n = 1): void {
    this.#serviceChangesTotal.inc(n);
  }

  /** Sets how many service ports with a Local policy have endpoints but none on this node. */
  setNoLocalEndpoints(family: IPFamily, policy: TrafficPolicyKind, n: number): void {
    this.#noLocalEndpoints.set({ ip_family: family, traffic_policy: policy }, n);
  }

  /** Counts one /healthz answer by status code. */
  countHealthz(code: number): void {
    this.#healthzTotal.inc({ code: String(code) });
  }

  /** Counts one /livez answer by status code. */
  countLivez(code: number): void {
    this.#livezTotal.inc({ code: String(code) });
  }

  /** Counts one failed iptables-restore; `partial` also counts it as a partial-sync failure. */
  incRestoreFailures(family: IPFamily, opts: { partial: boolean }): void {
    this.#restoreFailures.inc({ ip_family: family });
    if (opts.partial) this.#partialRestoreFailures.inc({ ip_family: family });
  }

  /**
   * Sets the rule counts of one table after a sync.
   *
   * @param family The proxier's family.
   * @param table filter or nat.
   * @param counts `total`: rules kube-proxy owns; `last`: rules written by the last sync.
   */
  setIptablesRules(
    family: IPFamily,
    table: RuleTable,
    counts: { total: number; last: number },
  ): void {
    this.#rulesTotal.set({ ip_family: family, table }, counts.total);
    this.#rulesLast.set({ ip_family: family, table }, counts.last);
  }

  /** Records one conntrack cleanup run and the entries it deleted. */
  observeConntrackCleanup(family: IPFamily, seconds: number, deleted: number): void {
    this.#conntrackDuration.observe({ ip_family: family }, seconds);
    if (deleted > 0) this.#conntrackDeleted.inc({ ip_family: family }, deleted);
  }

  /**
   * Registers nftables mode's failure counters (upstream registers them only in that mode):
   * `kubeproxy_sync_proxy_rules_nftables_sync_failures_total` and
   * `..._nftables_cleanup_failures_total`, per `ip_family`. Calling it again changes nothing.
   */
  enableNftablesMetrics(): void {
    if (this.#nftablesFailures !== undefined) return;
    const counter = (name: string, help: string) =>
      new client.Counter({
        name,
        help: ALPHA + help,
        labelNames: ["ip_family"],
        registers: [this.#registry],
      });
    this.#nftablesFailures = {
      sync: counter(
        "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
        "Cumulative proxy nftables sync failures",
      ),
      cleanup: counter(
        "kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total",
        "Cumulative proxy nftables cleanup failures",
      ),
    };
  }

  /** Counts a failed nftables sync transaction (after {@linkcode enableNftablesMetrics}). */
  incNftablesSyncFailures(family: IPFamily): void {
    this.#nftablesFailures?.sync.inc({ ip_family: family });
  }

  /** Counts a failed stale-chain deletion (after {@linkcode enableNftablesMetrics}). */
  incNftablesCleanupFailures(family: IPFamily): void {
    this.#nftablesFailures?.cleanup.inc({ ip_family: family });
  }

  /**
   * The Prometheus text exposition of every metric, with labels in Go's order (sorted by name,
   * `le` last on histogram buckets) so the output reads as upstream's does.
   */
  async render(): Promise<string> {
    const text = await this.#registry.metrics();
    // prom-client writes `le` first; client_golang writes it last.
    return text.replace(/^(\w+_bucket)\{le="([^"]*)",([^\n]*)\}/gm, '$1{$3,le="$2"}');
  }

  /** The content type of {@linkcode ProxyMetrics.render}'s output. */
  get contentType(): string {
    return this.#registry.contentType;
  }
}

/** Options of {@linkcode MetricsServer}. */
export interface MetricsServerOptions {
  /** `metricsBindAddress` (`IP:port`; port 0 for an ephemeral port in tests). */
  bindAddress: string;
  /** The metrics to serve. */
  metrics: ProxyMetrics;
  /** The effective configuration, served at /configz (a plain object from main.ts). */
  config?: unknown;
  /** The proxy mode served at /proxyMode; `iptables` by default. */
  proxyMode?: string;
}

const TEXT_HEADERS = {
  "Content-Type": "text/plain; charset=utf-8",
  "X-Content-Type-Options": "nosniff",
};

/**
 * The HTTP server on `metricsBindAddress`: `/metrics`, `/healthz`, `/proxyMode`, `/configz`.
 *
 * @example
 * ```ts
 * const server = new MetricsServer({ bindAddress: "127.0.0.1:10249", metrics, config });
 * await server.start();
 * ```
 */
export class MetricsServer {
  #opts: MetricsServerOptions;
  #server: HttpListeners | undefined;
  #port = 0;

  /** @param opts Address, metrics and configuration. */
  constructor(opts: MetricsServerOptions) {
    this.#opts = opts;
  }

  /** The port listened on (after {@linkcode MetricsServer.start}). */
  get port(): number {
    return this.#port;
  }

  /**
   * Starts listening.
   *
   * @throws {Error} `starting metrics server failed: …` when the address cannot be bound.
   */
  start(): Promise<void> {
    if (this.#server) return Promise.resolve();
    try {
      this.#server = serveHttp({
        bindAddress: this.#opts.bindAddress,
        handler: (req) => this.#handle(req),
        onError: (err) => {
          log.error("Metrics server request failed", err);
          return new Response("internal error", { status: 500 });
        },
      });
      this.#port = this.#server.port;
      log.info("Serving metrics", { address: this.#opts.bindAddress, port: this.#port });
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(
        new Error(`starting metrics server failed: ${err instanceof Error ? err.message : err}`, {
          cause: err,
        }),
      );
    }
  }

  /** Stops listening and waits for open requests to finish. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await server.shutdown();
  }

  async #handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    switch (path) {
      case "/metrics":
        return new Response(await this.#opts.metrics.render(), {
          headers: { "Content-Type": this.#opts.metrics.contentType },
        });
      case "/healthz": {
        const verbose = new URL(req.url).searchParams.has("verbose");
        const body = verbose ? "[+]ping ok\nhealthz check passed\n" : "ok";
        return new Response(body, { headers: TEXT_HEADERS });
      }
      case "/proxyMode":
        return new Response(this.#opts.proxyMode ?? "iptables", { headers: TEXT_HEADERS });
      case "/configz":
        return new Response(
          JSON.stringify({ "kubeproxy.config.k8s.io": this.#opts.config ?? {} }),
          {
            headers: {
              "Content-Type": "application/json",
              "X-Content-Type-Options": "nosniff",
            },
          },
        );
      default:
        return new Response("404 page not found\n", { status: 404, headers: TEXT_HEADERS });
    }
  }
}
