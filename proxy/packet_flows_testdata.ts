/**
 * The packet-flow tables of both proxy modes (imported only by tests): per scenario, the
 * Services and EndpointSlices (built with `tests/fixtures.ts`), the node settings, and upstream's
 * `packetFlowTest` rows. `proxy/iptables/packet_flow_test.ts` and
 * `proxy/nftables/packet_flow_test.ts` run every row through their own backend and tracer.
 *
 * Expectations are iptables mode's; a row or case that upstream's nftables mode specifies
 * differently carries an `nftables` override with the reason, and a row that exists in one mode
 * only says so in `only`. {@linkcode scenariosFor} resolves them per mode.
 *
 * @module
 */

import type { EndpointSlice, IPFamily, Service } from "../cache/objects.ts";
import {
  makeEndpoint,
  makeEndpointSlice,
  makeService,
  type MutableService,
} from "../tests/fixtures.ts";
import type { DnsIntercept, LocalDetector } from "./backend.ts";

/** A proxy mode with a packet tracer. */
export type FlowMode = "iptables" | "nftables";

/** The test node's name (upstream's fake proxier's). */
export const TEST_NODE_NAME = "test-node";

/** The test node's primary IP. */
export const TEST_NODE_IP = "192.168.0.2";

/** The test node's addresses (what `addrtype LOCAL` / `fib daddr type local` match). */
export const TEST_NODE_IPS = ["192.168.0.2", "192.168.1.2"];

/** One row of a packet-flow table, as upstream's `packetFlowTest`. */
export interface PacketFlow {
  readonly name: string;
  readonly sourceIP: string;
  readonly destIP: string;
  readonly destPort: number;
  /** "tcp" when absent. */
  readonly protocol?: string;
  readonly inInterface?: string;
  /** `IP:port[, IP:port]`, `REDIRECT:<port>`, `DROP`, `REJECT`, `ACCEPT` or "" (not captured). */
  readonly output: string;
  readonly masq: boolean;
}

/** A row as the table holds it: iptables mode's outcome, nftables mode's where it differs. */
export interface FlowRow extends PacketFlow {
  /** Upstream's nftables mode is specified to differ for this row. */
  readonly nftables?: { readonly output: string; readonly masq: boolean; readonly why: string };
  /** The row exists in this mode only. */
  readonly only?: { readonly mode: FlowMode; readonly why: string };
}

/** Node and proxy settings of a case, in neither backend's terms; absent = the test default. */
export interface FlowSetup {
  /** Default IPv4. */
  readonly family?: IPFamily;
  /** The primary node IP ("" = unknown); default {@linkcode TEST_NODE_IP}. */
  readonly nodeIP?: string;
  /** The node's addresses for tracing; default {@linkcode TEST_NODE_IPS}. */
  readonly nodeIPs?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  /** Default ClusterCIDR 10.0.0.0/8. */
  readonly localDetector?: LocalDetector;
  /** The addresses `nodePortAddresses` resolves to; absent = unrestricted. */
  readonly nodePortIPs?: readonly string[];
  /** iptables mode's `iptables.localhostNodePorts` (default true); nftables mode has none. */
  readonly localhostNodePorts?: boolean;
  readonly masqueradeAll?: boolean;
  readonly dnsIntercept?: DnsIntercept;
}

/** One cluster state and setting, with the rows traced through it. */
export interface FlowCase {
  /** Unique over all scenarios: tests key their mode-specific rule checks by it. */
  readonly name: string;
  readonly services: readonly Service[];
  readonly slices: readonly EndpointSlice[];
  readonly setup?: FlowSetup;
  /** Upstream's nftables mode reaches the same outcomes with other settings. */
  readonly nftables?: { readonly setup: FlowSetup; readonly why: string };
  readonly rows: readonly FlowRow[];
}

/** A feature of issue 4 section 2: one test per mode. */
export interface FlowScenario {
  /** Completes a test name: "<mode subject> <name>". */
  readonly name: string;
  readonly cases: readonly FlowCase[];
}

