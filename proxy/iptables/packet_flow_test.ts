/**
 * Packet-flow tests: rule sets for each feature of issue 4 section 2, restored into FakeIptables
 * and traced with tracePacket(), in the shape of upstream's runPacketFlowTests tables.
 */
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { makeEndpoint, makeEndpointSlice, makeService } from "../../tests/fixtures.ts";
import { FakeIptables } from "./fake.ts";
import { buildRuleSet } from "./rules.ts";
import { renderRestoreInput } from "./render.ts";
import { tracePacket } from "./tracer.ts";
import {
  assertGolden,
  checkRuleJumps,
  overallServices,
  renderState,
  runPacketFlowTests,
  slice,
  stateOf,
  svc,
  tcpPort,
  TEST_OPTIONS,
} from "./test_helpers.ts";

const LOCAL = "test-node";

Deno.test("buildRuleSet() routes every kind of traffic of the overall scenario", async () => {
  const { services, slices } = overallServices();
  await runPacketFlowTests(renderState(stateOf(services, slices)), [
    {
      name: "pod to cluster IP",
      sourceIP: "10.0.0.2",
      destIP: "172.30.0.41",
      destPort: 80,
      output: "10.180.0.1:80",
      masq: false,
    },
    {
      name: "node to cluster IP",
      sourceIP: "192.168.0.2",
      destIP: "172.30.0.41",
      destPort: 80,
      output: "10.180.0.1:80",
      masq: true,
    },
    {
      name: "hairpin to cluster IP",
      sourceIP: "10.180.0.1",
      destIP: "172.30.0.41",
      destPort: 80,
      output: "10.180.0.1:80",
      masq: true,
    },
    {
      name: "wrong port to cluster IP",
      sourceIP: "10.0.0.2",
      destIP: "172.30.0.41",
      destPort: 81,
      output: "",
      masq: false,
    },
    {
      name: "external to LB eTP Local without local endpoints",
      sourceIP: "203.0.113.1",
      destIP: "1.2.3.4",
      destPort: 80,
      output: "DROP",
      masq: false,
    },
    {
      name: "pod to LB eTP Local is short-circuited",
      sourceIP: "10.0.0.2",
      destIP: "1.2.3.4",
      destPort: 80,
      output: "10.180.0.2:80",
      masq: false,
    },
    {
      name: "node to LB eTP Local",
      sourceIP: "192.168.0.2",
      destIP: "1.2.3.4",
      destPort: 80,
      output: "10.180.0.2:80",
      masq: true,
    },
    {
      name: "external to externalIP eTP Local without local endpoints",
      sourceIP: "203.0.113.1",
      destIP: "192.168.99.22",
      destPort: 80,
      output: "DROP",
      masq: false,
    },
    {
      name: "external to NodePort eTP Local without local endpoints",
      sourceIP: "203.0.113.1",
      destIP: "192.168.0.2",
      destPort: 3001,
      output: "DROP",
      masq: false,
    },
    {
      name: "external to NodePort",
      sourceIP: "203.0.113.1",
      destIP: "192.168.0.2",
      destPort: 3003,
      output: "10.180.0.3:80",
      masq: true,
    },
    {
      name: "external to NodePort on secondary node IP",
      sourceIP: "203.0.113.1",
      destIP: "192.168.1.2",
      destPort: 3003,
      output: "10.180.0.3:80",
      masq: true,
    },
    {
      name: "localhost to NodePort",
      sourceIP: "127.0.0.1",
      destIP: "127.0.0.1",
      destPort: 3003,
      output: "10.180.0.3:80",
      masq: true,
    },
    {
      name: "external to externalIP with two endpoints",
      sourceIP: "203.0.113.1",
      destIP: "192.168.99.33",
      destPort: 80,
      output: "10.180.0.4:80, 10.180.0.5:80",
      masq: true,
    },
    {
      name: "LB with source ranges, allowed source",
      sourceIP: "203.0.113.1",
      destIP: "5.6.7.8",
      destPort: 80,
      output: "10.180.0.3:80",
      masq: true,
    },
    {
      name: "LB with source ranges, other source",
      sourceIP: "203.0.113.200",
      destIP: "5.6.7.8",
      destPort: 80,
      output: "DROP",
      masq: false,
    },
    {
      name: "pod to LB with source ranges not covering pods",
      sourceIP: "10.0.0.2",
      destIP: "5.6.7.8",
      destPort: 80,
      output: "DROP",
      masq: false,
    },
    {
      name: "nodePort bypasses LoadBalancerSourceRanges",
      sourceIP: "203.0.113.200",
      destIP: "192.168.0.2",
      destPort: 3002,
      output: "10.180.0.3:80",
      masq: true,
    },
    {
      name: "cluster IP without endpoints",
      sourceIP: "10.0.0.2",
      destIP: "172.30.0.46",
      destPort: 80,
      output: "REJECT",
      masq: false,
    },
  ]);
});

