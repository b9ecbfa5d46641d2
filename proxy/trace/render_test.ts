import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { formatShare, renderTraceJson, renderTraceText, type TraceReport } from "./render.ts";
import {
  endpointSharesOf,
  type TraceBranch,
  type TraceHop,
  type TraceResult,
} from "./trace_result.ts";

function hop(chain: string, action: string, extra: Partial<TraceHop> = {}): TraceHop {
  return { table: "nat", chain, rule: `-A ${chain} -j X`, action, ...extra };
}

const SHARED = [
  hop("PREROUTING", "jump KUBE-SERVICES"),
  hop("KUBE-SERVICES", "jump KUBE-SVC-A", {
    service: "ns1/db:pg",
    comment: "ns1/db:pg cluster IP",
  }),
];

function branch(p: number, ip: string, masqueraded: boolean): TraceBranch {
  const dnat = hop("KUBE-SEP-" + ip, `DNAT to ${ip}:5432`, { service: "ns1/db:pg" });
  return {
    probability: p,
    hops: [
      ...SHARED,
      hop("KUBE-SVC-A", "jump KUBE-SEP-" + ip, { probability: p, endpoint: `${ip}:5432` }),
      dnat,
    ],
    verdict: "dnat",
    destination: `${ip}:5432`,
    service: "ns1/db:pg",
    decidedBy: dnat,
    masquerade: {
      masqueraded,
      reason: masqueraded ? "hairpin" : "the source is in the local pod network",
    },
  };
}

function result(branches: TraceBranch[], extra: Partial<TraceResult> = {}): TraceResult {
  return {
    packet: {
      sourceIP: "10.244.1.5",
      destIP: "10.96.0.20",
      destPort: 5432,
      protocol: "tcp",
      inInterface: "",
    },
    hook: "PREROUTING",
    ruleSource: "iptables-nft",
    outcome: "delivered",
    branches,
    endpoints: endpointSharesOf(branches),
    services: ["ns1/db:pg"],
    warnings: [],
    ...extra,
  };
}

Deno.test("formatShare() prints one decimal", () => {
  assertEquals([formatShare(1 / 3), formatShare(0.5), formatShare(1)], [
    "33.3%",
    "50.0%",
    "100.0%",
  ]);
});

Deno.test("renderTraceText() prints shared hops once, then each branch with its share", () => {
  const text = renderTraceText({
    trace: result([branch(0.5, "10.244.1.7", false), branch(0.5, "10.244.2.5", true)], {
      affinitySeconds: 10800,
    }),
  });
  const lines = text.split("\n");
  assertEquals(lines.filter((l) => l.includes("nat KUBE-SERVICES: jump KUBE-SVC-A")).length, 1);
  assertStringIncludes(text, "  1. nat PREROUTING: jump KUBE-SERVICES");
  assertStringIncludes(text, "  branch 1 of 2, 50.0% of new connections:");
  assertStringIncludes(
    text,
    "    3. nat KUBE-SVC-A: jump KUBE-SEP-10.244.2.5 (taken with probability 0.5)   [-> 10.244.2.5:5432]",
  );
  assertStringIncludes(text, "=> DNAT to 10.244.2.5:5432 (ns1/db:pg); masquerade: yes: hairpin");
  assertStringIncludes(
    text,
    "Verdict: DELIVERED\n  10.244.1.7:5432           50.0% of new connections\n",
  );
  assertStringIncludes(
    text,
    "  10.244.2.5:5432           50.0% of new connections, masqueraded\n",
  );
  assertStringIncludes(text, "later ones go to the same endpoint for 10800s");
  assert(!text.includes("Warnings:") && !text.includes("Explain:"));
});

Deno.test("renderTraceText() prints a drop, warnings and explanations", () => {
  const drop = hop("KUBE-EXTERNAL-SERVICES", "DROP", {
    table: "filter",
    comment: "ns1/db:pg has no local endpoints",
    service: "ns1/db:pg",
  });
  const b: TraceBranch = {
    probability: 1,
    hops: [drop],
    verdict: "drop",
    service: "ns1/db:pg",
    decidedBy: drop,
    masquerade: { masqueraded: false, reason: "the packet does not get that far (drop)" },
  };
  const report: TraceReport = {
    trace: result([b], { outcome: "dropped", warnings: ["unknown rule shape (x)"] }),
    explanations: [{
      service: "ns1/db:pg",
      internalTrafficPolicy: "Cluster",
      externalTrafficPolicy: "Local",
      summary: ["externalTrafficPolicy Local and no usable endpoint on this node"],
      endpoints: [{
        endpoint: "10.244.2.5:5432",
        nodeName: "node2",
        clusterEligible: true,
        localEligible: false,
        reasons: ["ready", "on node node2"],
      }],
    }],
    explainErrors: ["ns1/other: no such Service"],
  };
  const text = renderTraceText(report);
  assertStringIncludes(
    text,
    `Verdict: DROPPED\n  DROPPED by filter KUBE-EXTERNAL-SERVICES (ns1/db:pg): "ns1/db:pg has no local endpoints"`,
  );
  assertStringIncludes(text, "Warnings:\n  - unknown rule shape (x)");
  assertStringIncludes(
    text,
    "Explain:\n  ns1/db:pg (internalTrafficPolicy Cluster, externalTrafficPolicy Local):",
  );
  assertStringIncludes(text, "    10.244.2.5:5432 on node2: ready; on node node2");
  assertStringIncludes(text, "  ns1/other: no such Service");
});

Deno.test("renderTraceText() folds jumps into chains where nothing matched into one line", () => {
  const f = (chain: string, action: string) => hop(chain, action, { table: "filter" });
  const reject = f("KUBE-SERVICES", "REJECT");
  const b: TraceBranch = {
    probability: 1,
    hops: [
      f("FORWARD", "jump KUBE-PROXY-FIREWALL"),
      f("FORWARD", "jump KUBE-FORWARD"),
      f("FORWARD", "jump KUBE-SERVICES"),
      reject,
    ],
    verdict: "reject",
    decidedBy: reject,
    masquerade: { masqueraded: false, reason: "the packet does not get that far (reject)" },
  };
  const text = renderTraceText({ trace: result([b], { outcome: "rejected" }) });
  assertStringIncludes(
    text,
    "  1. filter FORWARD: passes KUBE-PROXY-FIREWALL, KUBE-FORWARD (no rule there matches)\n" +
      "  2. filter FORWARD: jump KUBE-SERVICES\n       -A FORWARD -j X\n  3. filter KUBE-SERVICES: REJECT\n",
  );
  // JSON keeps every hop.
  assertEquals(
    JSON.parse(renderTraceJson({ trace: result([b]) })).trace.branches[0].hops.length,
    4,
  );
});

Deno.test("renderTraceJson() writes the report as one parseable document", () => {
  const report: TraceReport = {
    requested: "db.ns1:pg",
    trace: result([branch(1, "10.244.1.7", false)]),
  };
  const text = renderTraceJson(report);
  assert(text.endsWith("}\n"));
  assertEquals(JSON.parse(text), JSON.parse(JSON.stringify(report)));
  assertEquals(JSON.parse(text).trace.endpoints, [{
    destination: "10.244.1.7:5432",
    share: 1,
    masqueraded: false,
  }]);
});
