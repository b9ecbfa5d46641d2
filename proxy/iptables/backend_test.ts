import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { configureLogging } from "../../config/log.ts";
import type { IPFamily } from "../../cache/objects.ts";
import type { BackendSyncState } from "../backend.ts";
import { type IptablesMetrics, IptablesProxyBackend } from "./backend.ts";
import { FakeIptables } from "./fake.ts";
import { IptablesRestoreError } from "./iptables.ts";
import { slice, stateOf, svc } from "./test_helpers.ts";

configureLogging({ write: () => {} });

class Metrics implements IptablesMetrics {
  calls: string[] = [];
  incRestoreFailures(family: IPFamily, opts: { partial: boolean }): void {
    this.calls.push(`failure ${family} partial=${opts.partial}`);
  }
  setIptablesRules(family: IPFamily, table: string, c: { total: number; last: number }): void {
    this.calls.push(`rules ${family} ${table} ${c.total}/${c.last}`);
  }
}

/** One service with an eTP Local NodePort and no local endpoint. */
function syncState(full: boolean, updated: string[] = []): BackendSyncState {
  const s = svc("ns1", "svc1", "172.30.0.41", (x) => {
    x.type = "NodePort";
    x.ports = [{ name: "p80", protocol: "TCP", port: 80, targetPort: 80, nodePort: 30080 }];
    x.externalTrafficPolicy = "Local";
  });
  const { services, endpoints } = stateOf([s], [slice("ns1", "svc1", ["10.180.0.1"])]);
  return {
    full,
    services: new Map(services),
    endpoints: new Map(endpoints),
    updatedServices: new Set(updated),
    node: {
      name: "test-node",
      labels: {},
      nodeIP: "192.168.0.2",
      nodePortAddresses: [],
      localDetector: { mode: "ClusterCIDR", cidr: "10.0.0.0/8" },
    },
    requestSync: () => {},
  };
}

Deno.test("IptablesProxyBackend.sync() restores the rules and reports what the proxier records", async () => {
  const ipt = new FakeIptables();
  const metrics = new Metrics();
  const backend = new IptablesProxyBackend("IPv4", { syncPeriodMs: 30_000 }, {
    iptables: ipt,
    metrics,
  });
  const result = await backend.sync(syncState(true));
  assertEquals(result, { noLocalEndpoints: { internal: 0, external: 1 } });
  assertEquals(ipt.restores.length, 1);
  assert(ipt.rules("nat", "PREROUTING")!.some((r) => r.endsWith("-j KUBE-SERVICES")), "jumps");
  const natLines = ipt.restores[0].text.split("*nat\n")[1].split("\n")
    .filter((l) => l.startsWith("-A ")).length;
  assertEquals(metrics.calls.at(-1), `rules IPv4 nat ${natLines}/${natLines}`);
  // A partial sync with nothing changed writes no service chain; the total still counts them.
  await backend.sync(syncState(false));
  const written = ipt.restores[1].text.split("\n").filter((l) => l.startsWith("-A ")).length;
  assert(written < natLines);
  assertEquals(metrics.calls.at(-1)!.split(" ")[3].split("/")[0], String(natLines));
  assert(!ipt.restores[1].text.includes(":KUBE-SVC-"));
});

Deno.test("IptablesProxyBackend.sync() counts and throws a failed restore", async () => {
  const ipt = new FakeIptables();
  const metrics = new Metrics();
  const backend = new IptablesProxyBackend("IPv4", { syncPeriodMs: 30_000 }, {
    iptables: ipt,
    metrics,
  });
  ipt.failNextRestore(
    new IptablesRestoreError({ code: 2, stdout: "", stderr: "Error occurred at line: 3" }, "x"),
  );
  await assertRejects(() => backend.sync(syncState(true)), IptablesRestoreError);
  assertEquals(metrics.calls, ["failure IPv4 partial=false"]);
});

Deno.test("IptablesProxyBackend.checkFlushed() reports a flushed mangle canary once", async () => {
  const ipt = new FakeIptables();
  const backend = new IptablesProxyBackend("IPv4", { syncPeriodMs: 30_000 }, { iptables: ipt });
  assertEquals(await backend.checkFlushed(), false, "creates the canaries");
  assertEquals(await backend.checkFlushed(), false);
  await ipt.restore("*mangle\nCOMMIT\n*nat\nCOMMIT\n*filter\nCOMMIT\n", { noflush: false });
  assertEquals(await backend.checkFlushed(), true);
  assertEquals(await backend.checkFlushed(), false, "recreated");
});