Deno.test("buildRuleSet() masquerades per masqueradeAll and every detectLocalMode", async () => {
  const state = stateOf([svc("ns1", "svc1", "172.30.0.41")], [
    slice("ns1", "svc1", ["10.180.0.1"]),
  ]);
  const flow = (sourceIP: string, masq: boolean, inInterface?: string) => ({
    name: `${sourceIP} via ${inInterface ?? "-"}`,
    sourceIP,
    destIP: "172.30.0.41",
    destPort: 80,
    inInterface,
    output: "10.180.0.1:80",
    masq,
  });
  await runPacketFlowTests(renderState(state, { masqueradeAll: true }), [flow("10.0.0.2", true)]);
  await runPacketFlowTests(
    renderState(state, { localDetector: { mode: "NodeCIDR", cidr: "10.0.1.0/24" } }),
    [flow("10.0.1.5", false), flow("10.0.0.2", true)],
  );
  const bridge = renderState(state, {
    localDetector: { mode: "BridgeInterface", interfaceName: "cbr0" },
  });
  assertStringIncludes(bridge, "! -i cbr0 -j KUBE-MARK-MASQ");
  await runPacketFlowTests(bridge, [
    flow("10.0.0.2", false, "cbr0"),
    flow("10.0.0.2", true, "eth0"),
  ]);
  const prefix = renderState(state, {
    localDetector: { mode: "InterfaceNamePrefix", interfacePrefix: "veth" },
  });
  assertStringIncludes(prefix, "! -i veth+ -j KUBE-MARK-MASQ");
  await runPacketFlowTests(prefix, [flow("10.0.0.2", false, "veth12"), flow("1.1.1.1", true)]);
  // No detector (no cluster CIDR for the family): nothing masquerades traffic to a cluster IP.
  const none = renderState(state, { localDetector: { mode: "None" } });
  assertEquals(checkRuleJumps(none), []);
  await runPacketFlowTests(none, [flow("192.168.0.2", false), flow("10.180.0.1", true)]);
});

function localSlice(ns: string, name: string, local: string[], remote: string[]) {
  return makeEndpointSlice(ns, name, 1, (s) => {
    s.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
    s.endpoints = [
      ...local.map((ip) =>
        makeEndpoint(ip, (e) => {
          e.nodeName = LOCAL;
        })
      ),
      ...remote.map((ip) =>
        makeEndpoint(ip, (e) => {
          e.nodeName = "other-node";
        })
      ),
    ];
  });
}

Deno.test("buildRuleSet() sends internalTrafficPolicy Local traffic to local endpoints", async () => {
  const itp = svc("ns1", "svc1", "172.30.1.1", (s) => {
    s.internalTrafficPolicy = "Local";
  });
  let text = renderState(
    stateOf([itp], [localSlice("ns1", "svc1", ["10.180.0.1"], ["10.180.2.1"])], "IPv4", LOCAL),
  );
  assertEquals(checkRuleJumps(text), []);
  await assertGolden("itp_local", text);
  await runPacketFlowTests(text, [
    {
      name: "pod to cluster IP with iTP Local",
      sourceIP: "10.0.0.2",
      destIP: "172.30.1.1",
      destPort: 80,
      output: "10.180.0.1:80",
      masq: false,
    },
    {
      name: "node to cluster IP with iTP Local",
      sourceIP: "192.168.0.2",
      destIP: "172.30.1.1",
      destPort: 80,
      output: "10.180.0.1:80",
      masq: true,
    },
  ]);
  text = renderState(stateOf([itp], [localSlice("ns1", "svc1", [], ["10.180.2.1"])]));
  assertStringIncludes(
    text,
    `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j DROP`,
  );
  await runPacketFlowTests(text, [{
    name: "no local endpoints with iTP Local",
    sourceIP: "10.0.0.2",
    destIP: "172.30.1.1",
    destPort: 80,
    output: "DROP",
    masq: false,
  }]);
});

