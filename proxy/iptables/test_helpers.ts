/**
 * Helpers for the iptables tests: state from cached objects, default options as upstream's
 * tests use them, restore-text normalization for golden comparisons, the jump check, golden files
 * and packet-flow tables.
 *
 * @module
 */

import type { EndpointSlice, IPFamily, Service } from "../../cache/objects.ts";
import {
  makeEndpoint,
  makeEndpointSlice,
  makeService,
  type MutableService,
} from "../../tests/fixtures.ts";
import { assertEquals } from "../../tests/assert.ts";
import { endpointsFromSlices } from "../endpoints.ts";
import { servicePortsFromService } from "../service_port.ts";
import type { EndpointsMap, ServicePortMap } from "../types.ts";
import { FakeIptables } from "./fake.ts";
import { buildRuleSet, type ProxyState, type RuleSetOptions } from "./rules.ts";
import { renderRestoreInput } from "./render.ts";
import { tracePacket } from "./tracer.ts";

/** Builds one family's state from Services and EndpointSlices. */
export function stateOf(
  services: readonly Service[],
  slices: readonly EndpointSlice[],
  family: IPFamily = "IPv4",
  nodeName = "test-node",
): ProxyState {
  const svcMap: ServicePortMap = new Map();
  for (const svc of services) {
    for (const [k, v] of servicePortsFromService(svc, family)) svcMap.set(k, v);
  }
  const bySvc = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const key = `${s.namespace}/${s.serviceName}`;
    bySvc.set(key, [...(bySvc.get(key) ?? []), s]);
  }
  const epMap: EndpointsMap = new Map();
  for (const list of bySvc.values()) {
    for (const [k, v] of endpointsFromSlices(list, family, nodeName)) epMap.set(k, v);
  }
  return { services: svcMap, endpoints: epMap };
}

/** Upstream's test proxier settings: cluster CIDR 10.0.0.0/8, mark 0x4000, node IP 192.168.0.2. */
export const TEST_OPTIONS: RuleSetOptions = {
  family: "IPv4",
  masqueradeMark: "0x4000",
  masqueradeAll: false,
  localDetector: { mode: "ClusterCIDR", cidr: "10.0.0.0/8" },
  localhostNodePorts: true,
  nodeIP: "192.168.0.2",
  nodeName: "test-node",
  tcpBeLiberal: false,
  nfacct: { invalidDropped: true, localhostNodePorts: true },
};

/** Upstream's test node addresses (for the tracer's addrtype LOCAL). */
export const TEST_NODE_IPS = ["192.168.0.2", "192.168.1.2"];

/** Builds and renders. */
export function renderState(state: ProxyState, opts: Partial<RuleSetOptions> = {}): string {
  return renderRestoreInput(buildRuleSet(state, { ...TEST_OPTIONS, ...opts }));
}

/**
 * Normalizes restore text as upstream's `sortIPTablesRules`: per table, chain declarations
 * sorted, then rules grouped by chain with chains sorted and rule order kept, then `-X` lines.
 */
export function normalizeRestoreText(text: string): string {
  const out: string[] = [];
  let decls: string[] = [];
  let rules = new Map<string, string[]>();
  let deletes: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      out.push(line);
      decls = [];
      rules = new Map();
      deletes = [];
    } else if (line.startsWith(":")) decls.push(line);
    else if (line.startsWith("-X ")) deletes.push(line);
    else if (line === "COMMIT") {
      out.push(...decls.sort());
      for (const chain of [...rules.keys()].sort()) out.push(...rules.get(chain)!);
      out.push(...deletes.sort(), "COMMIT");
    } else {
      const chain = line.split(" ")[1];
      rules.set(chain, [...(rules.get(chain) ?? []), line]);
    }
  }
  return out.join("\n") + "\n";
}

/** Asserts two restore texts are equal after normalization, showing the first differing line. */
export function assertRulesEqual(actual: string, expected: string): void {
  const a = normalizeRestoreText(actual).split("\n");
  const e = normalizeRestoreText(expected).split("\n");
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    if (a[i] !== e[i]) {
      assertEquals(
        a.slice(i, i + 3).join("\n"),
        e.slice(i, i + 3).join("\n"),
        `restore text differs at normalized line ${i + 1}`,
      );
    }
  }
}

const FIXED_CHAINS = new Set([
  "KUBE-SERVICES",
  "KUBE-EXTERNAL-SERVICES",
  "KUBE-FORWARD",
  "KUBE-NODEPORTS",
  "KUBE-PROXY-FIREWALL",
  "KUBE-FIREWALL",
  "KUBE-POSTROUTING",
  "KUBE-MARK-MASQ",
]);

