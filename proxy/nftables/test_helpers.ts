/**
 * Helpers for the nftables tests: state from cached objects, the test node (upstream's
 * `NewFakeProxier` values), syncing through the real backend into a {@linkcode FakeNft},
 * transaction normalization for golden files, and the packet-flow runner over
 * {@linkcode traceNftPacket}. The fixture builders and flow tables are shared with iptables mode
 * in `../packet_flows_testdata.ts` (re-exported here under this folder's names).
 *
 * @module
 */

import type { EndpointSlice, IPFamily, Service } from "../../cache/objects.ts";
import { assertEquals } from "../../tests/assert.ts";
import type { BackendSyncState, NodeContext } from "../backend.ts";
import { endpointsFromSlices } from "../endpoints.ts";
import { servicePortsFromService } from "../service_port.ts";
import type { EndpointsMap, ServicePortMap } from "../types.ts";
import {
  type PacketFlow,
  TEST_NODE_IP,
  TEST_NODE_IPS,
  TEST_NODE_NAME,
} from "../packet_flows_testdata.ts";
import { FakeNft } from "./fake.ts";
import { NftablesBackend, type NftablesBackendOptions } from "./nftables_backend.ts";
import type { TableState } from "./ruleset.ts";
import { traceNftPacket } from "./tracer.ts";

/** The test node: upstream's fake proxier's node IP and pod CIDR. */
const TEST_NODE: NodeContext = {
  name: TEST_NODE_NAME,
  labels: {},
  nodeIP: TEST_NODE_IP,
  nodePortAddresses: [],
  localDetector: { mode: "ClusterCIDR", cidr: "10.0.0.0/8" },
};

export {
  overallCluster,
  slice as slice80,
  tcpPort as tcp,
  TEST_NODE_IPS,
} from "../packet_flows_testdata.ts";

/** One family's service ports and endpoints from Services and EndpointSlices. */
function portsAndEndpoints(
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
function normalizeTransaction(text: string): string {
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

/** Traces every row through `table` as a step named by `label: row`, failing with the hops. */
export async function runFlows(
  t: Deno.TestContext,
  label: string,
  table: TableState,
  rows: readonly PacketFlow[],
  nodeIPs: readonly string[] = TEST_NODE_IPS,
): Promise<void> {
  for (const row of rows) {
    await t.step(`${label}: ${row.name}`, () => {
      const r = traceNftPacket(table, { ...row, nodeIPs });
      assertEquals(
        { output: r.output, masq: r.masquerade },
        { output: row.output, masq: row.masq },
        `packet flow "${row.name}":\n  ${r.hops.map((h) => `${h.chain}: ${h.rule}`).join("\n  ")}`,
      );
    });
  }
}