/** A case as one mode runs it: its setting and rows resolved for that mode, defaults filled in. */
export interface ModeFlowCase {
  readonly name: string;
  readonly services: readonly Service[];
  readonly slices: readonly EndpointSlice[];
  readonly setup: FlowSetup;
  readonly family: IPFamily;
  /** The node's addresses for tracing. */
  readonly nodeIPs: readonly string[];
  readonly rows: readonly PacketFlow[];
}

/** Every scenario as `mode` runs it (see {@linkcode flowsFor} and {@linkcode setupFor}). */
export function scenariosFor(
  mode: FlowMode,
): { readonly name: string; readonly cases: readonly ModeFlowCase[] }[] {
  return FLOW_SCENARIOS.map((s) => ({
    name: s.name,
    cases: s.cases.map((c) => {
      const setup = setupFor(mode, c);
      return {
        name: c.name,
        services: c.services,
        slices: c.slices,
        setup,
        family: setup.family ?? "IPv4",
        nodeIPs: setup.nodeIPs ?? TEST_NODE_IPS,
        rows: flowsFor(mode, c.rows),
      };
    }),
  }));
}

/** The rows of `rows` that exist in `mode`, with that mode's outcomes. */
export function flowsFor(mode: FlowMode, rows: readonly FlowRow[]): PacketFlow[] {
  return rows.filter((r) => r.only === undefined || r.only.mode === mode).map((r) => {
    const { nftables, only: _, ...flow } = r;
    return mode === "nftables" && nftables !== undefined
      ? { ...flow, output: nftables.output, masq: nftables.masq }
      : flow;
  });
}

/** The setting of `c` in `mode`. */
export function setupFor(mode: FlowMode, c: FlowCase): FlowSetup {
  return mode === "nftables" && c.nftables !== undefined
    ? { ...c.setup, ...c.nftables.setup }
    : c.setup ?? {};
}

/** A TCP service port named `p<port>` (target port = port). */
export function tcpPort(port: number, nodePort = 0, name = "p" + port) {
  return { name, protocol: "TCP" as const, port, targetPort: port, nodePort };
}

/** A ClusterIP Service with one TCP port 80 named p80, changed by `mutate`. */
export function svc(
  ns: string,
  name: string,
  ip: string,
  mutate: (s: MutableService) => void = () => {},
): Service {
  return makeService(ns, name, (s) => {
    s.clusterIPs = [ip];
    s.ports = [tcpPort(80)];
    mutate(s);
  });
}

/**
 * An EndpointSlice with one TCP port and ready endpoints: an IP, or `[IP, nodeName]` for an
 * endpoint on that node.
 */
export function slice(
  ns: string,
  name: string,
  eps: ReadonlyArray<string | readonly [string, string]>,
  port = 80,
  portName = "p" + port,
): EndpointSlice {
  return makeEndpointSlice(ns, name, 1, (s) => {
    s.ports = [{ name: portName, protocol: "TCP", port }];
    s.endpoints = eps.map((e) =>
      typeof e === "string" ? makeEndpoint(e) : makeEndpoint(e[0], (x) => {
        x.nodeName = e[1];
      })
    );
  });
}

/**
 * Upstream's six-service scenario (TestOverallIPTablesRules, TestOverallNFTablesRules):
 * ClusterIP; LB eTP Local with an external IP and no local endpoint; NodePort; NodePort-less with
 * an external IP and two endpoints; LB with a source range and affinity; no endpoints.
 */
