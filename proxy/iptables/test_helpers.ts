/**
 * Helpers for the iptables tests: state from cached objects, default options as upstream's
 * tests use them, restore-text normalization for golden comparisons, the jump check, golden files
 * and the packet-flow runner. The fixture builders and flow tables are shared with nftables mode
 * in `../packet_flows_testdata.ts` (re-exported here under this folder's names).
 *
 * @module
 */

import type { EndpointSlice, IPFamily, Service } from "../../cache/objects.ts";
import { assertEquals } from "../../tests/assert.ts";
import { endpointsFromSlices } from "../endpoints.ts";
import { servicePortsFromService } from "../service_port.ts";
import type { EndpointsMap, ServicePortMap } from "../types.ts";
import { type PacketFlow, TEST_NODE_IPS } from "../packet_flows_testdata.ts";
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

export {
  overallCluster as overallServices,
  slice,
  svc,
  tcpPort,
  TEST_NODE_IPS,
} from "../packet_flows_testdata.ts";

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

/** Restores `text` into a fresh fake and traces every row as a step named by `label: row`. */
export async function runPacketFlowTests(
  t: Deno.TestContext,
  label: string,
  text: string,
  rows: readonly PacketFlow[],
  family: IPFamily = "IPv4",
  nodeIPs: readonly string[] = TEST_NODE_IPS,
): Promise<void> {
  const fake = new FakeIptables(family);
  await fake.restore(text, { noflush: true });
  for (const row of rows) {
    await t.step(`${label}: ${row.name}`, () => {
      const r = tracePacket(fake, { ...row, nodeIPs });
      assertEquals(
        { output: r.output, masq: r.masq },
        { output: row.output, masq: row.masq },
        `packet flow "${row.name}": matched:\n  ${r.matched.join("\n  ")}`,
      );
    });
  }
}
