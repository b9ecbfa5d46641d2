/**
 * Helpers for the nftables tests: state from cached objects, the test node (upstream's
 * `NewFakeProxier` values), syncing through the real backend into a {@linkcode FakeNft},
 * transaction normalization for golden files, and packet-flow tables traced with
 * {@linkcode traceNftPacket}.
 *
 * @module
 */

import type { EndpointSlice, IPFamily, Service } from "../../cache/objects.ts";
import { assertEquals } from "../../tests/assert.ts";
import {
  makeEndpoint,
  makeEndpointSlice,
  makeService,
  type MutableService,
} from "../../tests/fixtures.ts";
import type { BackendSyncState, NodeContext } from "../backend.ts";
import { endpointsFromSlices } from "../endpoints.ts";
import { servicePortsFromService } from "../service_port.ts";
import type { EndpointsMap, ServicePortMap } from "../types.ts";
import { FakeNft } from "./fake.ts";
import { NftablesBackend, type NftablesBackendOptions } from "./nftables_backend.ts";
import type { TableState } from "./ruleset.ts";
import { traceNftPacket } from "./tracer.ts";

/** The test node: upstream's fake proxier's node IP and pod CIDR. */
export const TEST_NODE: NodeContext = {
  name: "test-node",
  labels: {},
  nodeIP: "192.168.0.2",
  nodePortAddresses: [],
  localDetector: { mode: "ClusterCIDR", cidr: "10.0.0.0/8" },
};

/** The test node's addresses (for `fib ... type local`). */
export const TEST_NODE_IPS = ["192.168.0.2", "192.168.1.2"];

/** One family's service ports and endpoints from Services and EndpointSlices. */
export function portsAndEndpoints(
  services: readonly Service[],
  slices: readonly EndpointSlice[],
  family: IPFamily = "IPv4",
  nodeName = TEST_NODE.name,
): { services: ServicePortMap; endpoints: EndpointsMap } {
  const ports: ServicePortMap = new Map();
  for (const svc of services) {
    for (const [k, v] of servicePortsFromService(svc, family)) ports.set(k, v);
  }
  const groups = Map.groupBy(slices, (s) => `${s.namespace}/${s.serviceName}`);
  const endpoints: EndpointsMap = new Map();
  for (const group of groups.values()) {
    for (const [k, v] of endpointsFromSlices(group, family, nodeName)) endpoints.set(k, v);
  }
  return { services: ports, endpoints };
}

/** A sync state: full unless `updated` names the changed Services. */
export function syncStateOf(
  services: readonly Service[],
  slices: readonly EndpointSlice[],
  opts: { family?: IPFamily; node?: Partial<NodeContext>; updated?: string[] } = {},
): BackendSyncState {
  const node = { ...TEST_NODE, ...opts.node };
  return {
    full: opts.updated === undefined,
    ...portsAndEndpoints(services, slices, opts.family, node.name),
    updatedServices: new Set(opts.updated ?? []),
    node,
    requestSync: () => {},
  };
}

/** A backend over a fresh fake, with upstream's test mark (bit 14). */
export function testBackend(
  opts: Partial<NftablesBackendOptions> = {},
): { nft: FakeNft; backend: NftablesBackend } {
  const nft = new FakeNft();
  const backend = new NftablesBackend({
    family: "IPv4",
    nft,
    masqueradeBit: 14,
    masqueradeAll: false,
    keepLastTransaction: true,
    ...opts,
  });
  return { nft, backend };
}

/** Syncs once (full) through a fresh backend; returns the fake, the table and the text. */
export async function syncOnce(
  services: readonly Service[],
  slices: readonly EndpointSlice[],
  opts: {
    family?: IPFamily;
    node?: Partial<NodeContext>;
    backend?: Partial<NftablesBackendOptions>;
  } = {},
): Promise<{ nft: FakeNft; backend: NftablesBackend; table: TableState; text: string }> {
  const { nft, backend } = testBackend({ family: opts.family ?? "IPv4", ...opts.backend });
  await backend.sync(syncStateOf(services, slices, opts));
  const table = nft.table(opts.family === "IPv6" ? "ip6" : "ip")!;
  return { nft, backend, table, text: backend.lastTransaction };
}

const KIND_ORDER = ["table", "chain", "set", "map", "rule", "element"];

/**
 * Normalizes transaction text as upstream's `sortNFTablesTransaction`: by object kind, then by
 * object name; rules keep their order within a chain, other lines sort by text.
 */
export function normalizeTransaction(text: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
  const keyed = lines.map((line, i) => {
    const words = line.split(" ");
    return { line, i, kind: KIND_ORDER.indexOf(words[1]), name: words[4] ?? "" };
  });
  keyed.sort((a, b) =>
    a.kind - b.kind || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
    (KIND_ORDER[a.kind] === "rule" || KIND_ORDER[a.kind] === "table"
      ? a.i - b.i
      : a.line < b.line
      ? -1
      : a.line > b.line
      ? 1
      : 0)
  );
  return keyed.map((k) => k.line).join("\n") + "\n";
}