export function overallCluster(): { services: Service[]; slices: EndpointSlice[] } {
  return {
    services: [
      svc("ns1", "svc1", "172.30.0.41"),
      svc("ns2", "svc2", "172.30.0.42", (s) => {
        s.type = "LoadBalancer";
        s.ports = [tcpPort(80, 3001)];
        s.externalIPs = ["192.168.99.22"];
        s.loadBalancerIngress = [{ ip: "1.2.3.4", ipMode: "VIP" }];
        s.externalTrafficPolicy = "Local";
        s.healthCheckNodePort = 30000;
      }),
      svc("ns3", "svc3", "172.30.0.43", (s) => {
        s.type = "NodePort";
        s.ports = [tcpPort(80, 3003)];
      }),
      svc("ns4", "svc4", "172.30.0.44", (s) => {
        // type NodePort without an allocated node port, as in upstream's test
        s.type = "NodePort";
        s.externalIPs = ["192.168.99.33"];
      }),
      svc("ns5", "svc5", "172.30.0.45", (s) => {
        s.type = "LoadBalancer";
        s.ports = [tcpPort(80, 3002)];
        s.loadBalancerIngress = [{ ip: "5.6.7.8", ipMode: "VIP" }];
        s.loadBalancerSourceRanges = [" 203.0.113.0/25"];
        s.sessionAffinity = "ClientIP";
        // Ignored: only externalTrafficPolicy Local services get a health check node port.
        s.healthCheckNodePort = 30000;
      }),
      svc("ns6", "svc6", "172.30.0.46"),
    ],
    slices: [
      // On this node: the flows include a pod reaching itself through svc1 (hairpin).
      slice("ns1", "svc1", [["10.180.0.1", TEST_NODE_NAME]]),
      slice("ns2", "svc2", ["10.180.0.2"]),
      slice("ns3", "svc3", ["10.180.0.3"]),
      slice("ns4", "svc4", ["10.180.0.4", ["10.180.0.5", TEST_NODE_NAME]]),
      slice("ns5", "svc5", ["10.180.0.3"]),
    ],
  };
}

const REJECT_UNDEFINED_PORT = {
  output: "REJECT",
  masq: false,
  why: "traffic to an undefined port of a ClusterIP is rejected (cluster-ips-check)",
};

const overall: FlowScenario = {
  name: "routes every kind of traffic of the overall scenario",
  cases: [{
    name: "overall",
    ...overallCluster(),
    rows: [
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
        nftables: REJECT_UNDEFINED_PORT,
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
        nftables: {
          output: "",
          masq: false,
          why: "empty nodePortAddresses means the primary node IP only, not every local address",
        },
      },
      {
        name: "localhost to NodePort",
        sourceIP: "127.0.0.1",
        destIP: "127.0.0.1",
        destPort: 3003,
        output: "10.180.0.3:80",
        masq: true,
        nftables: { output: "", masq: false, why: "no localhost NodePorts" },
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
    ],
  }],
};

/** A flow to svc1's cluster IP, whose one endpoint 10.180.0.1 is on this node. */
function toSvc1(sourceIP: string, masq: boolean, inInterface?: string): FlowRow {
  return {
    name: `${sourceIP} via ${inInterface ?? "-"}`,
    sourceIP,
    destIP: "172.30.0.41",
    destPort: 80,
    inInterface,
    output: "10.180.0.1:80",
    masq,
  };
}

const svc1Local = {
  services: [svc("ns1", "svc1", "172.30.0.41")],
  // A pod reaching itself (hairpin) is one of the flows.
  slices: [slice("ns1", "svc1", [["10.180.0.1", TEST_NODE_NAME]])],
};

const masquerade: FlowScenario = {
  name: "masquerades per masqueradeAll and every detectLocalMode",
  cases: [
    {
      name: "masqueradeAll",
      ...svc1Local,
      setup: { masqueradeAll: true },
      rows: [toSvc1("10.0.0.2", true)],
    },
    {
      name: "detectLocalMode NodeCIDR",
      ...svc1Local,
      setup: { localDetector: { mode: "NodeCIDR", cidr: "10.0.1.0/24" } },
      rows: [toSvc1("10.0.1.5", false), toSvc1("10.0.0.2", true)],
    },
    {
      name: "detectLocalMode BridgeInterface",
      ...svc1Local,
      setup: { localDetector: { mode: "BridgeInterface", interfaceName: "cbr0" } },
      rows: [toSvc1("10.0.0.2", false, "cbr0"), toSvc1("10.0.0.2", true, "eth0")],
    },
    {
      name: "detectLocalMode InterfaceNamePrefix",
      ...svc1Local,
      setup: { localDetector: { mode: "InterfaceNamePrefix", interfacePrefix: "veth" } },
      rows: [toSvc1("10.0.0.2", false, "veth12"), toSvc1("1.1.1.1", true)],
    },
    {
      // No cluster CIDR for the family: nothing masquerades traffic to a cluster IP.
      name: "no local detector",
      ...svc1Local,
      setup: { localDetector: { mode: "None" } },
      rows: [toSvc1("192.168.0.2", false), toSvc1("10.180.0.1", true)],
    },
  ],
};