Deno.test("buildRuleSet() sends externalTrafficPolicy Local traffic to local endpoints", async () => {
  const etp = svc("ns2", "svc2", "172.30.0.42", (s) => {
    s.type = "LoadBalancer";
    s.ports = [tcpPort(80, 3001)];
    s.loadBalancerIngress = [{ ip: "1.2.3.4", ipMode: "VIP" }, { ip: "1.2.3.5", ipMode: "Proxy" }];
    s.externalTrafficPolicy = "Local";
    s.healthCheckNodePort = 30000;
  });
  const state = stateOf(
    [etp],
    [localSlice("ns2", "svc2", ["10.180.0.2"], ["10.180.1.2"])],
    "IPv4",
    LOCAL,
  );
  const text = renderState(state);
  assertEquals(checkRuleJumps(text), []);
  await assertGolden("etp_local", text);
  const rs = buildRuleSet(state, TEST_OPTIONS);
  assertEquals(rs.noLocalEndpoints, { internal: 0, external: 0 });
  await runPacketFlowTests(text, [
    {
      name: "external to LB with eTP Local",
      sourceIP: "203.0.113.1",
      destIP: "1.2.3.4",
      destPort: 80,
      output: "10.180.0.2:80",
      masq: false,
    },
    {
      name: "external to NodePort with eTP Local",
      sourceIP: "203.0.113.1",
      destIP: "192.168.0.2",
      destPort: 3001,
      output: "10.180.0.2:80",
      masq: false,
    },
    {
      name: "pod to LB with eTP Local reaches all endpoints",
      sourceIP: "10.0.0.2",
      destIP: "1.2.3.4",
      destPort: 80,
      output: "10.180.0.2:80, 10.180.1.2:80",
      masq: false,
    },
    {
      name: "node to NodePort with eTP Local",
      sourceIP: "192.168.0.2",
      destIP: "192.168.0.2",
      destPort: 3001,
      output: "10.180.0.2:80, 10.180.1.2:80",
      masq: true,
    },
    {
      name: "firewall accepts HealthCheckNodePort",
      sourceIP: "1.2.3.4",
      destIP: "192.168.0.2",
      destPort: 30000,
      output: "ACCEPT",
      masq: false,
    },
    {
      name: "LB IP with ipMode Proxy is not captured",
      sourceIP: "203.0.113.1",
      destIP: "1.2.3.5",
      destPort: 80,
      output: "",
      masq: false,
    },
  ]);
});

Deno.test("buildRuleSet() falls back to serving terminating endpoints", async () => {
  const s = svc("ns1", "svc1", "172.30.0.41", (s) => {
    s.type = "LoadBalancer";
    s.ports = [tcpPort(80, 3001)];
    s.loadBalancerIngress = [{ ip: "1.2.3.4", ipMode: "VIP" }];
    s.externalTrafficPolicy = "Local";
  });
  const terminating = makeEndpointSlice("ns1", "svc1", 1, (sl) => {
    sl.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
    sl.endpoints = [
      makeEndpoint("10.0.1.5", (e) => {
        e.ready = false;
        e.terminating = true;
        e.nodeName = "other-node";
      }),
      makeEndpoint("10.0.1.6", (e) => {
        e.ready = false;
        e.serving = false;
        e.terminating = true;
      }),
    ];
  });
  await runPacketFlowTests(renderState(stateOf([s], [terminating], "IPv4", LOCAL)), [
    {
      name: "pod to cluster IP uses the serving terminating endpoint",
      sourceIP: "10.0.0.2",
      destIP: "172.30.0.41",
      destPort: 80,
      output: "10.0.1.5:80",
      masq: false,
    },
    {
      name: "external to LB has endpoints but none local",
      sourceIP: "203.0.113.1",
      destIP: "1.2.3.4",
      destPort: 80,
      output: "DROP",
      masq: false,
    },
  ]);
  const notServing = { ...terminating, endpoints: [terminating.endpoints[1]] };
  await runPacketFlowTests(renderState(stateOf([s], [notServing], "IPv4", LOCAL)), [{
    name: "only non-serving endpoints",
    sourceIP: "203.0.113.1",
    destIP: "1.2.3.4",
    destPort: 80,
    output: "REJECT",
    masq: false,
  }]);
});

