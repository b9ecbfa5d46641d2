/**
 * `kube-proxy trace` in nftables mode over the nftables packet-flow table: the overall scenario
 * (`proxy/nftables/packet_flow_test.ts`'s first table, upstream's TestOverallNFTablesRules) is
 * synced through `NftablesBackend` into `FakeNft`; `nft list table ip kube-proxy` is answered with
 * the fake's listing, so `runTrace()` runs its real nftables path: mode detection, listing parser,
 * `traceNftPacket()`, mapping, rendering and exit statuses.
 */
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { FakeCommandRunner } from "../exec.ts";
import { makeEndpoint, makeEndpointSlice, makeService } from "../../tests/fixtures.ts";
import { overallCluster, syncOnce, tcp, TEST_NODE_IPS } from "../nftables/test_helpers.ts";
import { parseTableListing } from "../nftables/listing.ts";
import { traceNftPacket } from "../nftables/tracer.ts";
import { runTrace } from "./command.ts";
import { traceNftTable } from "./nft_mode.ts";
import {
  EXIT_DELIVERED,
  EXIT_DROPPED,
  EXIT_NO_RULE,
  EXIT_REJECTED,
  EXIT_UNCERTAIN,
  type TraceOutcome,
} from "./trace_result.ts";

const { services, slices } = overallCluster();
const { nft } = await syncOnce(services, slices);
const LISTING = (await nft.listTable("ip"))!;

/** `nft list table ip kube-proxy` answers with `listing`; ip6 has no table. */
function nftRunner(listing = LISTING): FakeCommandRunner {
  const run = new FakeCommandRunner();
  run.respond((c) => {
    if (c.cmd !== "nft") return undefined;
    if (c.args.join(" ") === "list tables") return { stdout: "table ip kube-proxy\n" };
    if (c.args.join(" ") === "list table ip kube-proxy") return { stdout: listing };
    return { code: 1, stderr: "Error: No such file or directory\n" };
  });
  run.respond((c) => c.cmd === "ip" ? { stdout: "10.0.0.2 dev cbr0 src 10.0.0.1\n" } : undefined);
  return run;
}

async function trace(args: string[], run = nftRunner()) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTrace(
    [`--node-ip=${TEST_NODE_IPS.join(",")}`, "-o", "json", ...args],
    { run, print: (t) => out.push(t), printError: (t) => err.push(t) },
  );
  return { code, doc: out.length > 0 ? JSON.parse(out.join("")) : undefined, err, run };
}

interface Row {
  readonly name: string;
  readonly from: string;
  readonly to: string;
  readonly outcome: TraceOutcome;
  readonly endpoints: readonly string[];
  readonly masq: boolean;
}

const row = (
  name: string,
  from: string,
  to: string,
  outcome: TraceOutcome,
  endpoints: readonly string[],
  masq = false,
): Row => ({ name, from, to, outcome, endpoints, masq });

// The rows of packet_flow_test.ts's overall scenario, as trace outcomes.
const ROWS: readonly Row[] = [
  row("pod to cluster IP", "10.0.0.2", "172.30.0.41:80", "delivered", ["10.180.0.1:80"]),
  row("node to cluster IP", "192.168.0.2", "172.30.0.41:80", "delivered", ["10.180.0.1:80"], true),
  row(
    "hairpin to cluster IP",
    "10.180.0.1",
    "172.30.0.41:80",
    "delivered",
    ["10.180.0.1:80"],
    true,
  ),
  row("wrong port to cluster IP", "10.0.0.2", "172.30.0.41:81", "rejected", []),
  row("external to LB eTP Local, no local endpoints", "203.0.113.1", "1.2.3.4:80", "dropped", []),
  row("pod to LB eTP Local is short-circuited", "10.0.0.2", "1.2.3.4:80", "delivered", [
    "10.180.0.2:80",
  ]),
  row("node to LB eTP Local", "192.168.0.2", "1.2.3.4:80", "delivered", ["10.180.0.2:80"], true),
  row("external to externalIP eTP Local", "203.0.113.1", "192.168.99.22:80", "dropped", []),
  row("external to NodePort eTP Local", "203.0.113.1", "192.168.0.2:3001", "dropped", []),
  row("external to NodePort", "203.0.113.1", "192.168.0.2:3003", "delivered", [
    "10.180.0.3:80",
  ], true),
  row("NodePort on secondary node IP", "203.0.113.1", "192.168.1.2:3003", "no-rule", []),
  row("localhost to NodePort", "127.0.0.1", "127.0.0.1:3003", "no-rule", []),
  row("externalIP with two endpoints", "203.0.113.1", "192.168.99.33:80", "delivered", [
    "10.180.0.4:80",
    "10.180.0.5:80",
  ], true),
  row("LB source range, allowed", "203.0.113.1", "5.6.7.8:80", "delivered", [
    "10.180.0.3:80",
  ], true),
  row("LB source range, other source", "203.0.113.200", "5.6.7.8:80", "dropped", []),
  row("pod to LB with source ranges", "10.0.0.2", "5.6.7.8:80", "dropped", []),
  row("NodePort bypasses source ranges", "203.0.113.200", "192.168.0.2:3002", "delivered", [
    "10.180.0.3:80",
  ], true),
  row("cluster IP without endpoints", "10.0.0.2", "172.30.0.46:80", "rejected", []),
];