const itp = svc("ns1", "svc1", "172.30.1.1", (s) => {
  s.internalTrafficPolicy = "Local";
});

const internalLocal: FlowScenario = {
  name: "sends internalTrafficPolicy Local traffic to local endpoints",
  cases: [
    {
      name: "iTP Local",
      services: [itp],
      slices: [
        slice("ns1", "svc1", [["10.180.0.1", TEST_NODE_NAME], ["10.180.2.1", "other-node"]]),
      ],
      rows: [
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
      ],
    },
    {
      name: "iTP Local without local endpoints",
      services: [itp],
      slices: [slice("ns1", "svc1", [["10.180.2.1", "other-node"]])],
      rows: [{
        name: "no local endpoints with iTP Local",
        sourceIP: "10.0.0.2",
        destIP: "172.30.1.1",
        destPort: 80,
        output: "DROP",
        masq: false,
      }],
    },
  ],
};

const externalLocal: FlowScenario = {
  name: "sends externalTrafficPolicy Local traffic to local endpoints",
  cases: [{
    name: "eTP Local",
    services: [svc("ns2", "svc2", "172.30.0.42", (s) => {
      s.type = "LoadBalancer";
      s.ports = [tcpPort(80, 3001)];
      s.loadBalancerIngress = [{ ip: "1.2.3.4", ipMode: "VIP" }, {
        ip: "1.2.3.5",
        ipMode: "Proxy",
      }];
      s.externalTrafficPolicy = "Local";
      s.healthCheckNodePort = 30000;
    })],
    slices: [slice("ns2", "svc2", [["10.180.0.2", TEST_NODE_NAME], ["10.180.1.2", "other-node"]])],
    rows: [
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
        nftables: {
          output: "",
          masq: false,
          why: "no rule for health-check node ports (upstream writes none); nothing stops them",
        },
      },
      {
        name: "LB IP with ipMode Proxy is not captured",
        sourceIP: "203.0.113.1",
        destIP: "1.2.3.5",
        destPort: 80,
        output: "",
        masq: false,
      },
    ],
  }],
};

const lbLocal = svc("ns1", "svc1", "172.30.0.41", (s) => {
  s.type = "LoadBalancer";
  s.ports = [tcpPort(80, 3001)];
  s.loadBalancerIngress = [{ ip: "1.2.3.4", ipMode: "VIP" }];
  s.externalTrafficPolicy = "Local";
});
const servingTerminating = makeEndpoint("10.0.1.5", (e) => {
  e.ready = false;
  e.terminating = true;
  e.nodeName = "other-node";
});
const notServing = makeEndpoint("10.0.1.6", (e) => {
  e.ready = false;
  e.serving = false;
  e.terminating = true;
});
const terminatingSlice = (...endpoints: ReturnType<typeof makeEndpoint>[]) =>
  makeEndpointSlice("ns1", "svc1", 1, (sl) => {
    sl.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
    sl.endpoints = endpoints;
  });

const terminating: FlowScenario = {
  name: "falls back to serving terminating endpoints",
  cases: [
    {
      name: "terminating endpoints",
      services: [lbLocal],
      slices: [terminatingSlice(servingTerminating, notServing)],
      rows: [
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
      ],
    },
    {
      name: "only non-serving endpoints",
      services: [lbLocal],
      slices: [terminatingSlice(notServing)],
      rows: [{
        name: "only non-serving endpoints",
        sourceIP: "203.0.113.1",
        destIP: "1.2.3.4",
        destPort: 80,
        output: "REJECT",
        masq: false,
      }],
    },
  ],
};

