import { assert, assertEquals, assertRejects, assertStringIncludes } from "../tests/assert.ts";
import type { IPFamily, Protocol } from "../cache/objects.ts";
import { configureLogging } from "../config/log.ts";
import { FakeIptables } from "./iptables/fake.ts";
import { IptablesRestoreError } from "./iptables/iptables.ts";
import { tracePacket } from "./iptables/tracer.ts";
import { slice, svc, tcpPort } from "./iptables/test_helpers.ts";
import { FakeClock } from "../config/clock.ts";
import { NoProxierMetrics } from "./test_fixtures.ts";
import { createIptablesBackends, type IptablesBackendOptions } from "./iptables/backend.ts";
import { makeEndpoint, makeEndpointSlice, makeNode, makeService } from "../tests/fixtures.ts";
import {
  type ConntrackCleaner,
  Proxier,
  type ProxierHealth,
  type ProxierMetrics,
  type ProxierOptions,
  type ServiceHealthSync,
  type SyncRunner,
} from "./proxier.ts";
import type { Conntrack } from "./conntrack.ts";
import type { ProxyMetrics } from "./metrics.ts";
import type { ProxierHealthServer } from "./healthz.ts";
import type { ServiceHealthServer } from "./healthcheck.ts";

// The real classes satisfy the interfaces the proxier declares.
type _Checks = [
  Conntrack extends ConntrackCleaner ? true : never,
  ProxyMetrics extends ProxierMetrics ? true : never,
  ProxierHealthServer extends ProxierHealth ? true : never,
  ServiceHealthServer extends ServiceHealthSync ? true : never,
];
const _checks: _Checks = [true, true, true, true];

class FakeRunner implements SyncRunner {
  runs = 0;
  started = false;
  run(): void {
    this.runs++;
  }
  start(): void {
    this.started = true;
  }
  stop(): void {}
}

class RecordingConntrack implements ConntrackCleaner {
  calls: string[] = [];
  clearEntriesForIP(ip: string, protocol: Protocol): Promise<number> {
    this.calls.push(`ip ${ip} ${protocol}`);
    return Promise.resolve(1);
  }
  clearEntriesForPort(port: number, family: IPFamily, protocol: Protocol): Promise<number> {
    this.calls.push(`port ${port} ${family} ${protocol}`);
    return Promise.resolve(0);
  }
  clearEntriesForNAT(origin: string, dest: string, protocol: Protocol): Promise<number> {
    this.calls.push(`nat ${origin} ${dest} ${protocol}`);
    return Promise.resolve(1);
  }
  clearEntriesForPortNAT(dest: string, port: number, protocol: Protocol): Promise<number> {
    this.calls.push(`portnat ${dest} ${port} ${protocol}`);
    return Promise.resolve(0);
  }
}

class RecordingHealth implements ProxierHealth, ServiceHealthSync {
  events: string[] = [];
  services = new Map<string, number>();
  endpoints = new Map<string, number>();
  queuedUpdate(family: IPFamily): void {
    this.events.push(`queued ${family}`);
  }
  updated(family: IPFamily): void {
    this.events.push(`updated ${family}`);
  }
  syncServices(services: Map<string, number>): Promise<void> {
    this.services = services;
    return Promise.resolve();
  }
  syncEndpoints(endpoints: Map<string, number>): void {
    this.endpoints = endpoints;
  }
}

class RecordingMetrics extends NoProxierMetrics {
  calls: string[] = [];
  rules = new Map<string, { total: number; last: number }>();
  override observeSyncDuration(family: IPFamily, _s: number, opts: { full: boolean }): void {
    this.calls.push(`sync ${family} full=${opts.full}`);
  }
  incRestoreFailures(family: IPFamily, opts: { partial: boolean }): void {
    this.calls.push(`restoreFailure ${family} partial=${opts.partial}`);
  }
  setIptablesRules(
    family: IPFamily,
    table: "filter" | "nat",
    counts: { total: number; last: number },
  ): void {
    this.rules.set(`${family} ${table}`, counts);
  }
  override observeConntrackCleanup(family: IPFamily, _s: number, deleted: number): void {
    this.calls.push(`conntrack ${family} ${deleted}`);
  }
}

/** The proxier's and its iptables backends' settings, and the families to program. */
type TestOptions = ProxierOptions & IptablesBackendOptions & { families: IPFamily[] };

const OPTIONS: TestOptions = {
  nodeName: "test-node",
  families: ["IPv4"],
  bindAddress: "192.168.0.2",
  syncPeriodMs: 30_000,
  minSyncPeriodMs: 1_000,
  localDetector: { mode: "ClusterCIDR", clusterCIDRs: ["10.0.0.0/8", "fd00:10::/64"] },
};

