/**
 * traceRules() table tests: the flows of the packet-flow tests' overall scenario, traced three
 * ways: over the restore input the proxier writes (kube-proxy's jumps assumed, as the packet-flow
 * tests do), and over what `iptables-nft-save` and `iptables-legacy-save` print once the kernel
 * holds those rules plus the jumps (testdata/overall_saved_*.txt, captured from a scratch network
 * namespace; the `-m nfacct` counters were left out because the namespace had no nfacct objects).
 * All three must agree on verdict, endpoints, shares and masquerading.
 */
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { FakeIptables } from "./fake.ts";
import {
  overallServices,
  renderState,
  slice,
  stateOf,
  svc,
  TEST_NODE_IPS,
} from "./test_helpers.ts";
import { type RuleTables, traceRules } from "./tracer.ts";
import type { TraceOutcome, TraceResult } from "../trace/trace_result.ts";

function assertAlmostEquals(actual: number, expected: number, epsilon: number, msg?: string) {
  assert(Math.abs(actual - expected) <= epsilon, `${msg ?? ""}: ${actual} is not ${expected}`);
}

interface FlowRow {
  readonly name: string;
  readonly sourceIP: string;
  readonly destIP: string;
  readonly destPort: number;
  readonly outcome: TraceOutcome;
  readonly hook: "PREROUTING" | "OUTPUT";
  /** Destinations with their shares. */
  readonly endpoints?: readonly (readonly [string, number])[];
  readonly masq?: boolean;
  /** A word of the masquerade reason, or of the deciding rule's comment. */
  readonly why?: string;
}

const FLOWS: readonly FlowRow[] = [
  {
    name: "pod to cluster IP",
    sourceIP: "10.0.0.2",
    destIP: "172.30.0.41",
    destPort: 80,
    outcome: "delivered",
    hook: "PREROUTING",
    endpoints: [["10.180.0.1:80", 1]],
    masq: false,
    why: "local pod network",
  },
  {
    name: "node to cluster IP",
    sourceIP: "192.168.0.2",
    destIP: "172.30.0.41",
    destPort: 80,
    outcome: "delivered",
    hook: "OUTPUT",
    endpoints: [["10.180.0.1:80", 1]],
    masq: true,
    why: "outside the pod network",
  },
  {
    name: "hairpin to cluster IP",
    sourceIP: "10.180.0.1",
    destIP: "172.30.0.41",
    destPort: 80,
    outcome: "delivered",
    hook: "PREROUTING",
    endpoints: [["10.180.0.1:80", 1]],
    masq: true,
    why: "hairpin",
  },
  {
    name: "wrong port to cluster IP",
    sourceIP: "10.0.0.2",
    destIP: "172.30.0.41",
    destPort: 81,
    outcome: "no-rule",
    hook: "PREROUTING",
  },
  {
    name: "external to LB eTP Local without local endpoints",
    sourceIP: "203.0.113.1",
    destIP: "1.2.3.4",
    destPort: 80,
    outcome: "dropped",
    hook: "PREROUTING",
    why: "has no local endpoints",
  },
  {
    name: "pod to LB eTP Local is short-circuited",
    sourceIP: "10.0.0.2",
    destIP: "1.2.3.4",
    destPort: 80,
    outcome: "delivered",
    hook: "PREROUTING",
    endpoints: [["10.180.0.2:80", 1]],
    masq: false,
  },
  {
    name: "external to NodePort eTP Local without local endpoints",
    sourceIP: "203.0.113.1",
    destIP: "192.168.0.2",
    destPort: 3001,
    outcome: "dropped",
    hook: "PREROUTING",
    why: "has no local endpoints",
  },
  {
    name: "external to NodePort",
    sourceIP: "203.0.113.1",
    destIP: "192.168.0.2",
    destPort: 3003,
    outcome: "delivered",
    hook: "PREROUTING",
    endpoints: [["10.180.0.3:80", 1]],
    masq: true,
    why: "externalTrafficPolicy Cluster",
  },
  {
    name: "localhost to NodePort",
    sourceIP: "127.0.0.1",
    destIP: "127.0.0.1",
    destPort: 3003,
    outcome: "delivered",
    hook: "OUTPUT",
    endpoints: [["10.180.0.3:80", 1]],
    masq: true,
  },
  {
    name: "external to externalIP with two endpoints",
    sourceIP: "203.0.113.1",
    destIP: "192.168.99.33",
    destPort: 80,
    outcome: "delivered",
    hook: "PREROUTING",
    endpoints: [["10.180.0.4:80", 0.5], ["10.180.0.5:80", 0.5]],
    masq: true,
    why: "externalTrafficPolicy Cluster",
  },
  {
    name: "LB with source ranges, allowed source",
    sourceIP: "203.0.113.1",
    destIP: "5.6.7.8",
    destPort: 80,
    outcome: "delivered",
    hook: "PREROUTING",
    endpoints: [["10.180.0.3:80", 1]],
    masq: true,
  },
  {
    name: "LB with source ranges, other source",
    sourceIP: "203.0.113.200",
    destIP: "5.6.7.8",
    destPort: 80,
    outcome: "dropped",
    hook: "PREROUTING",
    why: "traffic not accepted by KUBE-FW-",
  },
  {
    name: "cluster IP without endpoints",
    sourceIP: "10.0.0.2",
    destIP: "172.30.0.46",
    destPort: 80,
    outcome: "rejected",
    hook: "PREROUTING",
    why: "has no endpoints",
  },
  {
    name: "firewall accepts HealthCheckNodePort",
    sourceIP: "1.2.3.4",
    destIP: "192.168.0.2",
    destPort: 30000,
    outcome: "delivered",
    hook: "PREROUTING",
    why: "health check node port",
  },
];