Deno.test("buildRuleSet() follows topology hints for this node's zone", async () => {
  const hinted = makeEndpointSlice("ns1", "svc1", 1, (sl) => {
    sl.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
    sl.endpoints = ["a", "b", "a"].map((zone, i) =>
      makeEndpoint(`10.180.0.${i + 1}`, (e) => {
        e.hints = { forZones: [zone], forNodes: [] };
      })
    );
  });
  const state = stateOf([svc("ns1", "svc1", "172.30.0.41")], [hinted]);
  const text = renderRestoreInput(
    buildRuleSet(state, { ...TEST_OPTIONS, nodeLabels: { "topology.kubernetes.io/zone": "a" } }),
  );
  assertEquals(checkRuleJumps(text), []);
  await runPacketFlowTests(text, [{
    name: "zone hints",
    sourceIP: "10.0.0.2",
    destIP: "172.30.0.41",
    destPort: 80,
    output: "10.180.0.1:80, 10.180.0.3:80",
    masq: false,
  }]);
});

Deno.test("buildRuleSet() handles multiple ports over TCP, UDP and SCTP", async () => {
  const multi = makeService("ns1", "multi", (s) => {
    s.type = "NodePort";
    s.clusterIPs = ["172.30.0.50"];
    s.ports = [
      { name: "http", protocol: "TCP", port: 80, targetPort: "web", nodePort: 3080 },
      { name: "dns", protocol: "UDP", port: 53, targetPort: 5353, nodePort: 3053 },
      { name: "sig", protocol: "SCTP", port: 7777, targetPort: 7777, nodePort: 0 },
    ];
  });
  const sl = makeEndpointSlice("ns1", "multi", 1, (s) => {
    // The named targetPort "web" resolves to 8080 through the slice port.
    s.ports = [
      { name: "http", protocol: "TCP", port: 8080 },
      { name: "dns", protocol: "UDP", port: 5353 },
      { name: "sig", protocol: "SCTP", port: 7777 },
    ];
    s.endpoints = [makeEndpoint("10.180.0.7")];
  });
  const text = renderState(stateOf([multi], [sl]));
  assertEquals(checkRuleJumps(text), []);
  await assertGolden("multi_protocol", text);
  const flow = (protocol: string, destPort: number, output: string, destIP = "172.30.0.50") => ({
    name: `${protocol} ${destIP}:${destPort}`,
    sourceIP: "10.0.0.2",
    destIP,
    destPort,
    protocol,
    output,
    masq: destIP !== "172.30.0.50",
  });
  await runPacketFlowTests(text, [
    flow("tcp", 80, "10.180.0.7:8080"),
    flow("udp", 53, "10.180.0.7:5353"),
    flow("sctp", 7777, "10.180.0.7:7777"),
    flow("udp", 80, ""),
    flow("udp", 3053, "10.180.0.7:5353", "192.168.0.2"),
    flow("tcp", 3080, "10.180.0.7:8080", "192.168.0.2"),
  ]);
});

Deno.test("buildRuleSet() writes ClientIP affinity with the configured timeout", async () => {
  const sticky = svc("ns1", "svc1", "172.30.0.41", (s) => {
    s.sessionAffinity = "ClientIP";
    s.sessionAffinityTimeoutSeconds = 300;
  });
  const text = renderState(stateOf([sticky], [slice("ns1", "svc1", ["10.180.0.1", "10.180.0.2"])]));
  assertStringIncludes(
    text,
    `-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m recent --name KUBE-SEP-`,
  );
  assertStringIncludes(text, "--rcheck --seconds 300 --reap -j KUBE-SEP-");
  assertEquals((text.match(/ --set /g) ?? []).length, 2);
  await runPacketFlowTests(text, [{
    name: "first packet with affinity",
    sourceIP: "10.0.0.2",
    destIP: "172.30.0.41",
    destPort: 80,
    output: "10.180.0.1:80, 10.180.0.2:80",
    masq: false,
  }]);
});

