/**
 * Packet-flow tests of nftables mode: every scenario and row of `../packet_flows_testdata.ts`
 * (the same table iptables mode passes, with upstream's nftables differences as marked
 * overrides), synced through `NftablesBackend` into `FakeNft` and traced with
 * `traceNftPacket()`; each case's transaction also passes this mode's checks below (goldens, key
 * lines). The ServiceCIDR drop, which iptables mode lacks, is tested here too.
 */
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import type { NodeContext } from "../backend.ts";
import { type FlowSetup, scenariosFor } from "../packet_flows_testdata.ts";
import type { NftablesBackendOptions } from "./nftables_backend.ts";
import { assertGolden, overallCluster, runFlows, syncOnce, syncStateOf } from "./test_helpers.ts";

/** The fields of `o` that are set (so that spreading them keeps the defaults of the rest). */
function setFields<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The node and backend options of a flow case's setting (nftables mode has no localhostNodePorts). */
function syncOptionsFor(setup: FlowSetup) {
  const node: Partial<NodeContext> = setFields({
    nodeIP: setup.nodeIP,
    labels: setup.labels,
    localDetector: setup.localDetector,
    nodePortIPs: setup.nodePortIPs,
  });
  const backend: Partial<NftablesBackendOptions> = setFields({
    masqueradeAll: setup.masqueradeAll,
    dnsIntercept: setup.dnsIntercept,
  });
  return { family: setup.family, node, backend };
}

type Synced = Awaited<ReturnType<typeof syncOnce>>;

/** This mode's checks of a case's transaction and tables, by case name. */
const RULE_CHECKS: Readonly<Record<string, (r: Synced) => void | Promise<void>>> = {
  "overall": (r) => assertGolden("overall", r.text),
  "detectLocalMode BridgeInterface": (r) =>
    assertStringIncludes(r.text, `iifname != "cbr0" jump mark-for-masquerade`),
  "detectLocalMode InterfaceNamePrefix": (r) =>
    assertStringIncludes(r.text, `iifname != "veth*" jump mark-for-masquerade`),
  "iTP Local": (r) => assertGolden("itp_local", r.text),
  "iTP Local without local endpoints": (r) =>
    assertStringIncludes(
      r.text,
      `add element ip kube-proxy no-endpoint-services { 172.30.1.1 . tcp . 80 comment "ns1/svc1:p80" : drop }`,
    ),
  "eTP Local": (r) => assertGolden("etp_local", r.text),
  "multi-protocol": (r) => assertGolden("multi_protocol", r.text),
  "ClientIP affinity": ({ text }) => {
    assertEquals((text.match(/ flags dynamic,timeout ; timeout 300s ;/g) ?? []).length, 2);
    assertEquals((text.match(/ update @affinity-/g) ?? []).length, 2);
    assertStringIncludes(text, "ip saddr @affinity-");
  },
  "nodePortAddresses with localhost": ({ text }) => {
    assertStringIncludes(text, "add element ip kube-proxy nodeport-ips { 192.168.0.2 }");
    assert(!text.includes("127.0.0.1"));
  },
  // Primary node IP unknown: every local address but loopback.
  "every local address but localhost": ({ text }) =>
    assertStringIncludes(
      text,
      "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
    ),
  "IPv6": async ({ text }) => {
    assert(!text.includes("10.180.0.1") && !text.includes("172.30") && !text.includes(" ip "));
    await assertGolden("ipv6", text);
  },
  "DNS intercept": async ({ text, nft }) => {
    await assertGolden("dns_intercept", text);
    assertStringIncludes(nft.table("ip")!.chains.get("services")!.rules[0], "jump dns-intercept");
  },
};

const SCENARIOS = scenariosFor("nftables");

for (const scenario of SCENARIOS) {
  Deno.test(`nftables mode ${scenario.name}`, async (t) => {
    for (const c of scenario.cases) {
      const synced = await syncOnce(c.services, c.slices, syncOptionsFor(c.setup));
      await RULE_CHECKS[c.name]?.(synced);
      await runFlows(t, c.name, synced.table, c.rows, c.nodeIPs);
    }
  });
}

Deno.test("every nftables rule check names a case of the flow tables", () => {
  const cases = new Set(SCENARIOS.flatMap((s) => s.cases.map((c) => c.name)));
  assertEquals(Object.keys(RULE_CHECKS).filter((name) => !cases.has(name)), []);
});

Deno.test("nftables mode drops traffic to unallocated ClusterIPs once ServiceCIDRs are known", async (t) => {
  const { services, slices } = overallCluster();
  const r = await syncOnce(services, slices);
  await runFlows(t, "CIDRs unknown", r.table, [
    {
      name: "unallocated, CIDRs unknown",
      sourceIP: "10.0.0.2",
      destIP: "172.30.9.9",
      destPort: 80,
      output: "",
      masq: false,
    },
  ]);
  r.backend.setServiceCIDRs(["172.30.0.0/16", "fd00:30::/112"]);
  await r.backend.sync(syncStateOf(services, slices));
  const table = r.nft.table("ip")!;
  assertEquals(
    table.chains.get("cluster-ips-check")!.rules[1],
    `ip daddr 172.30.0.0/16 drop comment "Drop traffic to unallocated ClusterIPs"`,
  );
  const toPod = (name: string, destIP: string, destPort: number, output: string) => ({
    name,
    sourceIP: "10.0.0.2",
    destIP,
    destPort,
    output,
    masq: false,
  });
  await runFlows(t, "CIDRs known", table, [
    toPod("unallocated ClusterIP", "172.30.9.9", 80, "DROP"),
    toPod("allocated ClusterIP, undefined port", "172.30.0.41", 8080, "REJECT"),
    toPod("allocated ClusterIP", "172.30.0.41", 80, "10.180.0.1:80"),
  ]);
});
