/**
 * Network programming latency (`kubeproxy_network_programming_duration_seconds`): from an
 * EndpointSlice's `last-change-trigger-time` to the end of the sync that applied it.
 *
 * @module
 */

import { assertEquals, assertRejects } from "../tests/assert.ts";
import type { EndpointSlice, IPFamily } from "../cache/objects.ts";
import { configureLogging } from "../config/log.ts";
import { FakeIptables } from "./iptables/fake.ts";
import { IptablesRestoreError } from "./iptables/iptables.ts";
import { slice, svc } from "./iptables/test_helpers.ts";
import { FakeClock } from "../config/clock.ts";
import { NoProxierMetrics } from "./test_fixtures.ts";
import { IptablesProxyBackend } from "./iptables/backend.ts";
import { Proxier, type SyncRunner } from "./proxier.ts";

const START = 1_000_000;

class NoRunner implements SyncRunner {
  run(): void {}
  start(): void {}
  stop(): void {}
}

/** Records only the latency observations, as `<family> <seconds>`. */
class LatencyMetrics extends NoProxierMetrics {
  observed: string[] = [];
  override observeNetworkProgrammingLatency(family: IPFamily, seconds: number): void {
    this.observed.push(`${family} ${seconds}`);
  }
}

function setup() {
  const ipt = new FakeIptables("IPv4");
  const clock = new FakeClock(START);
  const metrics = new LatencyMetrics();
  const backends = [
    new IptablesProxyBackend("IPv4", { syncPeriodMs: 30_000 }, { iptables: ipt, clock }),
  ];
  const proxier = new Proxier({
    nodeName: "test-node",
    syncPeriodMs: 30_000,
    minSyncPeriodMs: 1_000,
    localDetector: { mode: "ClusterCIDR", clusterCIDRs: ["10.0.0.0/8"] },
  }, { backends, clock, createRunner: () => new NoRunner(), metrics });
  return { proxier, ipt, clock, metrics };
}

function triggered(s: EndpointSlice, at: number | undefined): EndpointSlice {
  return at === undefined ? s : { ...s, lastChangeTriggerTime: at };
}

Deno.test("Proxier observes network programming latency once per applied slice change", async () => {
  const { proxier, clock, metrics } = setup();
  proxier.onServiceAdd(svc("ns1", "svc1", "172.30.0.41"));
  proxier.onServiceAdd(svc("ns2", "svc2", "172.30.0.42"));
  const s1 = triggered(slice("ns1", "svc1", ["10.180.0.1"]), START + 500);
  proxier.onEndpointSliceAdd(s1);
  // From before this proxier started: it would measure the proxy's downtime, not the change.
  proxier.onEndpointSliceAdd(triggered(slice("ns2", "svc2", ["10.180.0.2"]), START - 60_000));
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  clock.tick(2_000);
  await proxier.syncProxyRules();
  assertEquals(metrics.observed, ["IPv4 1.5"]);

  // Two changes of one service before the next sync: both are measured, to the same sync end.
  const s1b = triggered(slice("ns1", "svc1", ["10.180.0.1", "10.180.0.9"]), START + 3_000);
  proxier.onEndpointSliceUpdate(s1, s1b);
  const s1c = triggered(slice("ns1", "svc1", ["10.180.0.9"]), START + 3_500);
  proxier.onEndpointSliceUpdate(s1b, s1c);
  // The same change seen again (a relist) is not measured again.
  proxier.onEndpointSliceUpdate(s1c, { ...s1c, resourceVersion: "99" });
  clock.tick(2_000); // now START + 4000
  metrics.observed = [];
  await proxier.syncProxyRules();
  assertEquals(metrics.observed, ["IPv4 1", "IPv4 0.5"]);

  // A sync with no slice change observes nothing; a slice without the annotation neither.
  metrics.observed = [];
  await proxier.syncProxyRules();
  proxier.onEndpointSliceUpdate(s1c, triggered(slice("ns1", "svc1", ["10.180.0.7"]), undefined));
  await proxier.syncProxyRules();
  assertEquals(metrics.observed, []);
});

Deno.test("Proxier forgets the trigger times of a service whose slice was deleted", async () => {
  const { proxier, clock, metrics } = setup();
  proxier.onServiceAdd(svc("ns1", "svc1", "172.30.0.41"));
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  const s1 = triggered(slice("ns1", "svc1", ["10.180.0.1"]), START + 100);
  proxier.onEndpointSliceAdd(s1);
  proxier.onEndpointSliceDelete(s1);
  clock.tick(1_000);
  await proxier.syncProxyRules();
  assertEquals(metrics.observed, []);
});

Deno.test("Proxier measures a change when the retry after a failed restore applies it", async () => {
  const { proxier, ipt, clock, metrics } = setup();
  proxier.onServiceAdd(svc("ns1", "svc1", "172.30.0.41"));
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
  proxier.onEndpointSliceAdd(triggered(slice("ns1", "svc1", ["10.180.0.1"]), START + 1_000));
  clock.tick(2_000);
  ipt.failNextRestore(
    new IptablesRestoreError({ code: 1, stdout: "", stderr: "injected" }, "*nat\nCOMMIT\n"),
  );
  configureLogging({ write: () => {} });
  try {
    await assertRejects(() => proxier.syncProxyRules(), IptablesRestoreError);
  } finally {
    configureLogging({ write: (line) => console.error(line) });
  }
  assertEquals(metrics.observed, []);
  clock.tick(3_000);
  await proxier.syncProxyRules();
  assertEquals(metrics.observed, ["IPv4 4"]);
});