/**
 * Compares a transaction with `testdata/<name>.nft` after normalization; with
 * `UPDATE_GOLDEN=1` it rewrites the file instead (review the diff).
 */
export async function assertGolden(name: string, actual: string): Promise<void> {
  const url = new URL(`./testdata/${name}.nft`, import.meta.url);
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    await Deno.mkdir(new URL("./testdata/", import.meta.url), { recursive: true });
    await Deno.writeTextFile(url, normalizeTransaction(actual));
    return;
  }
  assertEquals(normalizeTransaction(actual), await Deno.readTextFile(url), `golden ${name}`);
}

/** One row of a packet-flow table, as upstream's `packetFlowTest`. */
export interface FlowRow {
  readonly name: string;
  readonly sourceIP: string;
  readonly destIP: string;
  readonly destPort: number;
  readonly protocol?: string;
  readonly inInterface?: string;
  /** `IP:port[, IP:port]`, `REDIRECT:<port>`, `DROP`, `REJECT` or "". */
  readonly output: string;
  readonly masq: boolean;
}

/** Traces every row through `table`, failing with the row's name and the hops. */
export function runFlows(
  table: TableState,
  rows: readonly FlowRow[],
  nodeIPs: readonly string[] = TEST_NODE_IPS,
): void {
  for (const row of rows) {
    const r = traceNftPacket(table, { ...row, nodeIPs });
    assertEquals(
      { output: r.output, masq: r.masquerade },
      { output: row.output, masq: row.masq },
      `packet flow "${row.name}":\n  ${r.hops.map((h) => `${h.chain}: ${h.rule}`).join("\n  ")}`,
    );
  }
}

/** A TCP service port `p<port>` (target port = port). */
export function tcp(port: number, nodePort = 0) {
  return { name: `p${port}`, protocol: "TCP" as const, port, targetPort: port, nodePort };
}

/** One slice of service `ns/name` on port p80 -> 80, endpoints `[ip, nodeName?]`. */
export function slice80(ns: string, name: string, eps: ReadonlyArray<string | [string, string]>) {
  return makeEndpointSlice(ns, name, 1, (s) => {
    s.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
    s.endpoints = eps.map((e) =>
      typeof e === "string" ? makeEndpoint(e) : makeEndpoint(e[0], (x) => {
        x.nodeName = e[1];
      })
    );
  });
}

/**
 * Upstream's six-service scenario (TestOverallNFTablesRules): ClusterIP; LB eTP Local with an
 * external IP and no local endpoint; NodePort; NodePort-less with an external IP and two
 * endpoints; LB with a source range and affinity; no endpoints.
 */
export function overallCluster(): { services: Service[]; slices: EndpointSlice[] } {
  const at = (ns: string, name: string, ip: string, f: (s: MutableService) => void = () => {}) =>
    makeService(ns, name, (s) => {
      s.clusterIPs = [ip];
      s.ports = [tcp(80)];
      f(s);
    });
  return {
    services: [
      at("ns1", "svc1", "172.30.0.41"),
      at("ns2", "svc2", "172.30.0.42", (s) => {
        s.type = "LoadBalancer";
        s.ports = [tcp(80, 3001)];
        s.externalIPs = ["192.168.99.22"];
        s.loadBalancerIngress = [{ ip: "1.2.3.4", ipMode: "VIP" }];
        s.externalTrafficPolicy = "Local";
        s.healthCheckNodePort = 30000;
      }),
      at("ns3", "svc3", "172.30.0.43", (s) => {
        s.type = "NodePort";
        s.ports = [tcp(80, 3003)];
      }),
      at("ns4", "svc4", "172.30.0.44", (s) => {
        s.type = "NodePort";
        s.externalIPs = ["192.168.99.33"];
      }),
      at("ns5", "svc5", "172.30.0.45", (s) => {
        s.type = "LoadBalancer";
        s.ports = [tcp(80, 3002)];
        s.loadBalancerIngress = [{ ip: "5.6.7.8", ipMode: "VIP" }];
        s.loadBalancerSourceRanges = [" 203.0.113.0/25"];
        s.sessionAffinity = "ClientIP";
      }),
      at("ns6", "svc6", "172.30.0.46"),
    ],
    slices: [
      // On this node: the flows include a pod reaching itself through svc1 (hairpin).
      slice80("ns1", "svc1", [["10.180.0.1", TEST_NODE.name]]),
      slice80("ns2", "svc2", ["10.180.0.2"]),
      slice80("ns3", "svc3", ["10.180.0.3"]),
      slice80("ns4", "svc4", ["10.180.0.4", ["10.180.0.5", TEST_NODE.name]]),
      slice80("ns5", "svc5", ["10.180.0.3"]),
    ],
  };
}