Deno.test("buildRuleSet() restricts NodePorts to nodePortAddresses and localhost setting", async () => {
  const np = svc("ns3", "svc3", "172.30.0.43", (s) => {
    s.type = "NodePort";
    s.ports = [tcpPort(80, 3003)];
  });
  const state = stateOf([np], [slice("ns3", "svc3", ["10.180.0.3"])]);
  const flow = (destIP: string, output: string) => ({
    name: `NodePort on ${destIP}`,
    sourceIP: "203.0.113.1",
    destIP,
    destPort: 3003,
    output,
    masq: output !== "",
  });
  const restricted = renderState(state, {
    nodePortIPs: ["192.168.0.2", "127.0.0.1"],
    localhostNodePorts: false,
  });
  assertStringIncludes(
    restricted,
    `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.168.0.2 -j KUBE-NODEPORTS\n`,
  );
  assert(!restricted.includes("-d 127.0.0.1 -j KUBE-NODEPORTS"));
  assert(!restricted.includes("KUBE-FIREWALL"));
  await runPacketFlowTests(restricted, [
    flow("192.168.0.2", "10.180.0.3:80"),
    flow("192.168.1.2", ""),
    flow("127.0.0.1", ""),
  ]);
  const noLocalhost = renderState(state, { localhostNodePorts: false });
  assertStringIncludes(
    noLocalhost,
    "-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS",
  );
  await runPacketFlowTests(noLocalhost, [
    flow("192.168.1.2", "10.180.0.3:80"),
    flow("127.0.0.1", ""),
  ]);
});

Deno.test("buildRuleSet() writes an IPv6 rule set with that family's addresses", async () => {
  const dual = makeService("ns1", "svc1", (s) => {
    s.type = "NodePort";
    s.clusterIPs = ["172.30.0.41", "fd00:30::41"];
    s.ipFamilies = ["IPv4", "IPv6"];
    s.ports = [tcpPort(80, 3001)];
    s.externalIPs = ["192.168.99.11", "2001:db8::11"];
  });
  const v6slice = makeEndpointSlice("ns1", "svc1", 2, (s) => {
    s.addressType = "IPv6";
    s.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
    s.endpoints = [makeEndpoint("fd00:180::1")];
  });
  const v4slice = slice("ns1", "svc1", ["10.180.0.1"]);
  const opts = {
    family: "IPv6" as const,
    localDetector: { mode: "ClusterCIDR" as const, cidr: "fd00:10::/64" },
    nodeIP: "2001:db8::2",
  };
  const text = renderState(stateOf([dual], [v4slice, v6slice], "IPv6"), opts);
  assertEquals(checkRuleJumps(text), []);
  assert(
    !text.includes("10.180.0.1") && !text.includes("172.30") && !text.includes("KUBE-FIREWALL"),
  );
  await assertGolden("ipv6", text);
  await runPacketFlowTests(
    text,
    [
      {
        name: "pod to IPv6 cluster IP",
        sourceIP: "fd00:10::2",
        destIP: "fd00:30::41",
        destPort: 80,
        output: "[fd00:180::1]:80",
        masq: false,
      },
      {
        name: "external to IPv6 externalIP",
        sourceIP: "2001:db8:1::1",
        destIP: "2001:db8::11",
        destPort: 80,
        output: "[fd00:180::1]:80",
        masq: true,
      },
      {
        name: "IPv6 NodePort",
        sourceIP: "2001:db8:1::1",
        destIP: "2001:db8::2",
        destPort: 3001,
        output: "[fd00:180::1]:80",
        masq: true,
      },
      {
        name: "IPv6 localhost NodePort never works",
        sourceIP: "::1",
        destIP: "::1",
        destPort: 3001,
        output: "",
        masq: false,
      },
    ],
    "IPv6",
    ["2001:db8::2"],
  );
});