function trace(tables: RuleTables, row: FlowRow, assumeKubeJumps: boolean): TraceResult {
  return traceRules(tables, {
    sourceIP: row.sourceIP,
    destIP: row.destIP,
    destPort: row.destPort,
    protocol: "tcp",
    inInterface: "",
  }, { nodeIPs: TEST_NODE_IPS, ruleSource: "test", assumeKubeJumps });
}

function checkRow(r: TraceResult, row: FlowRow, how: string): void {
  const at = `${row.name} (${how})`;
  assertEquals(r.outcome, row.outcome, at);
  assertEquals(r.hook, row.hook, at);
  assertEquals(r.warnings, [], at);
  const total = r.branches.reduce((s, b) => s + b.probability, 0);
  assertAlmostEquals(total, 1, 1e-9, at);
  if (row.endpoints !== undefined) {
    assertEquals(r.endpoints.map((e) => e.destination), row.endpoints.map(([d]) => d), at);
    for (const [i, [, share]] of row.endpoints.entries()) {
      assertAlmostEquals(r.endpoints[i].share, share, 1e-6, at);
    }
  } else assertEquals(r.endpoints, [], at);
  if (row.masq !== undefined) {
    for (const b of r.branches) assertEquals(b.masquerade.masqueraded, row.masq, at);
  }
  if (row.why !== undefined) {
    const said = r.branches.map((b) =>
      `${b.masquerade.reason} | ${b.decidedBy?.comment ?? ""} | ${b.decidedBy?.rule ?? ""}`
    ).join("\n");
    assertStringIncludes(said, row.why, at);
  }
}

async function loaded(path: string): Promise<FakeIptables> {
  const fake = new FakeIptables("IPv4", "nft", { anyTarget: true });
  await fake.restore(await Deno.readTextFile(new URL(path, import.meta.url)));
  return fake;
}

Deno.test("traceRules() agrees on the overall flows over restore input and both backends' saves", async () => {
  const { services, slices } = overallServices();
  const restored = new FakeIptables();
  await restored.restore(renderState(stateOf(services, slices)), { noflush: true });
  const nft = await loaded("./testdata/overall_saved_nft.txt");
  const legacy = await loaded("./testdata/overall_saved_legacy.txt");
  for (const row of FLOWS) {
    checkRow(trace(restored, row, true), row, "restore input");
    checkRow(trace(nft, row, false), row, "iptables-nft-save");
    checkRow(trace(legacy, row, false), row, "iptables-legacy-save");
  }
});