const topology: FlowScenario = {
  name: "follows topology hints for this node's zone",
  cases: [{
    name: "zone hints",
    services: [svc("ns1", "svc1", "172.30.0.41")],
    slices: [makeEndpointSlice("ns1", "svc1", 1, (sl) => {
      sl.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
      sl.endpoints = ["a", "b", "a"].map((zone, i) =>
        makeEndpoint(`10.180.0.${i + 1}`, (e) => {
          e.hints = { forZones: [zone], forNodes: [] };
        })
      );
    })],
    setup: { labels: { "topology.kubernetes.io/zone": "a" } },
    rows: [{
      name: "zone hints",
      sourceIP: "10.0.0.2",
      destIP: "172.30.0.41",
      destPort: 80,
      output: "10.180.0.1:80, 10.180.0.3:80",
      masq: false,
    }],
  }],
};

/** A pod's flow to the multi-protocol service (its cluster IP, or a NodePort on the node). */
function toMulti(
  protocol: string,
  destPort: number,
  output: string,
  destIP = "172.30.0.50",
): FlowRow {
  return {
    name: `${protocol} ${destIP}:${destPort}`,
    sourceIP: "10.0.0.2",
    destIP,
    destPort,
    protocol,
    output,
    masq: destIP !== "172.30.0.50",
  };
}

const multiProtocol: FlowScenario = {
  name: "handles multiple ports over TCP, UDP and SCTP",
  cases: [{
    name: "multi-protocol",
    services: [makeService("ns1", "multi", (s) => {
      s.type = "NodePort";
      s.clusterIPs = ["172.30.0.50"];
      s.ports = [
        { name: "http", protocol: "TCP", port: 80, targetPort: "web", nodePort: 3080 },
        { name: "dns", protocol: "UDP", port: 53, targetPort: 5353, nodePort: 3053 },
        { name: "sig", protocol: "SCTP", port: 7777, targetPort: 7777, nodePort: 0 },
      ];
    })],
    slices: [makeEndpointSlice("ns1", "multi", 1, (s) => {
      // The named targetPort "web" resolves to 8080 through the slice port.
      s.ports = [
        { name: "http", protocol: "TCP", port: 8080 },
        { name: "dns", protocol: "UDP", port: 5353 },
        { name: "sig", protocol: "SCTP", port: 7777 },
      ];
      s.endpoints = [makeEndpoint("10.180.0.7")];
    })],
    rows: [
      toMulti("tcp", 80, "10.180.0.7:8080"),
      toMulti("udp", 53, "10.180.0.7:5353"),
      toMulti("sctp", 7777, "10.180.0.7:7777"),
      { ...toMulti("udp", 80, ""), nftables: REJECT_UNDEFINED_PORT },
      toMulti("udp", 3053, "10.180.0.7:5353", "192.168.0.2"),
      toMulti("tcp", 3080, "10.180.0.7:8080", "192.168.0.2"),
    ],
  }],
};

const affinity: FlowScenario = {
  name: "writes ClientIP affinity with the configured timeout",
  cases: [{
    name: "ClientIP affinity",
    services: [svc("ns1", "svc1", "172.30.0.41", (s) => {
      s.sessionAffinity = "ClientIP";
      s.sessionAffinityTimeoutSeconds = 300;
    })],
    slices: [slice("ns1", "svc1", ["10.180.0.1", "10.180.0.2"])],
    rows: [{
      name: "first packet with affinity",
      sourceIP: "10.0.0.2",
      destIP: "172.30.0.41",
      destPort: 80,
      output: "10.180.0.1:80, 10.180.0.2:80",
      masq: false,
    }],
  }],
};

/** External traffic to svc3's NodePort 3003 on `destIP`. */
function toNodePort(destIP: string, output: string): FlowRow {
  return {
    name: `NodePort on ${destIP}`,
    sourceIP: "203.0.113.1",
    destIP,
    destPort: 3003,
    output,
    masq: output !== "",
  };
}

