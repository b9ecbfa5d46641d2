/**
 * The runtime pieces composed as the proxier composes them, without root: a sync loop on the
 * bounded-frequency runner restores through ExecIptables (over a fake command runner whose
 * iptables-restore fails on demand), reports to ProxierHealthServer and ProxyMetrics, and /healthz
 * goes 503 once a queued change has waited 2 × syncPeriod, then recovers after a good sync.
 * Time is a FakeClock; nothing sleeps.
 */
import { assertEquals, assertStringIncludes } from "../assert.ts";
import { configureLogging } from "../../config/log.ts";
import type { Node } from "../../cache/objects.ts";
import { FakeCommandRunner } from "../../proxy/exec.ts";
import { ProxierHealthServer } from "../../proxy/healthz.ts";
import { ExecIptables, IptablesRestoreError } from "../../proxy/iptables/iptables.ts";
import { ProxyMetrics } from "../../proxy/metrics.ts";
import { FakeClock } from "../../config/clock.ts";
import { BoundedFrequencyRunner } from "../../proxy/runner.ts";

configureLogging({ write: () => {} });

const SYNC_PERIOD = 30_000;
const NODE: Node = {
  name: "node1",
  resourceVersion: "1",
  labels: {},
  podCIDRs: [],
  addresses: ["192.168.0.2"],
};

Deno.test("a failing iptables-restore makes /healthz stale after 2 x syncPeriod, and a good sync heals it", async () => {
  const clock = new FakeClock(Date.UTC(2025, 9, 1, 12, 0, 0));
  const run = new FakeCommandRunner();
  let failRestore = false;
  run.respond((c) =>
    c.cmd === "iptables-nft-restore" && failRestore
      ? { code: 2, stderr: "Bad argument `bogus'\nError occurred at line: 3\n" }
      : undefined
  );
  const ipt = new ExecIptables("IPv4", "nft", { run });
  const metrics = new ProxyMetrics();
  const healthz = new ProxierHealthServer({
    bindAddress: "127.0.0.1:0",
    healthTimeoutMs: 2 * SYNC_PERIOD,
    clock,
    metrics,
  });
  healthz.syncNode(NODE);
  const errors: IptablesRestoreError[] = [];

  // The proxier's sync: restore, then report; a failure is counted and rethrown for the runner.
  const sync = async () => {
    try {
      await ipt.restore("*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j RETURN\nCOMMIT\n", {
        noflush: true,
      });
    } catch (err) {
      if (err instanceof IptablesRestoreError) errors.push(err);
      metrics.incRestoreFailures("IPv4", { partial: false });
      throw err;
    }
    healthz.updated("IPv4");
    metrics.setLastSyncTimestamp("IPv4", clock.now());
  };
  const runner = new BoundedFrequencyRunner("sync-runner", sync, {
    minIntervalMs: 1000,
    maxIntervalMs: 3600_000,
    retryIntervalMs: SYNC_PERIOD,
    clock,
  });
  // What the proxier's Sync() does on every change.
  const queueSync = () => {
    healthz.queuedUpdate("IPv4");
    metrics.setLastQueuedTimestamp("IPv4", clock.now());
    runner.run();
  };

  await healthz.start();
  try {
    const status = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${healthz.port}${path}`);
      await res.body?.cancel();
      return res.status;
    };
    healthz.updated("IPv4"); // SyncLoop start
    runner.start();
    queueSync();
    await clock.tickAsync(0);
    assertEquals(await status("/healthz"), 200);

    failRestore = true;
    queueSync();
    await clock.tickAsync(2 * SYNC_PERIOD - 1);
    assertEquals(await status("/healthz"), 200, "still within the health timeout");
    await clock.tickAsync(1);
    assertEquals(await status("/healthz"), 503);
    assertEquals(await status("/livez"), 503);
    assertEquals(errors.length, 2, "the attempt after minSyncPeriod and one retry 30s later");
    assertEquals(errors[0].line, 3);

    failRestore = false;
    await clock.tickAsync(SYNC_PERIOD);
    assertEquals(await status("/healthz"), 200, "the retry succeeded");

    const text = await metrics.render();
    assertStringIncludes(
      text,
      'kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family="IPv4"} 2',
    );
    assertStringIncludes(text, 'kubeproxy_proxy_healthz_total{code="503"} 1');
    assertStringIncludes(text, 'kubeproxy_proxy_healthz_total{code="200"} 3');
  } finally {
    runner.stop();
    await healthz.stop();
  }
});
