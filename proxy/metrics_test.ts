import { assert, assertEquals, assertStringIncludes } from "../tests/assert.ts";
import { ApiClient } from "../cache/client.ts";
import { configureLogging } from "../config/log.ts";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import {
  DNS_SIZE_BUCKETS,
  DNS_TIME_BUCKETS,
  MetricsServer,
  NETWORK_PROGRAMMING_BUCKETS,
  ProxyMetrics,
  REST_CLIENT_DURATION_BUCKETS,
  SYNC_DURATION_BUCKETS,
} from "./metrics.ts";

configureLogging({ write: () => {} });

interface ParsedMetric {
  labels?: Record<string, string>;
  value?: string;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  metrics: ParsedMetric[];
}

/**
 * Label names of a histogram, read from its `_count` line: parse-prometheus-text-format 1.1.1
 * keeps only the buckets of a histogram (no labels, sum or count).
 */
function histogramLabels(text: string, name: string): string[] {
  const line = text.split("\n").find((l) => l.startsWith(`${name}_count`)) ?? "";
  const inner = line.match(/\{(.*)\}/)?.[1] ?? "";
  return [...inner.matchAll(/(\w+)="/g)].map((m) => m[1]).sort();
}

/** The value of the first `_count` line of a histogram. */
function histogramCount(text: string, name: string): string | undefined {
  return text.split("\n").find((l) => l.startsWith(`${name}_count`))?.split(" ")[1];
}

function parse(text: string): Map<string, ParsedFamily> {
  const families = parsePrometheusTextFormat(text) as ParsedFamily[];
  return new Map(families.map((f) => [f.name, f]));
}

/** Asserts each expected family's type and label names; returns the parsed families. */
function assertFamilies(
  text: string,
  expected: Record<string, [string, string[]]>,
): Map<string, ParsedFamily> {
  const families = parse(text);
  for (const [name, [type, labels]] of Object.entries(expected)) {
    const f = families.get(name);
    assert(f !== undefined, `missing ${name}`);
    assertEquals(f.type, type, name);
    const seen = type === "HISTOGRAM"
      ? histogramLabels(text, name)
      : Object.keys(f.metrics[0]?.labels ?? {}).sort();
    assertEquals(seen, labels, `labels of ${name}`);
  }
  return families;
}

/** Upstream's iptables-mode metric set: name → [type, label names]. */
const UPSTREAM: Record<string, [string, string[]]> = {
  kubeproxy_sync_proxy_rules_duration_seconds: ["HISTOGRAM", ["ip_family"]],
  kubeproxy_sync_full_proxy_rules_duration_seconds: ["HISTOGRAM", ["ip_family"]],
  kubeproxy_sync_partial_proxy_rules_duration_seconds: ["HISTOGRAM", ["ip_family"]],
  kubeproxy_sync_proxy_rules_last_timestamp_seconds: ["GAUGE", ["ip_family"]],
  kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds: ["GAUGE", ["ip_family"]],
  kubeproxy_network_programming_duration_seconds: ["HISTOGRAM", ["ip_family"]],
  kubeproxy_sync_proxy_rules_endpoint_changes_pending: ["GAUGE", []],
  kubeproxy_sync_proxy_rules_endpoint_changes_total: ["COUNTER", []],
  kubeproxy_sync_proxy_rules_service_changes_pending: ["GAUGE", []],
  kubeproxy_sync_proxy_rules_service_changes_total: ["COUNTER", []],
  kubeproxy_sync_proxy_rules_no_local_endpoints_total: ["GAUGE", ["ip_family", "traffic_policy"]],
  kubeproxy_proxy_healthz_total: ["COUNTER", ["code"]],
  kubeproxy_proxy_livez_total: ["COUNTER", ["code"]],
  kubeproxy_sync_proxy_rules_iptables_restore_failures_total: ["COUNTER", ["ip_family"]],
  kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total: ["COUNTER", ["ip_family"]],
  kubeproxy_sync_proxy_rules_iptables_total: ["GAUGE", ["ip_family", "table"]],
  kubeproxy_sync_proxy_rules_iptables_last: ["GAUGE", ["ip_family", "table"]],
  kubeproxy_conntrack_reconciler_sync_duration_seconds: ["HISTOGRAM", ["ip_family"]],
  kubeproxy_conntrack_reconciler_deleted_entries_total: ["COUNTER", ["ip_family"]],
  clusterdns_requests_total: ["COUNTER", ["proto", "type"]],
  clusterdns_responses_total: ["COUNTER", ["proto", "rcode"]],
  clusterdns_request_duration_seconds: ["HISTOGRAM", ["proto"]],
  clusterdns_response_size_bytes: ["HISTOGRAM", ["proto"]],
  clusterdns_forward_requests_total: ["COUNTER", ["rcode"]],
  clusterdns_forward_request_duration_seconds: ["HISTOGRAM", ["rcode"]],
};

function recordEverything(m: ProxyMetrics): void {
  m.observeSyncDuration("IPv4", 0.003, { full: true });
  m.observeSyncDuration("IPv4", 0.0015, { full: false });
  m.setLastSyncTimestamp("IPv4", 1_759_226_402_100);
  m.setLastQueuedTimestamp("IPv4", 1_759_226_401_000);
  m.observeNetworkProgrammingLatency("IPv4", 1.5);
  m.setEndpointChangesPending(2);
  m.incEndpointChanges(3);
  m.setServiceChangesPending(1);
  m.incServiceChanges();
  m.setNoLocalEndpoints("IPv4", "internal", 1);
  m.setNoLocalEndpoints("IPv4", "external", 0);
  m.countHealthz(200);
  m.countHealthz(503);
  m.countLivez(200);
  m.incRestoreFailures("IPv4", { partial: true });
  m.setIptablesRules("IPv4", "filter", { total: 4, last: 4 });
  m.setIptablesRules("IPv4", "nat", { total: 15, last: 7 });
  m.observeConntrackCleanup("IPv4", 0.01, 2);
  m.dns.observeRequest({ proto: "udp", type: "A" });
  m.dns.observeResponse({ proto: "udp", rcode: "NOERROR" }, 0.0004, 120);
  m.dns.observeForward({ rcode: "NXDOMAIN" }, 0.02);
}

Deno.test("ProxyMetrics.render() exposes upstream's names, types and labels", async () => {
  const m = new ProxyMetrics();
  recordEverything(m);
  const text = await m.render();
  const families = assertFamilies(text, UPSTREAM);
  for (const name of Object.keys(UPSTREAM).filter((n) => n.startsWith("kubeproxy_"))) {
    assert(families.get(name)!.help.startsWith("[ALPHA] "), `help of ${name}`);
  }
});

Deno.test("ProxyMetrics.render() reports the recorded values", async () => {
  const m = new ProxyMetrics();
  recordEverything(m);
  const text = await m.render();
  const families = parse(text);
  const value = (name: string, labels: Record<string, string> = {}) =>
    families.get(name)?.metrics.find((x) =>
      Object.entries(labels).every(([k, v]) => x.labels?.[k] === v)
    );
  assertEquals(value("kubeproxy_sync_proxy_rules_iptables_total", { table: "nat" })?.value, "15");
  assertEquals(value("kubeproxy_sync_proxy_rules_iptables_last", { table: "nat" })?.value, "7");
  assertEquals(
    value("kubeproxy_sync_proxy_rules_last_timestamp_seconds", { ip_family: "IPv4" })?.value,
    "1759226402.1",
  );
  assertEquals(value("kubeproxy_proxy_healthz_total", { code: "503" })?.value, "1");
  assertEquals(
    value("kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total")?.value,
    "1",
  );
  assertEquals(histogramCount(text, "kubeproxy_sync_proxy_rules_duration_seconds"), "2");
  assertEquals(histogramCount(text, "kubeproxy_sync_full_proxy_rules_duration_seconds"), "1");
  assertEquals(histogramCount(text, "kubeproxy_sync_partial_proxy_rules_duration_seconds"), "1");
  assertEquals(value("kubeproxy_sync_proxy_rules_endpoint_changes_total")?.value, "3");
  assertEquals(value("kubeproxy_conntrack_reconciler_deleted_entries_total")?.value, "2");
  assertEquals(value("clusterdns_responses_total", { rcode: "NOERROR" })?.value, "1");
  assertEquals(value("clusterdns_response_size_bytes")?.buckets?.["200"], "1");
  assertEquals(value("clusterdns_response_size_bytes")?.buckets?.["100"], "0");
});

Deno.test("ProxyMetrics.render() orders labels as client_golang does", async () => {
  const m = new ProxyMetrics();
  m.setIptablesRules("IPv4", "nat", { total: 3, last: 2 });
  m.setNoLocalEndpoints("IPv6", "external", 1);
  m.observeSyncDuration("IPv4", 0.003, { full: false });
  const lines = (await m.render()).split("\n");
  assert(
    lines.includes('kubeproxy_sync_proxy_rules_iptables_total{ip_family="IPv4",table="nat"} 3'),
  );
  assert(
    lines.includes(
      'kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family="IPv6",traffic_policy="external"} 1',
    ),
  );
  assert(
    lines.includes(
      'kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="0.004"} 1',
    ),
    "le comes last",
  );
});

Deno.test("ProxyMetrics histograms use upstream's and CoreDNS's buckets", async () => {
  assertEquals(SYNC_DURATION_BUCKETS.length, 15);
  assertEquals(SYNC_DURATION_BUCKETS[0], 0.001);
  assertEquals(SYNC_DURATION_BUCKETS[14], 16.384);
  assertEquals(NETWORK_PROGRAMMING_BUCKETS.slice(0, 4), [0.25, 0.5, 1, 2]);
  assertEquals(NETWORK_PROGRAMMING_BUCKETS.slice(60, 63), [59, 60, 65]);
  assertEquals(NETWORK_PROGRAMMING_BUCKETS.slice(-3), [240, 270, 300]);
  assertEquals(NETWORK_PROGRAMMING_BUCKETS.length, 80);
  assertEquals(DNS_TIME_BUCKETS[0], 0.00025);
  assertEquals(DNS_TIME_BUCKETS[15], 8.192);
  assertEquals(DNS_SIZE_BUCKETS[5], 511);
  const m = new ProxyMetrics();
  m.observeSyncDuration("IPv6", 0.002, { full: true });
  const f = parse(await m.render()).get("kubeproxy_sync_proxy_rules_duration_seconds");
  const les = Object.keys(f?.metrics[0].buckets ?? {});
  assertEquals(les.slice(0, 3), ["0.001", "0.002", "0.004"]);
  assertEquals(les.length, 16, "15 buckets and +Inf");
});

Deno.test("MetricsServer serves /metrics, /healthz, /proxyMode and /configz over HTTP", async () => {
  const metrics = new ProxyMetrics();
  metrics.setIptablesRules("IPv4", "filter", { total: 4, last: 4 });
  const server = new MetricsServer({
    bindAddress: "127.0.0.1:0",
    metrics,
    config: { mode: "iptables", metricsBindAddress: "127.0.0.1:10249" },
  });
  await server.start();
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const res = await fetch(`${base}/metrics`);
    assertEquals(res.status, 200);
    assert(res.headers.get("content-type")?.startsWith("text/plain"));
    const families = parse(await res.text());
    assertEquals(
      families.get("kubeproxy_sync_proxy_rules_iptables_total")?.metrics[0].value,
      "4",
    );

    const healthz = await fetch(`${base}/healthz`);
    assertEquals([healthz.status, await healthz.text()], [200, "ok"]);
    assertEquals(healthz.headers.get("x-content-type-options"), "nosniff");

    const mode = await fetch(`${base}/proxyMode`);
    assertEquals(await mode.text(), "iptables");

    const configz = await fetch(`${base}/configz`);
    assertEquals(configz.headers.get("content-type"), "application/json");
    assertEquals(await configz.json(), {
      "kubeproxy.config.k8s.io": { mode: "iptables", metricsBindAddress: "127.0.0.1:10249" },
    });

    const missing = await fetch(`${base}/nope`);
    assertEquals([missing.status, await missing.text()], [404, "404 page not found\n"]);
  } finally {
    await server.stop();
  }
});

Deno.test("MetricsServer.start() fails with upstream's prefix when the port is taken", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const server = new MetricsServer({
      bindAddress: `127.0.0.1:${(taken.addr as Deno.NetAddr).port}`,
      metrics: new ProxyMetrics(),
    });
    let message = "";
    try {
      await server.start();
    } catch (err) {
      message = (err as Error).message;
    }
    assert(message.startsWith("starting metrics server failed: "), message);
  } finally {
    taken.close();
  }
});

