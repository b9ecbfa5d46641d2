import { assertEquals } from "../tests/assert.ts";
import { type PlanContext, planServicePort } from "./service_plan.ts";
import type { ServicePortInfo } from "./types.ts";
import { endpointInfo, servicePortInfo } from "./test_fixtures.ts";

const CTX: PlanContext = {
  nodeName: "node-a",
  nodeLabels: {},
  nodeIP: "192.168.0.2",
  hasLocalDetector: true,
  masqueradeAll: false,
};

/** A service port `ns/svc:p80` on 172.30.0.1:80. */
function port(change: Partial<ServicePortInfo> = {}): ServicePortInfo {
  return servicePortInfo({ clusterIP: "172.30.0.1", ...change });
}

const ep = endpointInfo;
const REMOTE = ep("10.1.0.1");
const LOCAL = ep("10.1.0.2", { isLocal: true });

Deno.test("planServicePort() rejects all traffic of a service without usable endpoints", () => {
  const notReady = ep("10.1.0.3", { ready: false, serving: false });
  const plan = planServicePort(port({ nodePort: 30080 }), [notReady], CTX);
  assertEquals(plan.hasEndpoints, false);
  assertEquals(plan.internal, { policy: "cluster", refuse: "REJECT" });
  assertEquals(plan.external, { policy: "cluster", refuse: "REJECT" });
  assertEquals(plan.externalStage, false);
  assertEquals(plan.internalMasquerade, "none");
  assertEquals(plan.reachableEndpoints, []);
  assertEquals(plan.noLocalEndpoints, { internal: false, external: false });
});

Deno.test("planServicePort() masquerades cluster IP traffic per masqueradeAll and the detector", () => {
  const cases: [Partial<PlanContext>, string][] = [
    [{}, "notLocal"],
    [{ masqueradeAll: true }, "all"],
    [{ masqueradeAll: true, hasLocalDetector: false }, "all"],
    [{ hasLocalDetector: false }, "none"],
  ];
  for (const [ctx, want] of cases) {
    const plan = planServicePort(port(), [REMOTE, LOCAL], { ...CTX, ...ctx });
    assertEquals(plan.internalMasquerade, want, JSON.stringify(ctx));
    assertEquals(plan.internal, { policy: "cluster" });
    assertEquals(plan.clusterEndpoints, [REMOTE, LOCAL]);
    assertEquals(plan.localEndpoints, []);
    assertEquals(plan.externalStage, false, "not reachable from outside");
  }
});

Deno.test("planServicePort() drops internalTrafficPolicy Local traffic without a local endpoint", () => {
  const plan = planServicePort(port({ internalPolicyLocal: true }), [REMOTE], CTX);
  assertEquals(plan.hasEndpoints, true);
  assertEquals(plan.internal, { policy: "local", refuse: "DROP" });
  assertEquals(plan.internalMasquerade, "none");
  assertEquals(plan.clusterEndpoints, [], "no traffic uses the cluster-wide endpoints");
  assertEquals(plan.noLocalEndpoints, { internal: true, external: false });
  const local = planServicePort(port({ internalPolicyLocal: true }), [REMOTE, LOCAL], CTX);
  assertEquals(local.internal, { policy: "local" });
  assertEquals(local.localEndpoints, [LOCAL]);
  assertEquals(local.reachableEndpoints, [LOCAL]);
});

Deno.test("planServicePort() keeps the external stage of eTP Local without local endpoints", () => {
  const sp = port({ nodePort: 30080, externalPolicyLocal: true });
  const plan = planServicePort(sp, [REMOTE], CTX);
  assertEquals(plan.internal, { policy: "cluster" });
  assertEquals(plan.external, { policy: "local", refuse: "DROP" });
  assertEquals(plan.externalStage, true, "pods and the node still reach the cluster endpoints");
  assertEquals(plan.externalMasquerade, "fromNode");
  assertEquals(plan.shortCircuitLocalPods, true);
  assertEquals(plan.noLocalEndpoints, { internal: false, external: true });
  const noDetector = planServicePort(sp, [REMOTE, LOCAL], { ...CTX, hasLocalDetector: false });
  assertEquals(noDetector.external, { policy: "local" });
  assertEquals(noDetector.shortCircuitLocalPods, false);
  assertEquals(noDetector.reachableEndpoints, [REMOTE, LOCAL]);
  const cluster = planServicePort(port({ nodePort: 30080 }), [REMOTE], CTX);
  assertEquals(cluster.externalMasquerade, "all");
  assertEquals(cluster.shortCircuitLocalPods, false);
});

Deno.test("planServicePort() firewalls LoadBalancer IPs with source ranges, allowing the VIPs from the node", () => {
  const lb = {
    nodePort: 30080,
    loadBalancerVIPs: ["5.6.7.8"],
    loadBalancerSourceRanges: ["203.0.113.0/25"],
  };
  const plan = planServicePort(port(lb), [REMOTE], CTX);
  assertEquals(plan.firewall, { sourceRanges: ["203.0.113.0/25"], vipSources: [] });
  const fromNode = planServicePort(
    port({ ...lb, loadBalancerSourceRanges: ["192.168.0.0/16"] }),
    [REMOTE],
    CTX,
  );
  assertEquals(fromNode.firewall?.vipSources, ["5.6.7.8"]);
  assertEquals(
    planServicePort(port({ ...lb, loadBalancerSourceRanges: [] }), [REMOTE], CTX).firewall,
    undefined,
  );
  assertEquals(planServicePort(port(lb), [], CTX).firewall, undefined, "no endpoints: REJECT");
  assertEquals(planServicePort(port({ stickyMaxAgeSeconds: 60 }), [], CTX).affinitySeconds, 60);
});