const nodePortSvc = {
  services: [svc("ns3", "svc3", "172.30.0.43", (s) => {
    s.type = "NodePort";
    s.ports = [tcpPort(80, 3003)];
  })],
  slices: [slice("ns3", "svc3", ["10.180.0.3"])],
};

const nodePorts: FlowScenario = {
  name: "restricts NodePorts to nodePortAddresses, localhost only where allowed",
  cases: [
    {
      name: "nodePortAddresses with localhost",
      ...nodePortSvc,
      setup: { nodePortIPs: ["192.168.0.2", "127.0.0.1"], localhostNodePorts: false },
      rows: [
        toNodePort("192.168.0.2", "10.180.0.3:80"),
        toNodePort("192.168.1.2", ""),
        toNodePort("127.0.0.1", ""),
      ],
    },
    {
      name: "every local address but localhost",
      ...nodePortSvc,
      setup: { localhostNodePorts: false },
      nftables: {
        setup: { nodeIP: "" },
        why: "no localhost NodePorts; unrestricted NodePorts mean every local address only " +
          "while the primary node IP is unknown",
      },
      rows: [toNodePort("192.168.1.2", "10.180.0.3:80"), toNodePort("127.0.0.1", "")],
    },
  ],
};

const ipv6: FlowScenario = {
  name: "writes IPv6 rules with that family's addresses",
  cases: [{
    name: "IPv6",
    services: [makeService("ns1", "svc1", (s) => {
      s.type = "NodePort";
      s.clusterIPs = ["172.30.0.41", "fd00:30::41"];
      s.ipFamilies = ["IPv4", "IPv6"];
      s.ports = [tcpPort(80, 3001)];
      s.externalIPs = ["192.168.99.11", "2001:db8::11"];
    })],
    slices: [
      slice("ns1", "svc1", ["10.180.0.1"]),
      makeEndpointSlice("ns1", "svc1", 2, (s) => {
        s.addressType = "IPv6";
        s.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
        s.endpoints = [makeEndpoint("fd00:180::1")];
      }),
    ],
    setup: {
      family: "IPv6",
      localDetector: { mode: "ClusterCIDR", cidr: "fd00:10::/64" },
      nodeIP: "2001:db8::2",
      nodeIPs: ["2001:db8::2"],
    },
    rows: [
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
  }],
};

/** A pod's DNS query to the cluster DNS service IP. */
function toDNS(protocol: string, destPort: number, output: string): FlowRow {
  return {
    name: `DNS ${protocol} ${destPort}`,
    sourceIP: "10.0.0.2",
    destIP: "172.30.0.10",
    destPort,
    protocol,
    output,
    masq: false,
  };
}

const dnsIntercept: FlowScenario = {
  name: "redirects cluster DNS service IPs to the node-local responder",
  cases: [{
    name: "DNS intercept",
    services: [makeService("kube-system", "kube-dns", (s) => {
      s.clusterIPs = ["172.30.0.10"];
      s.ports = [
        { name: "dns", protocol: "UDP", port: 53, targetPort: 53, nodePort: 0 },
        { name: "dns-tcp", protocol: "TCP", port: 53, targetPort: 53, nodePort: 0 },
      ];
    })],
    slices: [],
    setup: { dnsIntercept: { serviceIPs: ["172.30.0.10", "fd00:30::10"], port: 5353 } },
    rows: [
      toDNS("udp", 53, "REDIRECT:5353"),
      toDNS("tcp", 53, "REDIRECT:5353"),
      { ...toDNS("tcp", 80, ""), nftables: REJECT_UNDEFINED_PORT },
    ],
  }],
};

/** Every scenario, in issue 4 section 2's order. */
export const FLOW_SCENARIOS: readonly FlowScenario[] = [
  overall,
  masquerade,
  internalLocal,
  externalLocal,
  terminating,
  topology,
  multiProtocol,
  affinity,
  nodePorts,
  ipv6,
  dnsIntercept,
];