Deno.test("traceRules() records each hop with its chain, comment, service and endpoint", async () => {
  const nft = await loaded("./testdata/overall_saved_nft.txt");
  const r = trace(nft, FLOWS[0], false);
  assertEquals(r.branches.length, 1);
  const hops = r.branches[0].hops;
  assertEquals(hops.map((h) => `${h.table} ${h.chain}: ${h.action}`), [
    "nat PREROUTING: jump KUBE-SERVICES",
    "nat KUBE-SERVICES: jump KUBE-SVC-XPGD46QRK7WJZT7O",
    "nat KUBE-SVC-XPGD46QRK7WJZT7O: jump KUBE-SEP-SXIVWICOYRO3J4NJ",
    "nat KUBE-SEP-SXIVWICOYRO3J4NJ: DNAT to 10.180.0.1:80",
    "filter FORWARD: jump KUBE-PROXY-FIREWALL",
    "filter FORWARD: jump KUBE-FORWARD",
    "filter FORWARD: jump KUBE-SERVICES",
    "filter FORWARD: jump KUBE-EXTERNAL-SERVICES",
    "nat POSTROUTING: jump KUBE-POSTROUTING",
    "nat KUBE-POSTROUTING: return",
  ]);
  assertEquals(hops[1].service, "ns1/svc1:p80");
  assertEquals(hops[1].comment, "ns1/svc1:p80 cluster IP");
  assertEquals(hops[2].endpoint, "10.180.0.1:80");
  assertEquals(r.branches[0].service, "ns1/svc1:p80");
  assertEquals(r.services, ["ns1/svc1:p80"]);
  // svc5 has ClientIP affinity: the trace says so.
  assertEquals(trace(nft, FLOWS[10], false).affinitySeconds, 10800);
});

Deno.test("traceRules() turns the statistic probabilities into equal shares", async () => {
  const ips = ["10.180.0.1", "10.180.0.2", "10.180.0.3"];
  const fake = new FakeIptables();
  await fake.restore(
    renderState(stateOf([svc("ns1", "svc1", "172.30.0.41")], [
      slice("ns1", "svc1", ips),
    ])),
    { noflush: true },
  );
  const r = trace(fake, { ...FLOWS[0], endpoints: undefined }, true);
  assertEquals(r.endpoints.map((e) => e.destination), ips.map((ip) => `${ip}:80`));
  for (const e of r.endpoints) assertAlmostEquals(e.share, 1 / 3, 1e-9);
  const probabilities = r.branches.map((b) =>
    b.hops.find((h) => h.chain.startsWith("KUBE-SVC-") && h.probability !== undefined)
      ?.probability
  );
  assertEquals(probabilities.slice(0, 2), [0.3333333333, 0.5]);
});

Deno.test("traceRules() reports an unknown rule shape in a KUBE- chain as uncertain", async () => {
  const nft = await loaded("./testdata/overall_saved_nft.txt");
  await nft.restore(
    "*nat\n-I KUBE-SVC-XPGD46QRK7WJZT7O -m set --match-set blocked src -j KUBE-MARK-MASQ\nCOMMIT\n",
    { noflush: true },
  );
  const r = trace(nft, FLOWS[0], false);
  assertEquals(r.outcome, "uncertain");
  assert(r.branches[0].hops.some((h) => h.unknown === true && h.action.includes("--match-set")));
  assertStringIncludes(r.warnings.join("\n"), "unknown rule shape");
  // The rest of the path is still followed.
  assertEquals(r.endpoints.map((e) => e.destination), ["10.180.0.1:80"]);
});

Deno.test("traceRules() follows only kube-proxy's jumps in built-in chains and says when they are missing", async () => {
  const nft = await loaded("./testdata/overall_saved_nft.txt");
  await nft.restore(
    "*nat\n:DOCKER - [0:0]\n-I PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n" +
      "-A DOCKER -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n",
    { noflush: true },
  );
  assertEquals(trace(nft, FLOWS[0], false).endpoints[0].destination, "10.180.0.1:80");
  const bare = new FakeIptables();
  await bare.restore(
    renderState(stateOf(...Object.values(overallServices()) as [
      ReturnType<typeof overallServices>["services"],
      ReturnType<typeof overallServices>["slices"],
    ])),
    { noflush: true },
  );
  const r = trace(bare, FLOWS[0], false);
  assertEquals(r.outcome, "no-rule");
  assertStringIncludes(
    r.warnings.join("\n"),
    "nat PREROUTING has no jump into kube-proxy's chains",
  );
});

