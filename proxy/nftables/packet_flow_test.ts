/**
 * Packet-flow tests of nftables mode: the flow tables of `proxy/iptables/packet_flow_test.ts`
 * (same scenarios, same rows), synced through `NftablesBackend` into `FakeNft` and traced with
 * `traceNftPacket()`. Rows differ only where upstream's nftables mode is specified to differ,
 * each marked `nftables:` with the reason.
 */
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { makeEndpoint, makeEndpointSlice, makeService } from "../../tests/fixtures.ts";
import {
  assertGolden,
  overallCluster,
  runFlows,
  slice80,
  syncOnce,
  tcp,
  TEST_NODE,
} from "./test_helpers.ts";

const LOCAL = TEST_NODE.name;
const row = (
  name: string,
  sourceIP: string,
  destIP: string,
  destPort: number,
  output: string,
  masq: boolean,
  extra: { protocol?: string; inInterface?: string } = {},
) => ({ name, sourceIP, destIP, destPort, output, masq, ...extra });

Deno.test("nftables mode routes every kind of traffic of the overall scenario", async () => {
  const { services, slices } = overallCluster();
  const { table, text } = await syncOnce(services, slices);
  await assertGolden("overall", text);
  runFlows(table, [
    row("pod to cluster IP", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80", false),
    row("node to cluster IP", "192.168.0.2", "172.30.0.41", 80, "10.180.0.1:80", true),
    row("hairpin to cluster IP", "10.180.0.1", "172.30.0.41", 80, "10.180.0.1:80", true),
    // nftables: traffic to an undefined port of a ClusterIP is rejected (cluster-ips-check).
    row("wrong port to cluster IP", "10.0.0.2", "172.30.0.41", 81, "REJECT", false),
    row(
      "external to LB eTP Local without local endpoints",
      "203.0.113.1",
      "1.2.3.4",
      80,
      "DROP",
      false,
    ),
    row(
      "pod to LB eTP Local is short-circuited",
      "10.0.0.2",
      "1.2.3.4",
      80,
      "10.180.0.2:80",
      false,
    ),
    row("node to LB eTP Local", "192.168.0.2", "1.2.3.4", 80, "10.180.0.2:80", true),
    row(
      "external to externalIP eTP Local without local endpoints",
      "203.0.113.1",
      "192.168.99.22",
      80,
      "DROP",
      false,
    ),
    row(
      "external to NodePort eTP Local without local endpoints",
      "203.0.113.1",
      "192.168.0.2",
      3001,
      "DROP",
      false,
    ),
    row("external to NodePort", "203.0.113.1", "192.168.0.2", 3003, "10.180.0.3:80", true),
    // nftables: empty nodePortAddresses means the primary node IP only, not every local address.
    row("external to NodePort on secondary node IP", "203.0.113.1", "192.168.1.2", 3003, "", false),
    // nftables: no localhost NodePorts.
    row("localhost to NodePort", "127.0.0.1", "127.0.0.1", 3003, "", false),
    row(
      "external to externalIP with two endpoints",
      "203.0.113.1",
      "192.168.99.33",
      80,
      "10.180.0.4:80, 10.180.0.5:80",
      true,
    ),
    row(
      "LB with source ranges, allowed source",
      "203.0.113.1",
      "5.6.7.8",
      80,
      "10.180.0.3:80",
      true,
    ),
    row("LB with source ranges, other source", "203.0.113.200", "5.6.7.8", 80, "DROP", false),
    row("pod to LB with source ranges not covering pods", "10.0.0.2", "5.6.7.8", 80, "DROP", false),
    row(
      "nodePort bypasses LoadBalancerSourceRanges",
      "203.0.113.200",
      "192.168.0.2",
      3002,
      "10.180.0.3:80",
      true,
    ),
    row("cluster IP without endpoints", "10.0.0.2", "172.30.0.46", 80, "REJECT", false),
  ]);
});

Deno.test("nftables mode masquerades per masqueradeAll and every detectLocalMode", async () => {
  const services = [makeService("ns1", "svc1", (s) => {
    s.clusterIPs = ["172.30.0.41"];
    s.ports = [tcp(80)];
  })];
  // The endpoint is on this node: a pod reaching itself (hairpin) is one of the flows.
  const slices = [slice80("ns1", "svc1", [["10.180.0.1", LOCAL]])];
  const flow = (sourceIP: string, masq: boolean, inInterface?: string) =>
    row(
      `${sourceIP} via ${inInterface ?? "-"}`,
      sourceIP,
      "172.30.0.41",
      80,
      "10.180.0.1:80",
      masq,
      {
        inInterface,
      },
    );
  let r = await syncOnce(services, slices, { backend: { masqueradeAll: true } });
  runFlows(r.table, [flow("10.0.0.2", true)]);
  r = await syncOnce(services, slices, {
    node: { localDetector: { mode: "NodeCIDR", cidr: "10.0.1.0/24" } },
  });
  runFlows(r.table, [flow("10.0.1.5", false), flow("10.0.0.2", true)]);
  r = await syncOnce(services, slices, {
    node: { localDetector: { mode: "BridgeInterface", interfaceName: "cbr0" } },
  });
  assertStringIncludes(r.text, `iifname != "cbr0" jump mark-for-masquerade`);
  runFlows(r.table, [flow("10.0.0.2", false, "cbr0"), flow("10.0.0.2", true, "eth0")]);
  r = await syncOnce(services, slices, {
    node: { localDetector: { mode: "InterfaceNamePrefix", interfacePrefix: "veth" } },
  });
  assertStringIncludes(r.text, `iifname != "veth*" jump mark-for-masquerade`);
  runFlows(r.table, [flow("10.0.0.2", false, "veth12"), flow("1.1.1.1", true)]);
  // No detector (no cluster CIDR for the family): nothing masquerades traffic to a cluster IP.
  r = await syncOnce(services, slices, { node: { localDetector: { mode: "None" } } });
  runFlows(r.table, [flow("192.168.0.2", false), flow("10.180.0.1", true)]);
});

Deno.test("nftables mode sends internalTrafficPolicy Local traffic to local endpoints", async () => {
  const itp = makeService("ns1", "svc1", (s) => {
    s.clusterIPs = ["172.30.1.1"];
    s.ports = [tcp(80)];
    s.internalTrafficPolicy = "Local";
  });
  let r = await syncOnce([itp], [
    slice80("ns1", "svc1", [["10.180.0.1", LOCAL], ["10.180.2.1", "other"]]),
  ]);
  await assertGolden("itp_local", r.text);
  runFlows(r.table, [
    row("pod to cluster IP with iTP Local", "10.0.0.2", "172.30.1.1", 80, "10.180.0.1:80", false),
    row(
      "node to cluster IP with iTP Local",
      "192.168.0.2",
      "172.30.1.1",
      80,
      "10.180.0.1:80",
      true,
    ),
  ]);
  r = await syncOnce([itp], [slice80("ns1", "svc1", [["10.180.2.1", "other"]])]);
  assertStringIncludes(
    r.text,
    `add element ip kube-proxy no-endpoint-services { 172.30.1.1 . tcp . 80 comment "ns1/svc1:p80" : drop }`,
  );
  runFlows(r.table, [
    row("no local endpoints with iTP Local", "10.0.0.2", "172.30.1.1", 80, "DROP", false),
  ]);
});

Deno.test("nftables mode sends externalTrafficPolicy Local traffic to local endpoints", async () => {
  const etp = makeService("ns2", "svc2", (s) => {
    s.clusterIPs = ["172.30.0.42"];
    s.type = "LoadBalancer";
    s.ports = [tcp(80, 3001)];
    s.loadBalancerIngress = [{ ip: "1.2.3.4", ipMode: "VIP" }, { ip: "1.2.3.5", ipMode: "Proxy" }];
    s.externalTrafficPolicy = "Local";
    s.healthCheckNodePort = 30000;
  });
  const { table, text } = await syncOnce([etp], [
    slice80("ns2", "svc2", [["10.180.0.2", LOCAL], ["10.180.1.2", "other"]]),
  ]);
  await assertGolden("etp_local", text);
  runFlows(table, [
    row("external to LB with eTP Local", "203.0.113.1", "1.2.3.4", 80, "10.180.0.2:80", false),
    row(
      "external to NodePort with eTP Local",
      "203.0.113.1",
      "192.168.0.2",
      3001,
      "10.180.0.2:80",
      false,
    ),
    row(
      "pod to LB with eTP Local reaches all endpoints",
      "10.0.0.2",
      "1.2.3.4",
      80,
      "10.180.0.2:80, 10.180.1.2:80",
      false,
    ),
    row(
      "node to NodePort with eTP Local",
      "192.168.0.2",
      "192.168.0.2",
      3001,
      "10.180.0.2:80, 10.180.1.2:80",
      true,
    ),
    // nftables: no rule for health-check node ports (upstream writes none); nothing stops them.
    row("firewall accepts HealthCheckNodePort", "1.2.3.4", "192.168.0.2", 30000, "", false),
    row("LB IP with ipMode Proxy is not captured", "203.0.113.1", "1.2.3.5", 80, "", false),
  ]);
});

Deno.test("nftables mode falls back to serving terminating endpoints", async () => {
  const s = makeService("ns1", "svc1", (s) => {
    s.clusterIPs = ["172.30.0.41"];
    s.type = "LoadBalancer";
    s.ports = [tcp(80, 3001)];
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
  let r = await syncOnce([s], [terminating]);
  runFlows(r.table, [
    row(
      "pod to cluster IP uses the serving terminating endpoint",
      "10.0.0.2",
      "172.30.0.41",
      80,
      "10.0.1.5:80",
      false,
    ),
    row("external to LB has endpoints but none local", "203.0.113.1", "1.2.3.4", 80, "DROP", false),
  ]);
  r = await syncOnce([s], [{ ...terminating, endpoints: [terminating.endpoints[1]] }]);
  runFlows(r.table, [
    row("only non-serving endpoints", "203.0.113.1", "1.2.3.4", 80, "REJECT", false),
  ]);
});

Deno.test("nftables mode follows topology hints for this node's zone", async () => {
  const hinted = makeEndpointSlice("ns1", "svc1", 1, (sl) => {
    sl.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
    sl.endpoints = ["a", "b", "a"].map((zone, i) =>
      makeEndpoint(`10.180.0.${i + 1}`, (e) => {
        e.hints = { forZones: [zone], forNodes: [] };
      })
    );
  });
  const svc = makeService("ns1", "svc1", (s) => {
    s.clusterIPs = ["172.30.0.41"];
    s.ports = [tcp(80)];
  });
  const { table } = await syncOnce([svc], [hinted], {
    node: { labels: { "topology.kubernetes.io/zone": "a" } },
  });
  runFlows(table, [
    row("zone hints", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80, 10.180.0.3:80", false),
  ]);
});

Deno.test("nftables mode handles multiple ports over TCP, UDP and SCTP", async () => {
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
    s.ports = [
      { name: "http", protocol: "TCP", port: 8080 },
      { name: "dns", protocol: "UDP", port: 5353 },
      { name: "sig", protocol: "SCTP", port: 7777 },
    ];
    s.endpoints = [makeEndpoint("10.180.0.7")];
  });
  const { table, text } = await syncOnce([multi], [sl]);
  await assertGolden("multi_protocol", text);
  const flow = (protocol: string, destPort: number, output: string, destIP = "172.30.0.50") =>
    row(
      `${protocol} ${destIP}:${destPort}`,
      "10.0.0.2",
      destIP,
      destPort,
      output,
      destIP !== "172.30.0.50" && output !== "REJECT",
      { protocol },
    );
  runFlows(table, [
    flow("tcp", 80, "10.180.0.7:8080"),
    flow("udp", 53, "10.180.0.7:5353"),
    flow("sctp", 7777, "10.180.0.7:7777"),
    // nftables: an undefined port of a ClusterIP is rejected.
    flow("udp", 80, "REJECT"),
    flow("udp", 3053, "10.180.0.7:5353", "192.168.0.2"),
    flow("tcp", 3080, "10.180.0.7:8080", "192.168.0.2"),
  ]);
});

Deno.test("nftables mode writes ClientIP affinity with the configured timeout", async () => {
  const sticky = makeService("ns1", "svc1", (s) => {
    s.clusterIPs = ["172.30.0.41"];
    s.ports = [tcp(80)];
    s.sessionAffinity = "ClientIP";
    s.sessionAffinityTimeoutSeconds = 300;
  });
  const { table, text } = await syncOnce([sticky], [
    slice80("ns1", "svc1", ["10.180.0.1", "10.180.0.2"]),
  ]);
  assertEquals((text.match(/ flags dynamic,timeout ; timeout 300s ;/g) ?? []).length, 2);
  assertEquals((text.match(/ update @affinity-/g) ?? []).length, 2);
  assertStringIncludes(text, "ip saddr @affinity-");
  runFlows(table, [
    row(
      "first packet with affinity",
      "10.0.0.2",
      "172.30.0.41",
      80,
      "10.180.0.1:80, 10.180.0.2:80",
      false,
    ),
  ]);
});

Deno.test("nftables mode restricts NodePorts to nodePortAddresses, never localhost", async () => {
  const np = makeService("ns3", "svc3", (s) => {
    s.clusterIPs = ["172.30.0.43"];
    s.type = "NodePort";
    s.ports = [tcp(80, 3003)];
  });
  const slices = [slice80("ns3", "svc3", ["10.180.0.3"])];
  const flow = (destIP: string, output: string) =>
    row(`NodePort on ${destIP}`, "203.0.113.1", destIP, 3003, output, output !== "");
  let r = await syncOnce([np], slices, { node: { nodePortIPs: ["192.168.0.2", "127.0.0.1"] } });
  assertStringIncludes(r.text, "add element ip kube-proxy nodeport-ips { 192.168.0.2 }");
  assert(!r.text.includes("127.0.0.1"));
  runFlows(r.table, [
    flow("192.168.0.2", "10.180.0.3:80"),
    flow("192.168.1.2", ""),
    flow("127.0.0.1", ""),
  ]);
  // Primary node IP unknown: every local address but loopback.
  r = await syncOnce([np], slices, { node: { nodeIP: "" } });
  assertStringIncludes(
    r.text,
    "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
  );
  runFlows(r.table, [flow("192.168.1.2", "10.180.0.3:80"), flow("127.0.0.1", "")]);
});

Deno.test("nftables mode writes an IPv6 table with that family's addresses", async () => {
  const dual = makeService("ns1", "svc1", (s) => {
    s.type = "NodePort";
    s.clusterIPs = ["172.30.0.41", "fd00:30::41"];
    s.ipFamilies = ["IPv4", "IPv6"];
    s.ports = [tcp(80, 3001)];
    s.externalIPs = ["192.168.99.11", "2001:db8::11"];
  });
  const v6slice = makeEndpointSlice("ns1", "svc1", 2, (s) => {
    s.addressType = "IPv6";
    s.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
    s.endpoints = [makeEndpoint("fd00:180::1")];
  });
  const { table, text } = await syncOnce(
    [dual],
    [slice80("ns1", "svc1", ["10.180.0.1"]), v6slice],
    {
      family: "IPv6",
      node: { localDetector: { mode: "ClusterCIDR", cidr: "fd00:10::/64" }, nodeIP: "2001:db8::2" },
    },
  );
  assert(!text.includes("10.180.0.1") && !text.includes("172.30") && !text.includes(" ip "));
  await assertGolden("ipv6", text);
  runFlows(table, [
    row("pod to IPv6 cluster IP", "fd00:10::2", "fd00:30::41", 80, "[fd00:180::1]:80", false),
    row(
      "external to IPv6 externalIP",
      "2001:db8:1::1",
      "2001:db8::11",
      80,
      "[fd00:180::1]:80",
      true,
    ),
    row("IPv6 NodePort", "2001:db8:1::1", "2001:db8::2", 3001, "[fd00:180::1]:80", true),
    row("IPv6 localhost NodePort never works", "::1", "::1", 3001, "", false),
  ], ["2001:db8::2"]);
});

Deno.test("nftables mode redirects cluster DNS service IPs to the node-local responder", async () => {
  const dns = makeService("kube-system", "kube-dns", (s) => {
    s.clusterIPs = ["172.30.0.10"];
    s.ports = [
      { name: "dns", protocol: "UDP", port: 53, targetPort: 53, nodePort: 0 },
      { name: "dns-tcp", protocol: "TCP", port: 53, targetPort: 53, nodePort: 0 },
    ];
  });
  const { table, text, nft } = await syncOnce([dns], [], {
    backend: { dnsIntercept: { serviceIPs: ["172.30.0.10", "fd00:30::10"], port: 5353 } },
  });
  await assertGolden("dns_intercept", text);
  assertStringIncludes(nft.table("ip")!.chains.get("services")!.rules[0], "jump dns-intercept");
  const flow = (protocol: string, destPort: number, output: string) =>
    row(`DNS ${protocol} ${destPort}`, "10.0.0.2", "172.30.0.10", destPort, output, false, {
      protocol,
    });
  runFlows(table, [
    flow("udp", 53, "REDIRECT:5353"),
    flow("tcp", 53, "REDIRECT:5353"),
    // nftables: an undefined port of a ClusterIP is rejected.
    flow("tcp", 80, "REJECT"),
  ]);
});

Deno.test("nftables mode drops traffic to unallocated ClusterIPs once ServiceCIDRs are known", async () => {
  const { services, slices } = overallCluster();
  let r = await syncOnce(services, slices);
  runFlows(r.table, [row("unallocated, CIDRs unknown", "10.0.0.2", "172.30.9.9", 80, "", false)]);
  r = await syncOnce(services, slices);
  r.backend.setServiceCIDRs(["172.30.0.0/16", "fd00:30::/112"]);
  const { syncStateOf } = await import("./test_helpers.ts");
  await r.backend.sync(syncStateOf(services, slices));
  const table = r.nft.table("ip")!;
  assertEquals(
    table.chains.get("cluster-ips-check")!.rules[1],
    `ip daddr 172.30.0.0/16 drop comment "Drop traffic to unallocated ClusterIPs"`,
  );
  runFlows(table, [
    row("unallocated ClusterIP", "10.0.0.2", "172.30.9.9", 80, "DROP", false),
    row("allocated ClusterIP, undefined port", "10.0.0.2", "172.30.0.41", 8080, "REJECT", false),
    row("allocated ClusterIP", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80", false),
  ]);
});