/** The iptables backends of `opts.families` on these fakes. */
function backendsOf(
  ipt: Partial<Record<IPFamily, FakeIptables>>,
  opts: TestOptions,
  deps: { clock?: FakeClock; metrics?: RecordingMetrics } = {},
) {
  const used = Object.fromEntries(opts.families.map((f) => [f, ipt[f]]));
  return createIptablesBackends(used, opts, deps);
}

function setup(change: Partial<TestOptions> = {}) {
  const opts = { ...OPTIONS, ...change };
  const ipt = { IPv4: new FakeIptables("IPv4"), IPv6: new FakeIptables("IPv6") };
  const runner = new FakeRunner();
  const conntrack = new RecordingConntrack();
  const health = new RecordingHealth();
  const metrics = new RecordingMetrics();
  const clock = new FakeClock(1_000_000);
  const backends = backendsOf(ipt, opts, { clock, metrics });
  const proxier = new Proxier(opts, {
    backends,
    clock,
    createRunner: () => runner,
    conntrack,
    health,
    serviceHealthServer: health,
    metrics,
    localAddresses: () => Promise.resolve(["127.0.0.1", "192.168.0.2", "192.168.1.2"]),
  });
  return { proxier, ipt, backends, runner, conntrack, health, metrics, clock };
}

function pod(fake: FakeIptables, destIP: string, destPort = 80, protocol = "tcp") {
  return tracePacket(fake, { sourceIP: "10.0.0.2", destIP, destPort, protocol }).output;
}

Deno.test("Proxier does not request a sync until Services and EndpointSlices are synced", async () => {
  const { proxier, ipt, runner } = setup();
  proxier.start();
  assert(runner.started);
  proxier.onServiceAdd(svc("ns1", "svc1", "172.30.0.41"));
  proxier.onEndpointSliceAdd(slice("ns1", "svc1", ["10.180.0.1"]));
  assertEquals(runner.runs, 0);
  await proxier.syncProxyRules();
  assertEquals(ipt.IPv4.restores.length, 0);
  proxier.onServicesSynced();
  assertEquals(runner.runs, 0);
  proxier.onEndpointSlicesSynced();
  assertEquals(runner.runs, 1);
  await proxier.syncProxyRules();
  assertEquals(ipt.IPv4.restores.length, 1);
  assert(ipt.IPv4.restores[0].noflush);
  assertEquals(pod(ipt.IPv4, "172.30.0.41"), "10.180.0.1:80");
  // An event that changes nothing does not request a sync.
  const s = svc("ns1", "svc1", "172.30.0.41");
  proxier.onServiceUpdate(s, { ...s, resourceVersion: "9" });
  assertEquals(runner.runs, 1);
});