/** The standard metrics of every Kubernetes component: name → [type, label names]. */
const STANDARD: Record<string, [string, string[]]> = {
  process_cpu_seconds_total: ["COUNTER", []],
  process_resident_memory_bytes: ["GAUGE", []],
  process_virtual_memory_bytes: ["GAUGE", []],
  process_start_time_seconds: ["GAUGE", []],
  process_open_fds: ["GAUGE", []],
  process_max_fds: ["GAUGE", []],
  rest_client_requests_total: ["COUNTER", ["code", "host", "method"]],
  rest_client_request_duration_seconds: ["HISTOGRAM", ["host", "verb"]],
  // component-base's labels, sorted as client_golang writes them.
  kubernetes_build_info: [
    "GAUGE",
    "buildDate compiler gitCommit gitTreeState gitVersion goVersion major minor platform".split(
      " ",
    ),
  ],
  kubernetes_feature_enabled: ["GAUGE", ["name", "stage"]],
};

Deno.test("/metrics serves the standard metrics after one sync, API requests counted through the client hook", async () => {
  // A loopback API server answering one list, reached through the real ApiClient.
  const api = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ kind: "ServiceList", metadata: { resourceVersion: "1" }, items: [] }),
  );
  const host = `127.0.0.1:${api.addr.port}`;
  const metrics = new ProxyMetrics({
    families: ["IPv4"],
    featureGates: { ContextualLogging: false },
    apiServerHost: host,
  });
  const client = new ApiClient({
    server: `http://${host}`,
    source: "test",
    caCert: undefined,
    clientCert: undefined,
    clientKey: undefined,
    headers: () => Promise.resolve({}),
    onRequest: (r) => metrics.observeRestRequest(r),
  });
  const server = new MetricsServer({ bindAddress: "127.0.0.1:0", metrics });
  await server.start();
  try {
    await client.list("/api/v1/services", {}, () => {}, AbortSignal.timeout(10_000));
    metrics.observeSyncDuration("IPv4", 0.01, { full: true });
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    const families = assertFamilies(text, STANDARD);
    const one = (name: string) => families.get(name)!.metrics[0];
    assertEquals(one("rest_client_requests_total").labels, { code: "200", host, method: "GET" });
    assertEquals(one("rest_client_requests_total").value, "1");
    // (Sorted: a parsed object lists integer-like keys first.)
    assertEquals(
      Object.keys(one("rest_client_request_duration_seconds").buckets ?? {}).map((k) =>
        k === "+Inf" ? Infinity : Number(k)
      ).sort((
        a,
        b,
      ) => a - b),
      [...REST_CLIENT_DURATION_BUCKETS, Infinity],
    );
    assert(Number(one("process_resident_memory_bytes").value) > 1 << 20);
    assert(Math.abs(Number(one("process_start_time_seconds").value) - Date.now() / 1000) < 3600);
    assert(Number(one("process_open_fds").value) > 0);
    assertEquals(one("kubernetes_build_info").value, "1");
    const gate = families.get("kubernetes_feature_enabled")!.metrics.find((m) =>
      m.labels?.name === "ContextualLogging"
    );
    assertEquals([gate?.labels?.stage, gate?.value], ["BETA", "0"]);
  } finally {
    client.close();
    await server.stop();
    await api.shutdown();
  }
});

