import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { buildRuleSet, masqueradeMarkFor, probability } from "./rules.ts";
import { renderRestoreInput } from "./render.ts";
import { makeEndpoint, makeEndpointSlice } from "../../tests/fixtures.ts";
import {
  assertGolden,
  checkRuleJumps,
  overallServices,
  renderState,
  slice,
  stateOf,
  svc,
  tcpPort,
  TEST_OPTIONS,
} from "./test_helpers.ts";

Deno.test("buildRuleSet() writes upstream's overall rule set", async () => {
  const { services, slices } = overallServices();
  const text = renderState(stateOf(services, slices));
  assertEquals(checkRuleJumps(text), []);
  // testdata/overall.txt equals the expected text of upstream's TestOverallIPTablesRules (same
  // six services), normalized; it was checked line by line against it.
  await assertGolden("overall", text);
  // Lines quoted verbatim from upstream's expected output.
  for (
    const line of [
      `-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK`,
      `-A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ`,
      `-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`,
      `-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC`,
      `-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ`,
      `-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ`,
      `-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80`,
      `-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-GNZBNJ2PO5MGZ6GT`,
      `-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP`,
      `-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT`,
      `-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT`,
      `-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C`,
      `-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"`,
      `-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP`,
      `-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN`,
      `-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80`,
      `-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT`,
      `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`,
      `-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP`,
      `-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN`,
    ]
  ) assertStringIncludes(text, line + "\n");
});

Deno.test("masqueradeMarkFor() and probability() format as upstream", () => {
  assertEquals(masqueradeMarkFor(14), "0x00004000");
  assertEquals(masqueradeMarkFor(0), "0x00000001");
  assertEquals(probability(1), "1.0000000000");
  assertEquals(probability(3), "0.3333333333");
  assertEquals(probability(10), "0.1000000000");
  assertEquals(probability(100000), "0.0000100000");
  assertEquals(probability(100001), "0.0000099999");
});

Deno.test("buildRuleSet() is pure: the same state gives the same text", () => {
  const { services, slices } = overallServices();
  assertEquals(renderState(stateOf(services, slices)), renderState(stateOf(services, slices)));
});

Deno.test("buildRuleSet() drops comments from SVC and SEP rules in large clusters", () => {
  const ips = Array.from({ length: 5 }, (_, i) => `10.0.0.${i}`);
  const state = stateOf([svc("ns1", "svc1", "172.30.0.41")], [slice("ns1", "svc1", ips)]);
  const rs = buildRuleSet(state, { ...TEST_OPTIONS, largeClusterEndpointsThreshold: 4 });
  assert(rs.largeClusterMode);
  assert(rs.natRules.includes(
    "-A KUBE-SEP-DKGQUZGBKLTPAR56 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80",
  ));
  assert(rs.natRules.some((r) => r.startsWith("-A KUBE-SVC-XPGD46QRK7WJZT7O -m statistic")));
});

Deno.test("buildRuleSet() counts the lines of services a partial sync skips exactly", () => {
  const { services, slices } = overallServices();
  // Variants: eTP Local with pods on this node, LoadBalancer source range holding the node IP.
  services.push(
    svc("ns7", "svc7", "172.30.0.47", (s) => {
      s.type = "LoadBalancer";
      s.ports = [tcpPort(80, 3007)];
      s.loadBalancerIngress = [{ ip: "5.6.7.9", ipMode: "VIP" }, { ip: "5.6.7.10", ipMode: "VIP" }];
      s.loadBalancerSourceRanges = ["192.168.0.0/16", "203.0.113.0/25"];
      s.externalTrafficPolicy = "Local";
      s.internalTrafficPolicy = "Local";
      s.sessionAffinity = "ClientIP";
    }),
  );
  slices.push(makeEndpointSlice("ns7", "svc7", 1, (sl) => {
    sl.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
    sl.endpoints = [
      makeEndpoint("10.180.0.7", (e) => {
        e.nodeName = "test-node";
      }),
      makeEndpoint("10.180.0.8"),
    ];
  }));
  const state = stateOf(services, slices);
  for (
    const opts of [
      TEST_OPTIONS,
      { ...TEST_OPTIONS, masqueradeAll: true },
      { ...TEST_OPTIONS, localDetector: { mode: "None" as const } },
    ]
  ) {
    const full = buildRuleSet(state, opts);
    for (const updated of [new Set<string>(), new Set(["ns2/svc2", "ns7/svc7"])]) {
      const partial = buildRuleSet(state, { ...opts, updatedServices: updated });
      const built = buildRuleSet(state, {
        ...opts,
        updatedServices: updated,
        verifySkippedLineCounts: true,
      });
      assertEquals(partial.counts, built.counts);
      assertEquals(partial.counts.natTotal, full.counts.nat);
      assertEquals(
        renderState(state, { ...opts, updatedServices: updated }),
        renderRestoreInput(built),
      );
    }
  }
});

Deno.test("buildRuleSet() in large clusters drops only the SVC->SEP and SEP comments", () => {
  const ips = Array.from({ length: 5 }, (_, i) => `10.0.0.${i}`);
  const service = svc("ns1", "svc1", "172.30.0.41", (s) => {
    s.sessionAffinity = "ClientIP";
  });
  const state = stateOf([service], [slice("ns1", "svc1", ips)]);
  const text = renderRestoreInput(
    buildRuleSet(state, { ...TEST_OPTIONS, largeClusterEndpointsThreshold: 4 }),
  );
  const lines = text.split("\n");
  const sep = lines.filter((l) => l.startsWith("-A KUBE-SEP-"));
  const toSep = lines.filter((l) => l.startsWith("-A KUBE-SVC-") && l.includes("-j KUBE-SEP-"));
  assertEquals([sep.length, toSep.length], [10, 10]); // masquerade + DNAT; affinity + balancing
  for (const l of [...sep, ...toSep]) assert(!l.includes("-m comment"), l);
  // The capture rules and the SVC chain's masquerade rule keep theirs.
  assertStringIncludes(
    text,
    `-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ\n`,
  );
  assertStringIncludes(
    text,
    `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O\n`,
  );
});