/**
 * Upstream's `checkIPTablesRuleJumps` for a full rule set: every chain jumped to is declared and
 * has rules, and every declared chain (other than the fixed ones and deleted ones) is jumped to.
 * Returns the problems found (empty when fine).
 */
export function checkRuleJumps(text: string): string[] {
  const problems: string[] = [];
  let table = "";
  let declared = new Set<string>(), jumped = new Set<string>(), withRules = new Set<string>();
  let deleted = new Set<string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("*")) {
      table = line.slice(1);
      declared = new Set();
      jumped = new Set();
      withRules = new Set();
      deleted = new Set();
    } else if (line.startsWith(":")) declared.add(line.slice(1).split(" ")[0]);
    else if (line.startsWith("-X ")) deleted.add(line.slice(3));
    else if (line.startsWith("-A ")) {
      withRules.add(line.split(" ")[1]);
      const m = line.match(/ -j (KUBE-\S+)/);
      if (m !== null) jumped.add(m[1]);
    } else if (line === "COMMIT") {
      for (const c of jumped) {
        if (!declared.has(c)) problems.push(`${table}: ${c} is jumped to but not declared`);
        else if (!withRules.has(c) && !FIXED_CHAINS.has(c)) {
          problems.push(`${table}: ${c} is jumped to but has no rules`);
        }
      }
      for (const c of declared) {
        if (!FIXED_CHAINS.has(c) && !deleted.has(c) && !jumped.has(c)) {
          problems.push(`${table}: ${c} is declared but not used`);
        }
      }
    }
  }
  return problems;
}

/**
 * Compares `actual` with the golden file `testdata/<name>.txt`; with `UPDATE_GOLDEN=1` in the
 * environment it rewrites the file instead.
 */
export async function assertGolden(name: string, actual: string): Promise<void> {
  const url = new URL(`./testdata/${name}.txt`, import.meta.url);
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    await Deno.writeTextFile(url, normalizeRestoreText(actual));
    return;
  }
  assertRulesEqual(actual, await Deno.readTextFile(url));
}

/** One row of a packet-flow table, as upstream's `packetFlowTest`. */
export interface PacketFlowTest {
  readonly name: string;
  readonly sourceIP: string;
  readonly destIP: string;
  readonly destPort: number;
  readonly protocol?: string;
  readonly inInterface?: string;
  readonly output: string;
  readonly masq: boolean;
}

/** Restores `text` into a fresh fake and traces every row, failing with the row's name. */
export async function runPacketFlowTests(
  text: string,
  rows: readonly PacketFlowTest[],
  family: IPFamily = "IPv4",
  nodeIPs: readonly string[] = TEST_NODE_IPS,
): Promise<void> {
  const fake = new FakeIptables(family);
  await fake.restore(text, { noflush: true });
  for (const row of rows) {
    const r = tracePacket(fake, { ...row, nodeIPs });
    assertEquals(
      { output: r.output, masq: r.masq },
      { output: row.output, masq: row.masq },
      `packet flow "${row.name}": matched:\n  ${r.matched.join("\n  ")}`,
    );
  }
}

/** A TCP service port named `p<port>`. */
export function tcpPort(port: number, nodePort = 0, name = "p" + port) {
  return { name, protocol: "TCP" as const, port, targetPort: port, nodePort };
}

/** A ClusterIP Service with one TCP port 80 named p80, changed by `mutate`. */
export function svc(
  ns: string,
  name: string,
  ip: string,
  mutate: (s: MutableService) => void = () => {},
) {
  return makeService(ns, name, (s) => {
    s.clusterIPs = [ip];
    s.ports = [tcpPort(80)];
    mutate(s);
  });
}

/** An EndpointSlice with one TCP port and ready endpoints at `ips`. */
export function slice(ns: string, name: string, ips: string[], port = 80, portName = "p" + port) {
  return makeEndpointSlice(ns, name, 1, (s) => {
    s.ports = [{ name: portName, protocol: "TCP", port }];
    s.endpoints = ips.map((ip) => makeEndpoint(ip));
  });
}

/** The six services of upstream's TestOverallIPTablesRules. */
export function overallServices(): { services: Service[]; slices: ReturnType<typeof slice>[] } {
  const services = [
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
      s.ports = [tcpPort(80)];
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
  ];
  const slices = [
    slice("ns1", "svc1", ["10.180.0.1"]),
    slice("ns2", "svc2", ["10.180.0.2"]),
    slice("ns3", "svc3", ["10.180.0.3"]),
    makeEndpointSlice("ns4", "svc4", 1, (sl) => {
      sl.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
      sl.endpoints = [
        makeEndpoint("10.180.0.4"),
        makeEndpoint("10.180.0.5", (e) => {
          e.nodeName = "test-node";
        }),
      ];
    }),
    slice("ns5", "svc5", ["10.180.0.3"]),
  ];
  return { services, slices };
}