Deno.test("buildRuleSet() redirects cluster DNS service IPs to the node-local responder", async () => {
  const dns = makeService("kube-system", "kube-dns", (s) => {
    s.clusterIPs = ["172.30.0.10"];
    s.ports = [
      { name: "dns", protocol: "UDP", port: 53, targetPort: 53, nodePort: 0 },
      { name: "dns-tcp", protocol: "TCP", port: 53, targetPort: 53, nodePort: 0 },
    ];
  });
  const text = renderState(stateOf([dns], []), {
    dnsIntercept: { serviceIPs: ["172.30.0.10", "fd00:30::10"], port: 5353 },
  });
  assertEquals(checkRuleJumps(text), []);
  await assertGolden("dns_intercept", text);
  // The jump is the first rule of nat KUBE-SERVICES.
  const nat = text.slice(text.indexOf("*nat"));
  const natServices = nat.split("\n").filter((l) => l.startsWith("-A KUBE-SERVICES -m comment"));
  assertStringIncludes(natServices[0], "-j KUBE-DNS-INTERCEPT");
  const flow = (protocol: string, destPort: number, output: string) => ({
    name: `DNS ${protocol} ${destPort}`,
    sourceIP: "10.0.0.2",
    destIP: "172.30.0.10",
    destPort,
    protocol,
    output,
    masq: false,
  });
  await runPacketFlowTests(text, [
    flow("udp", 53, "REDIRECT:5353"),
    flow("tcp", 53, "REDIRECT:5353"),
    flow("tcp", 80, ""),
  ]);
});

Deno.test("buildRuleSet() omits the INVALID drop rule with tcpBeLiberal", () => {
  const state = stateOf([], []);
  assert(renderState(state).includes("--ctstate INVALID"));
  assert(!renderState(state, { tcpBeLiberal: true }).includes("--ctstate INVALID"));
  assertStringIncludes(
    renderState(state, { randomFully: true }),
    `-j MASQUERADE --random-fully\n`,
  );
});

Deno.test("buildRuleSet() partial sync rewrites only changed services and deletes stale chains", async () => {
  const { services, slices } = overallServices();
  const fake = new FakeIptables();
  await fake.restore(renderState(stateOf(services, slices)), { noflush: true });
  const before = fake.chains("nat");
  // svc4 loses an endpoint, svc3 is deleted.
  const slices2 = slices.filter((s) => s.serviceName !== "svc3").map((s) =>
    s.serviceName === "svc4" ? slice("ns4", "svc4", ["10.180.0.4"]) : s
  );
  const services2 = services.filter((s) => s.name !== "svc3");
  const rs = buildRuleSet(stateOf(services2, slices2), {
    ...TEST_OPTIONS,
    updatedServices: new Set(["ns3/svc3", "ns4/svc4"]),
    existingNatChains: before,
  });
  const text = renderRestoreInput(rs);
  await assertGolden("partial_sync", text);
  // Unchanged services' chains are not in the input.
  assert(!text.includes(":KUBE-SVC-XPGD46QRK7WJZT7O"));
  assert(text.includes(`-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP"`));
  assertEquals(rs.deletedChains, [
    "KUBE-EXT-X27LE4BHSL4DOUIK",
    "KUBE-SEP-C6EBXVWJJZMIWKLZ",
    "KUBE-SEP-OYPFS5VJICHGATKP",
    "KUBE-SVC-X27LE4BHSL4DOUIK",
  ]);
  assert(rs.counts.natTotal > rs.counts.nat);
  await fake.restore(text, { noflush: true });
  for (const chain of rs.deletedChains) assertEquals(fake.rules("nat", chain), undefined);
  const flows = [
    ["172.30.0.41", "10.180.0.1:80"],
    ["172.30.0.44", "10.180.0.4:80"],
    ["172.30.0.43", ""],
  ];
  for (const [destIP, output] of flows) {
    const r = tracePacket(fake, { sourceIP: "10.0.0.2", destIP, destPort: 80 });
    assertEquals(r.output, output, destIP);
  }
  // The resulting kernel state equals a full sync of the new state.
  const full = new FakeIptables();
  await full.restore(renderState(stateOf(services2, slices2)), { noflush: true });
  assertEquals(fake.dump("nat"), full.dump("nat"));
  assertEquals(fake.dump("filter"), full.dump("filter"));
});