Deno.test("labelled histograms show zero series for the label values known at start", async () => {
  const metrics = new ProxyMetrics({ families: ["IPv4", "IPv6"], apiServerHost: "h:1", dns: true });
  const text = await metrics.render();
  for (
    const name of [
      "kubeproxy_sync_proxy_rules_duration_seconds",
      "kubeproxy_sync_full_proxy_rules_duration_seconds",
      "kubeproxy_sync_partial_proxy_rules_duration_seconds",
      "kubeproxy_network_programming_duration_seconds",
      "kubeproxy_conntrack_reconciler_sync_duration_seconds",
    ]
  ) {
    for (const family of ["IPv4", "IPv6"]) {
      assert(text.includes(`${name}_count{ip_family="${family}"} 0`), `${name} ${family}`);
      assert(text.includes(`${name}_bucket{ip_family="${family}",le="+Inf"} 0`), name);
    }
  }
  assert(text.includes('rest_client_request_duration_seconds_count{host="h:1",verb="GET"} 0'));
  for (const proto of ["udp", "tcp"]) {
    assert(text.includes(`clusterdns_request_duration_seconds_count{proto="${proto}"} 0`));
    assert(text.includes(`clusterdns_response_size_bytes_count{proto="${proto}"} 0`));
  }
  // Without known values there is nothing to show (as a labelled histogram upstream).
  assert(!(await new ProxyMetrics().render()).includes("_count{"));
});

Deno.test("ProxyMetrics nftables failure counters exist only once enabled", async () => {
  const m = new ProxyMetrics();
  m.incNftablesSyncFailures("IPv4");
  assert(!(await m.render()).includes("nftables"));
  m.enableNftablesMetrics();
  m.enableNftablesMetrics();
  m.incNftablesSyncFailures("IPv4");
  m.incNftablesSyncFailures("IPv4");
  m.incNftablesCleanupFailures("IPv6");
  const text = await m.render();
  assertStringIncludes(
    text,
    'kubeproxy_sync_proxy_rules_nftables_sync_failures_total{ip_family="IPv4"} 2',
  );
  assertStringIncludes(
    text,
    'kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total{ip_family="IPv6"} 1',
  );
});