Deno.test("Proxier full sync ensures the jumps from the built-in chains", async () => {
  const { proxier, ipt } = setup();
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  const f = ipt.IPv4;
  assertEquals(f.rules("nat", "PREROUTING"), [
    `-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
  ]);
  assertEquals(f.rules("nat", "POSTROUTING"), [
    `-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`,
  ]);
  const input = f.rules("filter", "INPUT")!;
  assert(input.includes("-A INPUT -j KUBE-FIREWALL"), "localhost NodePorts need KUBE-FIREWALL");
  assert(input.some((r) => r.endsWith("-j KUBE-EXTERNAL-SERVICES")));
  // Syncing again does not duplicate them.
  await proxier.syncProxyRules();
  assertEquals(f.rules("nat", "PREROUTING")!.length, 1);
});

Deno.test("Proxier partial sync rewrites only the chains of changed services", async () => {
  const { proxier, ipt, metrics } = setup();
  proxier.onServiceAdd(svc("ns1", "svc1", "172.30.0.41"));
  proxier.onServiceAdd(svc("ns2", "svc2", "172.30.0.42"));
  const s1 = slice("ns1", "svc1", ["10.180.0.1"]);
  proxier.onEndpointSliceAdd(s1);
  proxier.onEndpointSliceAdd(slice("ns2", "svc2", ["10.180.0.2"]));
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  assertEquals(metrics.calls, ["sync IPv4 full=true"]);
  const s1b = slice("ns1", "svc1", ["10.180.0.1", "10.180.0.9"]);
  proxier.onEndpointSliceUpdate(s1, s1b);
  await proxier.syncProxyRules();
  assertEquals(metrics.calls[1], "sync IPv4 full=false");
  const text = ipt.IPv4.restores[1].text;
  assertStringIncludes(text, ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]");
  assert(!text.includes(":KUBE-SVC-GNZBNJ2PO5MGZ6GT"), "svc2's chains are not rewritten");
  assertEquals(pod(ipt.IPv4, "172.30.0.41"), "10.180.0.1:80, 10.180.0.9:80");
  assertEquals(pod(ipt.IPv4, "172.30.0.42"), "10.180.0.2:80");
  const nat = metrics.rules.get("IPv4 nat")!;
  assert(nat.total > nat.last, "unchanged services' rules count in the total");
});

Deno.test("Proxier deletes the chains of deleted services", async () => {
  const { proxier, ipt } = setup();
  const s2 = svc("ns2", "svc2", "172.30.0.42");
  const sl2 = slice("ns2", "svc2", ["10.180.0.2"]);
  proxier.onServiceAdd(s2);
  proxier.onEndpointSliceAdd(sl2);
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  assert(ipt.IPv4.chains("nat").includes("KUBE-SVC-GNZBNJ2PO5MGZ6GT"));
  proxier.onServiceDelete(s2);
  proxier.onEndpointSliceDelete(sl2);
  await proxier.syncProxyRules();
  assertEquals(
    ipt.IPv4.chains("nat").filter((c) => c.startsWith("KUBE-S") && c !== "KUBE-SERVICES"),
    [],
  );
  assertStringIncludes(ipt.IPv4.restores[1].text, "-X KUBE-SVC-GNZBNJ2PO5MGZ6GT\n");
});

Deno.test("Proxier recovers from a failed restore with a full sync", async () => {
  const { proxier, ipt, metrics, health } = setup();
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  proxier.onServiceAdd(svc("ns1", "svc1", "172.30.0.41"));
  proxier.onEndpointSliceAdd(slice("ns1", "svc1", ["10.180.0.1"]));
  const input = "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j BOGUS\nCOMMIT\n";
  ipt.IPv4.failNextRestore(
    new IptablesRestoreError({ code: 2, stdout: "", stderr: "Error occurred at line: 3" }, input),
  );
  health.events = [];
  const lines: string[] = [];
  configureLogging({ write: (line) => lines.push(line) });
  try {
    await assertRejects(() => proxier.syncProxyRules(), IptablesRestoreError);
  } finally {
    configureLogging({ write: (line) => console.error(line) });
  }
  const logged = lines.join("\n");
  assertStringIncludes(logged, "Failed to execute iptables-restore");
  assertStringIncludes(logged, "-A KUBE-SERVICES -j BOGUS", "the failing line is logged");
  assertEquals(metrics.calls.slice(-2), [
    "restoreFailure IPv4 partial=true",
    "sync IPv4 full=false",
  ]);
  assert(!health.events.includes("updated IPv4"), "a failed sync does not refresh health");
  // Nothing is pending in the trackers any more, yet the retry (a full sync) writes svc1.
  await proxier.syncProxyRules();
  assertEquals(metrics.calls.at(-1), "sync IPv4 full=true");
  assertEquals(pod(ipt.IPv4, "172.30.0.41"), "10.180.0.1:80");
  assertEquals(health.events.at(-1), "updated IPv4");
});

Deno.test("Proxier does a full sync once the full sync period has passed", async () => {
  const { proxier, metrics, clock } = setup({ fullSyncPeriodMs: 60_000 });
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  await proxier.syncProxyRules();
  clock.tick(60_000);
  await proxier.syncProxyRules();
  assertEquals(metrics.calls, [
    "sync IPv4 full=true",
    "sync IPv4 full=false",
    "sync IPv4 full=true",
  ]);
});

Deno.test("Proxier queues health updates on changes and marks them done after a sync", async () => {
  const { proxier, health } = setup();
  proxier.start();
  assertEquals(health.events, ["updated IPv4"]);
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  assertEquals(health.events.at(-1), "queued IPv4");
  await proxier.syncProxyRules();
  assertEquals(health.events.at(-1), "updated IPv4");
});

Deno.test("Proxier clears conntrack entries of UDP services whose endpoints changed", async () => {
  const { proxier, conntrack } = setup();
  const dns = makeService("kube-system", "dns", (s) => {
    s.type = "NodePort";
    s.clusterIPs = ["172.30.0.10"];
    s.ports = [{ name: "dns", protocol: "UDP", port: 53, targetPort: 53, nodePort: 3053 }];
  });
  const mk = (ips: string[]) =>
    makeEndpointSlice("kube-system", "dns", 1, (s) => {
      s.ports = [{ name: "dns", protocol: "UDP", port: 53 }];
      s.endpoints = ips.map((ip) => makeEndpoint(ip));
    });
  proxier.onServiceAdd(dns);
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  assertEquals(conntrack.calls, []);
  const a = mk(["10.180.0.1", "10.180.0.2"]);
  proxier.onEndpointSliceAdd(a);
  await proxier.syncProxyRules();
  // The service gained its first endpoints: flows cached against the REJECT go.
  assertEquals(conntrack.calls.sort(), ["ip 172.30.0.10 UDP", "port 3053 IPv4 UDP"]);
  conntrack.calls = [];
  proxier.onEndpointSliceUpdate(a, mk(["10.180.0.2"]));
  await proxier.syncProxyRules();
  assertEquals(conntrack.calls.sort(), [
    "nat 172.30.0.10 10.180.0.1 UDP",
    "portnat 10.180.0.1 3053 UDP",
  ]);
  conntrack.calls = [];
  proxier.onServiceDelete(dns);
  await proxier.syncProxyRules();
  assertEquals(conntrack.calls, ["ip 172.30.0.10 UDP"]);
});

Deno.test("Proxier syncs health-check node ports and local endpoint counts", async () => {
  const { proxier, health } = setup();
  proxier.onServiceAdd(svc("ns2", "svc2", "172.30.0.42", (s) => {
    s.type = "LoadBalancer";
    s.ports = [tcpPort(80, 3001)];
    s.externalTrafficPolicy = "Local";
    s.healthCheckNodePort = 30000;
  }));
  proxier.onEndpointSliceAdd(makeEndpointSlice("ns2", "svc2", 1, (s) => {
    s.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
    s.endpoints = [
      makeEndpoint("10.180.0.2", (e) => {
        e.nodeName = "test-node";
      }),
      makeEndpoint("10.180.0.3"),
    ];
  }));
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  assertEquals([...health.services], [["ns2/svc2", 30000]]);
  assertEquals([...health.endpoints], [["ns2/svc2", 1]]);
});

Deno.test("Proxier programs each family with its own addresses", async () => {
  const { proxier, ipt } = setup({ families: ["IPv4", "IPv6"], bindAddress: "" });
  proxier.onServiceAdd(makeService("ns1", "svc1", (s) => {
    s.clusterIPs = ["172.30.0.41", "fd00:30::41"];
    s.ipFamilies = ["IPv4", "IPv6"];
    s.ports = [tcpPort(80)];
  }));
  proxier.onEndpointSliceAdd(slice("ns1", "svc1", ["10.180.0.1"]));
  proxier.onEndpointSliceAdd(makeEndpointSlice("ns1", "svc1", 2, (s) => {
    s.addressType = "IPv6";
    s.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
    s.endpoints = [makeEndpoint("fd00:180::1")];
  }));
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  assertEquals(pod(ipt.IPv4, "172.30.0.41"), "10.180.0.1:80");
  const v6 = tracePacket(ipt.IPv6, { sourceIP: "fd00:10::2", destIP: "fd00:30::41", destPort: 80 });
  assertEquals(v6, { ...v6, output: "[fd00:180::1]:80", masq: false });
  assert(!ipt.IPv6.restores[0].text.includes("172.30.0.41"));
  assert(!ipt.IPv6.restores[0].text.includes("KUBE-FIREWALL"));
});

Deno.test("Proxier uses the Node's pod CIDRs with detectLocalMode NodeCIDR", async () => {
  const { proxier, ipt, metrics } = setup({ localDetector: { mode: "NodeCIDR" } });
  proxier.onServiceAdd(svc("ns1", "svc1", "172.30.0.41"));
  proxier.onEndpointSliceAdd(slice("ns1", "svc1", ["10.180.0.1"]));
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  assert(!ipt.IPv4.restores[0].text.includes("--dport 80 ! -s"), "no pod CIDR yet: no-op detector");
  proxier.onNodeAdd({ ...makeNode("test-node"), podCIDRs: ["10.0.1.0/24"] });
  await proxier.syncProxyRules();
  assertEquals(metrics.calls.at(-1), "sync IPv4 full=true");
  assertStringIncludes(ipt.IPv4.restores[1].text, "! -s 10.0.1.0/24 -j KUBE-MARK-MASQ");
  proxier.onNodeUpdate(
    { ...makeNode("test-node"), podCIDRs: ["10.0.1.0/24"] },
    { ...makeNode("test-node", { "topology.kubernetes.io/zone": "b" }), podCIDRs: ["10.0.1.0/24"] },
  );
  await proxier.syncProxyRules();
  assertEquals(metrics.calls.at(-1), "sync IPv4 full=true");
});

Deno.test("Proxier restricts NodePorts to local addresses in nodePortAddresses", async () => {
  const { proxier, ipt } = setup({ nodePortAddresses: ["192.168.0.0/24"] });
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  const text = ipt.IPv4.restores[0].text;
  assertStringIncludes(text, "-d 192.168.0.2 -j KUBE-NODEPORTS");
  assert(!text.includes("192.168.1.2"));
  assert(!text.includes("KUBE-FIREWALL"), "localhost NodePorts are off without loopback");
});

Deno.test("Proxier forces a full sync when the canary chain disappears (tables flushed)", async () => {
  const { proxier, ipt, runner, metrics } = setup();
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  assertEquals(await proxier.checkFlushed(), false, "first check creates the canaries");
  assert(await ipt.IPv4.chainExists("mangle", "KUBE-PROXY-CANARY"));
  assertEquals(await proxier.checkFlushed(), false);
  await proxier.syncProxyRules();
  assertEquals(metrics.calls.at(-1), "sync IPv4 full=false");
  // Someone flushes everything (not just our chains).
  await ipt.IPv4.restore("*mangle\nCOMMIT\n*nat\nCOMMIT\n*filter\nCOMMIT\n", { noflush: false });
  const runs = runner.runs;
  assertEquals(await proxier.checkFlushed(), true);
  assertEquals(runner.runs, runs + 1);
  await proxier.syncProxyRules();
  assertEquals(metrics.calls.at(-1), "sync IPv4 full=true");
  assertEquals(ipt.IPv4.rules("nat", "PREROUTING")!.length, 1, "jumps are back");
});

Deno.test("Proxier looks for stale chains at most once per syncPeriod in large clusters", async () => {
  const { proxier, ipt, backends, clock } = setup({ keepLastRuleSet: true });
  const ips = Array.from({ length: 1001 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
  proxier.onServiceAdd(svc("ns1", "svc1", "172.30.0.41"));
  proxier.onEndpointSliceAdd(slice("ns1", "svc1", ips));
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  let saves = 0;
  const chainNames = ipt.IPv4.chainNames.bind(ipt.IPv4);
  ipt.IPv4.chainNames = (table) => {
    saves++;
    return chainNames(table);
  };
  await proxier.syncProxyRules();
  assert(backends[0].lastRuleSet!.largeClusterMode);
  await proxier.syncProxyRules();
  assertEquals(saves, 1);
  clock.tick(30_000);
  await proxier.syncProxyRules();
  assertEquals(saves, 2);
});

/** The chains a restore input declares, per table (`filter/KUBE-SERVICES`, ...). */
function declared(text: string): string[] {
  let table = "";
  const out: string[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    else if (line.startsWith(":")) out.push(`${table}/${line.slice(1).split(" ")[0]}`);
  }
  return out.sort();
}

async function syncedTwoServices() {
  const t = setup({ dnsIntercept: { serviceIPs: ["172.30.0.10"], port: 5353 } });
  const s1 = slice("ns1", "svc1", ["10.180.0.1"]);
  t.proxier.onServiceAdd(svc("ns1", "svc1", "172.30.0.41"));
  t.proxier.onServiceAdd(svc("ns2", "svc2", "172.30.0.42"));
  t.proxier.onEndpointSliceAdd(s1);
  t.proxier.onEndpointSliceAdd(slice("ns2", "svc2", ["10.180.0.2"]));
  t.proxier.onServicesSynced();
  t.proxier.onEndpointSlicesSynced();
  await t.proxier.syncProxyRules();
  return { ...t, s1 };
}

Deno.test("Proxier partial sync of a one-endpoint change writes only the service's chains", async () => {
  const { proxier, ipt, metrics, s1 } = await syncedTwoServices();
  const full = ipt.IPv4.restores[0].text;
  for (const chain of ["filter/KUBE-SERVICES", "nat/KUBE-SERVICES", "nat/KUBE-DNS-INTERCEPT"]) {
    assert(declared(full).includes(chain), `the full sync writes ${chain}`);
  }
  proxier.onEndpointSliceUpdate(s1, slice("ns1", "svc1", ["10.180.0.1", "10.180.0.9"]));
  await proxier.syncProxyRules();
  assertEquals(metrics.calls[1], "sync IPv4 full=false");
  const text = ipt.IPv4.restores[1].text;
  assertEquals(declared(text), [
    "nat/KUBE-SEP-NCL6FYGPWRSR7RFS",
    "nat/KUBE-SEP-SXIVWICOYRO3J4NJ",
    "nat/KUBE-SVC-XPGD46QRK7WJZT7O",
  ]);
  assert(text.startsWith("*filter\nCOMMIT\n*nat\n"), text);
  assert(!text.includes("-A KUBE-SERVICES"), "KUBE-SERVICES is not appended to either");
  // The kernel still has every fixed chain, unchanged.
  assertEquals(pod(ipt.IPv4, "172.30.0.41"), "10.180.0.1:80, 10.180.0.9:80");
  assertEquals(pod(ipt.IPv4, "172.30.0.42"), "10.180.0.2:80");
  assertEquals(ipt.IPv4.rules("nat", "KUBE-DNS-INTERCEPT")!.length, 2);
  assertEquals(ipt.IPv4.rules("nat", "KUBE-POSTROUTING")!.length, 3);
});

Deno.test("Proxier partial sync writes the fixed chains a change alters", async () => {
  const { proxier, ipt, s1 } = await syncedTwoServices();
  // svc1 loses its endpoints: its cluster IP rule moves from nat to filter KUBE-SERVICES.
  proxier.onEndpointSliceUpdate(s1, slice("ns1", "svc1", []));
  await proxier.syncProxyRules();
  assertEquals(declared(ipt.IPv4.restores[1].text), [
    "filter/KUBE-SERVICES",
    "nat/KUBE-SEP-SXIVWICOYRO3J4NJ",
    "nat/KUBE-SERVICES",
    "nat/KUBE-SVC-XPGD46QRK7WJZT7O",
  ]);
  assert(
    tracePacket(ipt.IPv4, { sourceIP: "10.0.0.2", destIP: "172.30.0.41", destPort: 80 })
      .matched.some((r) => r.includes("has no endpoints")),
    "rejected",
  );
  assertEquals(pod(ipt.IPv4, "172.30.0.42"), "10.180.0.2:80");
  // A new service changes nat KUBE-SERVICES only; filter's is as the last restore wrote it.
  proxier.onServiceAdd(svc("ns3", "svc3", "172.30.0.43"));
  proxier.onEndpointSliceAdd(slice("ns3", "svc3", ["10.180.0.3"]));
  await proxier.syncProxyRules();
  const text = ipt.IPv4.restores[2].text;
  assert(declared(text).includes("nat/KUBE-SERVICES"));
  assert(!declared(text).includes("filter/KUBE-SERVICES"));
  assertEquals(pod(ipt.IPv4, "172.30.0.43"), "10.180.0.3:80");
  assertEquals(pod(ipt.IPv4, "172.30.0.42"), "10.180.0.2:80");
});

Deno.test("Proxier writes every fixed chain again after a failed restore", async () => {
  const { proxier, ipt, backends, metrics, s1 } = await syncedTwoServices();
  ipt.IPv4.failNextRestore(new Error("restore failed"));
  proxier.onEndpointSliceUpdate(s1, slice("ns1", "svc1", ["10.180.0.1", "10.180.0.9"]));
  await assertRejects(() => proxier.syncProxyRules());
  await proxier.syncProxyRules();
  assertEquals(metrics.calls.slice(1), ["sync IPv4 full=false", "sync IPv4 full=true"]);
  assertEquals(
    declared(ipt.IPv4.restores[2].text),
    declared(ipt.IPv4.restores[0].text).concat([
      "nat/KUBE-SEP-NCL6FYGPWRSR7RFS",
    ]).sort(),
  );
  assertEquals(backends[0].lastRuleSet, undefined, "no copy kept without keepLastRuleSet");
});

Deno.test("Proxier looks for stale chains of a large cluster in the background and deletes them next sync", async () => {
  const { proxier, ipt, clock, runner } = setup();
  const ips = Array.from({ length: 1001 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
  proxier.onServiceAdd(svc("ns1", "svc1", "172.30.0.41"));
  proxier.onEndpointSliceAdd(slice("ns1", "svc1", ips));
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  await ipt.IPv4.ensureChain("nat", "KUBE-SVC-STALESTALESTALE");
  clock.tick(30_000);
  // The scan does not hold up the sync: this save never answers while the sync runs.
  const chainNames = ipt.IPv4.chainNames.bind(ipt.IPv4);
  let answer: (() => void) | undefined;
  ipt.IPv4.chainNames = (table) =>
    new Promise((resolve) => answer = () => resolve(chainNames(table)));
  const runs = runner.runs;
  await proxier.syncProxyRules();
  assert(answer !== undefined, "the scan started");
  assert(!ipt.IPv4.restores[1].text.includes("-X "));
  answer!();
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(runner.runs, runs + 1, "the scan's result asks for a sync");
  await proxier.syncProxyRules();
  assertStringIncludes(ipt.IPv4.restores[2].text, "-X KUBE-SVC-STALESTALESTALE\n");
  assert(!ipt.IPv4.chains("nat").includes("KUBE-SVC-STALESTALESTALE"));
});

/** Adds `n` UDP services `ns/dns<i>` (172.30.1.<i>:53, one endpoint each) and syncs. */
async function syncUDPServices(proxier: Proxier, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    proxier.onServiceAdd(makeService("ns", `dns${i}`, (s) => {
      s.clusterIPs = [`172.30.1.${i}`];
      s.ports = [{ name: "dns", protocol: "UDP", port: 53, targetPort: 53, nodePort: 0 }];
    }));
    proxier.onEndpointSliceAdd(makeEndpointSlice("ns", `dns${i}`, 1, (s) => {
      s.ports = [{ name: "dns", protocol: "UDP", port: 53 }];
      s.endpoints = [makeEndpoint(`10.180.1.${i}`)];
    }));
  }
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
}

Deno.test("Proxier runs conntrack cleanups several at a time and waits for all of them", async () => {
  const { proxier, conntrack, metrics } = setup();
  let inFlight = 0, most = 0;
  conntrack.clearEntriesForIP = async (ip: string, protocol: Protocol) => {
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, 1));
    inFlight--;
    conntrack.calls.push(`ip ${ip} ${protocol}`);
    return 1;
  };
  await syncUDPServices(proxier, 20);
  assertEquals(conntrack.calls.length, 20, "every newly active UDP service is cleared");
  assert(most > 1 && most <= 8, `${most} at once`);
  assertEquals(metrics.calls.filter((c) => c.startsWith("conntrack")), ["conntrack IPv4 20"]);
});

Deno.test("Proxier lists the conntrack table once before many cleanups and runs only those that match", async () => {
  const { proxier, conntrack } = setup();
  const listed: string[] = [];
  Object.assign(conntrack, {
    listFlowDestinations(family: IPFamily, protocol: Protocol) {
      listed.push(`${family} ${protocol}`);
      return Promise.resolve({ ips: new Set(["172.30.1.3", "10.9.9.9"]), ports: new Set([53]) });
    },
  });
  await syncUDPServices(proxier, 20);
  assertEquals(listed, ["IPv4 UDP"]);
  assertEquals(conntrack.calls, ["ip 172.30.1.3 UDP"]);
});

Deno.test("Proxier keeps the NodeCIDR detector and does a full sync when its Node is deleted", async () => {
  const { proxier, ipt, metrics } = setup({ localDetector: { mode: "NodeCIDR" } });
  const node = {
    ...makeNode("test-node", { "topology.kubernetes.io/zone": "a" }),
    podCIDRs: ["10.0.1.0/24"],
  };
  proxier.onNodeAdd(node);
  proxier.onServiceAdd(svc("ns1", "svc1", "172.30.0.41"));
  proxier.onServiceAdd(svc("ns2", "svc2", "172.30.0.42"));
  proxier.onEndpointSliceAdd(slice("ns1", "svc1", ["10.180.0.1"]));
  proxier.onEndpointSliceAdd(slice("ns2", "svc2", ["10.180.0.2"]));
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  proxier.onNodeDelete(node);
  // A change after the deletion: the next sync must not program this service with a no-op
  // detector (upstream's detector is fixed at start-up), and the zone (topology) is gone, so
  // every service is rewritten (a full sync), not only the changed one.
  proxier.onEndpointSliceUpdate(
    slice("ns1", "svc1", ["10.180.0.1"]),
    slice("ns1", "svc1", ["10.180.0.1", "10.180.0.3"]),
  );
  await proxier.syncProxyRules();
  assertEquals(metrics.calls.at(-1), "sync IPv4 full=true");
  const text = ipt.IPv4.restores.at(-1)!.text;
  assertStringIncludes(text, "-d 172.30.0.41 --dport 80 ! -s 10.0.1.0/24 -j KUBE-MARK-MASQ");
  assertStringIncludes(text, "-d 172.30.0.42 --dport 80 ! -s 10.0.1.0/24 -j KUBE-MARK-MASQ");
});

Deno.test("Proxier.start() sets the last queued timestamp of every family, as SyncLoop does", () => {
  const queued: string[] = [];
  const metrics = new (class extends RecordingMetrics {
    override setLastQueuedTimestamp(family?: IPFamily, ms?: number): void {
      queued.push(`${family} ${ms}`);
    }
  })();
  const clock = new FakeClock(1_000_000);
  const opts: TestOptions = { ...OPTIONS, families: ["IPv4", "IPv6"] };
  const ipt = { IPv4: new FakeIptables("IPv4"), IPv6: new FakeIptables("IPv6") };
  const proxier = new Proxier(opts, {
    backends: backendsOf(ipt, opts, { clock }),
    clock,
    createRunner: () => new FakeRunner(),
    metrics,
  });
  proxier.start();
  proxier.stop();
  assertEquals(queued, ["IPv4 1000000", "IPv6 1000000"]);
});

Deno.test("Proxier writes one NodePort jump per local address, even when two interfaces share it", async () => {
  const ipt = { IPv4: new FakeIptables("IPv4") };
  const opts: TestOptions = { ...OPTIONS, nodePortAddresses: ["192.168.0.0/24"] };
  const proxier = new Proxier(opts, {
    backends: backendsOf(ipt, opts),
    clock: new FakeClock(1_000_000),
    createRunner: () => new FakeRunner(),
    localAddresses: () => Promise.resolve(["192.168.0.2", "10.1.0.1", "192.168.0.2"]),
  });
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  const jumps = ipt.IPv4.restores[0].text.split("\n").filter((l) =>
    l.endsWith("-j KUBE-NODEPORTS")
  );
  assertEquals(jumps, [
    `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.168.0.2 -j KUBE-NODEPORTS`,
  ]);
});

Deno.test("Proxier.checkFlushed() waits for a flush to reach nat and filter before recreating the canaries", async () => {
  const { proxier, ipt, clock } = setup();
  await proxier.checkFlushed();
  // A firewall reload flushes the tables one after the other: mangle first.
  await ipt.IPv4.restore("*mangle\nCOMMIT\n", { noflush: false });
  const check = proxier.checkFlushed();
  await new Promise((r) => setTimeout(r, 0));
  await ipt.IPv4.restore("*nat\nCOMMIT\n*filter\nCOMMIT\n", { noflush: false });
  for (let i = 0; i < 3; i++) {
    clock.tick(100);
    await new Promise((r) => setTimeout(r, 0));
  }
  assertEquals(await check, true);
  // Created after the whole flush, so the next flush of nat is seen too.
  for (const table of ["mangle", "nat", "filter"] as const) {
    assert(await ipt.IPv4.chainExists(table, "KUBE-PROXY-CANARY"), table);
  }
});

Deno.test("Proxier.checkFlushed() gives up waiting for nat and filter after 5 s and still resyncs", async () => {
  const { proxier, ipt, clock, runner } = setup();
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.checkFlushed();
  await ipt.IPv4.restore("*mangle\nCOMMIT\n", { noflush: false }); // only mangle, never the rest
  const runs = runner.runs;
  const check = proxier.checkFlushed();
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 0));
    clock.tick(100);
  }
  assertEquals(await check, true);
  assertEquals(runner.runs, runs + 1);
});

Deno.test("Proxier full sync without the DNS intercept deletes a KUBE-DNS-INTERCEPT left in the kernel", async () => {
  const first = await syncedTwoServices();
  assertEquals(first.ipt.IPv4.rules("nat", "KUBE-DNS-INTERCEPT")!.length, 2);
  // The next run has the intercept turned off and finds the same kernel state.
  const t = setup();
  const proxier = new Proxier(OPTIONS, {
    backends: backendsOf(first.ipt, OPTIONS, { clock: t.clock, metrics: t.metrics }),
    clock: t.clock,
    createRunner: () => t.runner,
    conntrack: t.conntrack,
    health: t.health,
    serviceHealthServer: t.health,
    metrics: t.metrics,
    localAddresses: () => Promise.resolve(["127.0.0.1", "192.168.0.2"]),
  });
  proxier.onServiceAdd(svc("ns1", "svc1", "172.30.0.41"));
  proxier.onEndpointSliceAdd(slice("ns1", "svc1", ["10.180.0.1"]));
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  assertEquals(first.ipt.IPv4.rules("nat", "KUBE-DNS-INTERCEPT"), undefined);
  const services = first.ipt.IPv4.rules("nat", "KUBE-SERVICES")!;
  assert(!services.some((r) => r.includes("KUBE-DNS-INTERCEPT")), services.join("\n"));
  assertEquals(pod(first.ipt.IPv4, "172.30.0.41"), "10.180.0.1:80");
});