/**
 * Rules as upstream kube-proxy before v1.28 wrote them for an externalTrafficPolicy Local
 * NodePort without local endpoints (iptables-save shape): KUBE-XLB instead of KUBE-EXT, and
 * KUBE-MARK-DROP plus kubelet's KUBE-FIREWALL instead of a filter DROP rule.
 */
const UPSTREAM_XLB = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-DROP - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-AAAAAAAAAAAAAAAA - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-BBBBBBBBBBBBBBBB - [0:0]
:KUBE-XLB-BBBBBBBBBBBBBBBB - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment "ns/web:http" -m tcp --dport 30080 -j KUBE-XLB-BBBBBBBBBBBBBBBB
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-AAAAAAAAAAAAAAAA -s 10.244.2.5/32 -m comment --comment "ns/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-AAAAAAAAAAAAAAAA -p tcp -m comment --comment "ns/web:http" -m tcp -j DNAT --to-destination 10.244.2.5:8080
-A KUBE-SERVICES -d 10.96.0.30/32 -p tcp -m comment --comment "ns/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-BBBBBBBBBBBBBBBB
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-BBBBBBBBBBBBBBBB ! -s 10.244.0.0/16 -d 10.96.0.30/32 -p tcp -m comment --comment "ns/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-BBBBBBBBBBBBBBBB -m comment --comment "ns/web:http" -j KUBE-SEP-AAAAAAAAAAAAAAAA
-A KUBE-XLB-BBBBBBBBBBBBBBBB -s 10.244.0.0/16 -m comment --comment "Redirect pods trying to reach external loadbalancer VIP to clusterIP" -j KUBE-SVC-BBBBBBBBBBBBBBBB
-A KUBE-XLB-BBBBBBBBBBBBBBBB -m comment --comment "masquerade LOCAL traffic for ns/web:http LB IP" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-XLB-BBBBBBBBBBBBBBBB -m comment --comment "route LOCAL traffic for ns/web:http LB IP to service chain" -m addrtype --src-type LOCAL -j KUBE-SVC-BBBBBBBBBBBBBBBB
-A KUBE-XLB-BBBBBBBBBBBBBBBB -m comment --comment "ns/web:http has no local endpoints" -j KUBE-MARK-DROP
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
-A INPUT -j KUBE-FIREWALL
-A OUTPUT -j KUBE-FIREWALL
-A KUBE-FIREWALL -m comment --comment "kubernetes firewall for dropping marked packets" -m mark --mark 0x8000/0x8000 -j DROP
COMMIT
`;

Deno.test("traceRules() reads older upstream rules: KUBE-XLB and KUBE-MARK-DROP", async () => {
  const fake = new FakeIptables("IPv4", "legacy", { anyTarget: true });
  await fake.restore(UPSTREAM_XLB);
  const packet = { destIP: "192.168.0.2", destPort: 30080, protocol: "tcp", inInterface: "eth0" };
  const opts = { nodeIPs: TEST_NODE_IPS, ruleSource: "upstream" };
  const outside = traceRules(fake, { ...packet, sourceIP: "203.0.113.9" }, opts);
  assertEquals([outside.outcome, outside.warnings], ["dropped", []]);
  assertEquals(outside.branches[0].decidedBy?.chain, "KUBE-FIREWALL");
  assert(outside.branches[0].hops.some((h) => h.comment === "ns/web:http has no local endpoints"));
  // From the node itself the same NodePort is served, masqueraded.
  const local = traceRules(fake, { ...packet, sourceIP: "192.168.0.2" }, opts);
  assertEquals(local.outcome, "delivered");
  assertEquals(local.endpoints, [
    { destination: "10.244.2.5:8080", share: 1, masqueraded: true },
  ]);
  assertStringIncludes(local.branches[0].masquerade.reason, "comes from the node itself");
});