const EXIT: Record<TraceOutcome, number> = {
  delivered: EXIT_DELIVERED,
  rejected: EXIT_REJECTED,
  dropped: EXIT_DROPPED,
  "no-rule": EXIT_NO_RULE,
  uncertain: EXIT_UNCERTAIN,
};

Deno.test("runTrace --mode nftables agrees with the nftables packet-flow table", async () => {
  const table = parseTableListing(LISTING);
  for (const r of ROWS) {
    const { code, doc, err } = await trace(["--mode", "nftables", "--from", r.from, "--to", r.to]);
    const what = `${r.name}: ${err.join("\n")}`;
    assertEquals(code, EXIT[r.outcome], what);
    const t = doc.trace;
    assertEquals(t.outcome, r.outcome, what);
    assertEquals(t.ruleSource, "nftables (ip kube-proxy)", what);
    const endpoints = t.endpoints.map((e: { destination: string }) => e.destination);
    assertEquals(endpoints, r.endpoints, what);
    for (const e of t.endpoints) {
      assertEquals(e.share, 1 / r.endpoints.length, what);
      assertEquals(e.masqueraded, r.masq, what);
    }
    // The command's answer is the backend tracer's, not a second reading of the rules.
    const [ip, port] = [r.to.slice(0, r.to.lastIndexOf(":")), Number(r.to.split(":").pop())];
    const direct = traceNftPacket(table, {
      sourceIP: r.from,
      destIP: ip,
      destPort: port,
      nodeIPs: TEST_NODE_IPS,
      inInterface: r.from === "10.0.0.2" ? "cbr0" : "",
    });
    const expected = r.outcome === "rejected"
      ? "REJECT"
      : r.outcome === "dropped"
      ? "DROP"
      : r.endpoints.join(", ");
    assertEquals(direct.output, expected, what);
  }
});

Deno.test("runTrace detects nftables mode from the kube-proxy table and reads only listings", async () => {
  const { code, doc, run } = await trace(["--from", "10.0.0.2", "--to", "172.30.0.44:80"]);
  assertEquals(code, EXIT_DELIVERED);
  assertEquals(doc.trace.hook, "PREROUTING");
  assertEquals(doc.trace.branches.length, 2);
  assertEquals(doc.trace.services, ["ns4/svc4:p80"]);
  const [b1, b2] = doc.trace.branches;
  assertEquals([b1.destination, b2.destination], ["10.180.0.4:80", "10.180.0.5:80"]);
  assertEquals(b1.hops[0].chain, "filter-prerouting-pre-dnat");
  assertEquals(b1.hops.filter((h: { endpoint?: string }) => h.endpoint).length, 1);
  assertEquals(b1.hops.find((h: { probability?: number }) => h.probability)?.probability, 0.5);
  assertStringIncludes(b1.masquerade.reason, "local pod network");
  for (const line of run.commandLines()) {
    assert(/^(nft list tables?( ip kube-proxy)?|ip -4 -o route get 10\.0\.0\.2)$/.test(line), line);
  }
});

Deno.test("runTrace in nftables mode names the service and reason of a verdict", async () => {
  const rejected = await trace(["--mode=nftables", "--from", "10.0.0.2", "--to", "172.30.0.46:80"]);
  assertEquals(rejected.doc.trace.branches[0].service, "ns6/svc6:p80");
  assertEquals(rejected.doc.trace.branches[0].decidedBy.chain, "reject-chain");
  const masq = await trace([
    "--mode=nftables",
    "--from",
    "203.0.113.1",
    "--to",
    "192.168.0.2:3003",
  ]);
  const m = masq.doc.trace.branches[0].masquerade;
  assertStringIncludes(m.reason, "externalTrafficPolicy Cluster");
  assertEquals(m.markedBy.chain, "external-4AT6LBPK-ns3/svc3/tcp/p80");
  const hairpin = await trace([
    "--mode=nftables",
    "--from",
    "10.180.0.1",
    "--to",
    "172.30.0.41:80",
  ]);
  assertStringIncludes(hairpin.doc.trace.branches[0].masquerade.reason, "hairpin");
  const text: string[] = [];
  await runTrace(
    [`--node-ip=${TEST_NODE_IPS[0]}`, "--from", "10.0.0.2", "--to", "172.30.0.41:80"],
    { run: nftRunner(), print: (t) => text.push(t) },
  );
  assertStringIncludes(text.join(""), "Rules: nftables (ip kube-proxy)");
  assertStringIncludes(text.join(""), "DNAT to 10.180.0.1:80");
});

Deno.test("runTrace in nftables mode: unknown rule shapes are uncertain, a missing table no rule", async () => {
  const odd = LISTING.replace(
    "jump services",
    "ip daddr 172.30.0.41 meta nftrace set 1 counter packets 0 bytes 0\n\t\tjump services",
  );
  const u = await trace(
    ["--mode=nftables", "--from", "10.0.0.2", "--to", "172.30.0.41:80"],
    nftRunner(odd),
  );
  assertEquals(u.code, EXIT_UNCERTAIN);
  assertStringIncludes(u.doc.trace.warnings[0], "unknown rule shape");
  const v6 = await trace(["--mode=nftables", "--from", "fd00::2", "--to", "[fd00::1]:80"]);
  assertEquals(v6.code, EXIT_NO_RULE);
  assertStringIncludes(v6.doc.trace.warnings[0], "no ip6 kube-proxy table");
  // iptables mode by flag reads iptables-save, not the table.
  const ipt = await trace(["--mode=iptables", "--from", "10.0.0.2", "--to", "172.30.0.41:80"]);
  assert(ipt.run.commandLines().every((l) => !l.startsWith("nft")));
  assertEquals(
    traceNftTable(undefined, ROWS_PACKET, TEST_NODE_IPS, "ip").outcome,
    "no-rule",
  );
});

const ROWS_PACKET = {
  sourceIP: "10.0.0.2",
  destIP: "172.30.0.41",
  destPort: 80,
  protocol: "tcp",
  inInterface: "",
};

Deno.test("runTrace takes the mode from --config when --mode is not given", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kptrace-" });
  try {
    const config = `${dir}/config.yaml`;
    const write = (mode: string) =>
      Deno.writeTextFile(
        config,
        `apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ${mode}\n`,
      );
    const args = ["--config", config, "--from", "10.0.0.2", "--to", "172.30.0.41:80"];
    // The table exists, but the config says iptables: only iptables-save is read.
    await write("iptables");
    const ipt = await trace(args);
    assert(ipt.run.commandLines().every((l) => !l.startsWith("nft")), ipt.err.join("\n"));
    assertEquals(ipt.doc.trace.ruleSource.startsWith("iptables-"), true);
    await write("nftables");
    const nftMode = await trace(args);
    assertEquals(nftMode.code, EXIT_DELIVERED, nftMode.err.join("\n"));
    assertEquals(nftMode.doc.trace.ruleSource, "nftables (ip kube-proxy)");
    // --mode wins over the file.
    const flag = await trace(["--mode=iptables", ...args]);
    assert(flag.run.commandLines().every((l) => !l.startsWith("nft")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runTrace in nftables mode reads the ip6 table for an IPv6 destination", async () => {
  const svc = makeService("ns1", "svc1", (s) => {
    s.type = "NodePort";
    s.clusterIPs = ["fd00:30::41"];
    s.ipFamilies = ["IPv6"];
    s.ports = [tcp(80, 3001)];
  });
  const slice = makeEndpointSlice("ns1", "svc1", 2, (s) => {
    s.addressType = "IPv6";
    s.ports = [{ name: "p80", protocol: "TCP", port: 80 }];
    s.endpoints = [makeEndpoint("fd00:180::1")];
  });
  const { nft: nft6 } = await syncOnce([svc], [slice], {
    family: "IPv6",
    node: { localDetector: { mode: "ClusterCIDR", cidr: "fd00:10::/64" }, nodeIP: "2001:db8::2" },
  });
  const listing6 = (await nft6.listTable("ip6"))!;
  const run = new FakeCommandRunner();
  run.respond((c) =>
    c.cmd === "nft" && c.args.join(" ") === "list tables"
      ? { stdout: "table inet filter\ntable ip6 kube-proxy\n" }
      : c.cmd === "nft" && c.args.join(" ") === "list table ip6 kube-proxy"
      ? { stdout: listing6 }
      : c.cmd === "nft"
      ? { code: 1, stderr: "Error: No such file or directory\n" }
      : undefined
  );
  const r = await trace(
    ["--node-ip=2001:db8::2", "--from", "2001:db8:1::1", "--to", "[2001:db8::2]:3001"],
    run,
  );
  assertEquals(r.code, EXIT_DELIVERED, r.err.join("\n"));
  assertEquals(r.doc.trace.ruleSource, "nftables (ip6 kube-proxy)");
  assertEquals(r.doc.trace.endpoints, [
    { destination: "[fd00:180::1]:80", share: 1, masqueraded: true },
  ]);
  assertStringIncludes(r.doc.trace.branches[0].masquerade.reason, "externalTrafficPolicy Cluster");
});
