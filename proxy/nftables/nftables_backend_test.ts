import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import { makeEndpoint, makeEndpointSlice, makeService } from "../../tests/fixtures.ts";
import type { FakeNft } from "./fake.ts";
import { NftError } from "./nft.ts";
import { NftablesBackend } from "./nftables_backend.ts";
import type { TableState } from "./ruleset.ts";
import { overallCluster, slice80, syncStateOf, tcp, testBackend } from "./test_helpers.ts";
import { traceNftPacket } from "./tracer.ts";

/** A table as sorted plain data, to compare two tables whatever their insertion order. */
function canonical(t: TableState | undefined) {
  if (t === undefined) return undefined;
  return {
    chains: [...t.chains].sort(([a], [b]) => a < b ? -1 : 1).map(([n, c]) => [n, c.base, c.rules]),
    sets: [...t.sets].sort(([a], [b]) => a < b ? -1 : 1).map(([n, s]) => [
      n,
      s.type,
      [...s.elements].map(([k, e]) => `${k} ${e.comment ?? ""} ${e.value ?? ""}`).sort(),
    ]),
  };
}

Deno.test("NftablesBackend partial sync writes only changed services and deletes stale chains later", async () => {
  let now = 10_000;
  const { nft, backend } = testBackend({ now: () => now });
  const { services, slices } = overallCluster();
  await backend.sync(syncStateOf(services, slices));
  // svc4 loses an endpoint, svc3 is deleted.
  const slices2 = slices.filter((s) => s.serviceName !== "svc3").map((s) =>
    s.serviceName === "svc4" ? slice80("ns4", "svc4", ["10.180.0.4"]) : s
  );
  const services2 = services.filter((s) => s.name !== "svc3");
  await backend.sync(syncStateOf(services2, slices2, { updated: ["ns3/svc3", "ns4/svc4"] }));
  const tx = backend.lastTransaction;
  assert(!tx.includes("table"), "a partial sync does not touch the table");
  assert(!tx.includes("svc1") && !tx.includes("svc2") && !tx.includes("svc5"), tx);
  assertStringIncludes(tx, "flush chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80\n");
  assertStringIncludes(
    tx,
    "delete element ip kube-proxy hairpin-ips { 10.180.0.5 . 10.180.0.5 }\n",
  );
  assertStringIncludes(tx, "delete element ip kube-proxy service-nodeports { tcp . 3003 }\n");
  assert(!tx.includes("delete chain"), "stale chains wait");
  assertEquals(backend.staleChains.toSorted(), [
    "external-4AT6LBPK-ns3/svc3/tcp/p80",
    "service-4AT6LBPK-ns3/svc3/tcp/p80",
  ]);
  const trace = (destIP: string) =>
    traceNftPacket(nft.table("ip")!, { sourceIP: "10.0.0.2", destIP, destPort: 80, nodeIPs: [] })
      .output;
  assertEquals(trace("172.30.0.44"), "10.180.0.4:80");
  assertEquals(trace("172.30.0.41"), "10.180.0.1:80");
  assertEquals(trace("172.30.0.43"), "", "a deleted service's ClusterIP is no cluster IP any more");
  // Half a second later nothing is deleted; a second later, in a transaction of its own.
  now += 500;
  await backend.sync(syncStateOf(services2, slices2, { updated: [] }));
  assertEquals(backend.staleChains.length, 2);
  now += 600;
  const before = nft.transactions.length;
  await backend.sync(syncStateOf(services2, slices2, { updated: [] }));
  assertEquals(
    nft.transactions[before],
    [
      "delete chain ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80",
      "delete chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80",
      "",
    ].join("\n"),
  );
  assertEquals(backend.staleChains, []);
  // The kernel state equals a full sync of the new state.
  const full = testBackend();
  await full.backend.sync(syncStateOf(services2, slices2));
  assertEquals(canonical(nft.table("ip")), canonical(full.nft.table("ip")));
});

Deno.test("NftablesBackend keeps a chain that becomes active again before its deletion", async () => {
  let now = 0;
  const { nft, backend } = testBackend({ now: () => now });
  const { services, slices } = overallCluster();
  await backend.sync(syncStateOf(services, slices));
  const without = slices.filter((s) => s.serviceName !== "svc1");
  await backend.sync(syncStateOf(services, without, { updated: ["ns1/svc1"] }));
  assertEquals(backend.staleChains, ["service-ULMVA6XW-ns1/svc1/tcp/p80"]);
  await backend.sync(syncStateOf(services, slices, { updated: ["ns1/svc1"] }));
  assertEquals(backend.staleChains, []);
  now += 5000;
  await backend.sync(syncStateOf(services, slices, { updated: [] }));
  assert(nft.table("ip")!.chains.has("service-ULMVA6XW-ns1/svc1/tcp/p80"));
  assert(!nft.transactions.some((t) => t.includes("delete chain")));
});

Deno.test("NftablesBackend reports a refused transaction with its line, then syncs in full", async () => {
  const failures: string[] = [];
  const { nft, backend } = testBackend({
    metrics: {
      incNftablesSyncFailures: (f) => failures.push(`sync ${f}`),
      incNftablesCleanupFailures: (f) => failures.push(`cleanup ${f}`),
    },
  });
  const { services, slices } = overallCluster();
  await backend.sync(syncStateOf(services, slices));
  nft.failNext = "/dev/stdin:2:1-5: Error: Could not process rule: No such file or directory\n";
  const err = await assertRejects(
    () => backend.sync(syncStateOf(services, slices.slice(1), { updated: ["ns1/svc1"] })),
    NftError,
  );
  assertEquals(err.line, 2);
  assertStringIncludes(err.context, "> 2: ");
  assertEquals(failures, ["sync IPv4"]);
  // Even a partial request is a full sync after a failure.
  await backend.sync(syncStateOf(services, slices.slice(1), { updated: [] }));
  assert(
    backend.lastTransaction.startsWith("add table ip kube-proxy\ndelete table ip kube-proxy\n"),
  );
  assert(!nft.table("ip")!.chains.has("service-ULMVA6XW-ns1/svc1/tcp/p80"));
});

Deno.test("NftablesBackend.checkFlushed() notices a deleted or flushed table", async () => {
  const { nft, backend } = testBackend();
  assertEquals(await backend.checkFlushed(), false, "nothing to check before the first sync");
  const { services, slices } = overallCluster();
  await backend.sync(syncStateOf(services, slices));
  assertEquals(await backend.checkFlushed(), false);
  nft.applyText("flush table ip kube-proxy\n");
  assertEquals(await backend.checkFlushed(), true);
  await backend.sync(syncStateOf(services, slices, { updated: [] }));
  assertEquals(await backend.checkFlushed(), false, "the next sync rebuilt it");
  nft.applyText("delete table ip kube-proxy\n");
  assertEquals(await backend.checkFlushed(), true);
  await backend.sync(syncStateOf(services, slices, { updated: [] }));
  assert(nft.table("ip")!.chains.has("services"));
});

Deno.test("NftablesBackend keeps hostile names and comments inside their tokens", async () => {
  const hostile = 'x";} drop\nadd table ip evil {';
  const svc = makeService(`ns-${hostile}`, `svc-${hostile}`, (s) => {
    s.clusterIPs = ["172.30.0.60"];
    s.type = "NodePort";
    s.ports = [{ ...tcp(80, 3060), name: `p-${hostile}` }, { ...tcp(81), name: "" }];
  });
  const sl = makeEndpointSlice(svc.namespace, svc.name, 1, (s) => {
    s.ports = [{ name: `p-${hostile}`, protocol: "TCP", port: 80 }];
    s.endpoints = [makeEndpoint("10.180.0.60")];
  });
  const { nft, backend } = testBackend();
  await backend.sync(syncStateOf([svc], [sl]));
  const text = backend.lastTransaction;
  assertEquals(nft.tables.size, 1, "no other table was created");
  for (const line of text.trimEnd().split("\n")) {
    assert(
      /^(add|delete|flush) (table|chain|rule|set|map|element) ip kube-proxy( |$)/.test(line),
      line,
    );
    assertEquals((line.match(/"/g) ?? []).length % 2, 0, line);
  }
  assertStringIncludes(
    text,
    `{ 172.30.0.60 . tcp . 81 comment "ns-x';} drop?add table ip evil {/svc-x';} drop?add table ip evil {" : goto reject-chain }`,
  );
  assert([...nft.table("ip")!.chains.keys()].some((c) => /^service-[A-Z2-7]{8}-ns-x___/.test(c)));
  const r = traceNftPacket(nft.table("ip")!, {
    sourceIP: "10.0.0.2",
    destIP: "172.30.0.60",
    destPort: 81,
    nodeIPs: [],
  });
  assertEquals(r.output, "REJECT", "the unnamed port has no endpoints");
});

Deno.test("NftablesBackend counts no-local-endpoint services across partial syncs", async () => {
  const { backend } = testBackend();
  const { services, slices } = overallCluster();
  let r = await backend.sync(syncStateOf(services, slices));
  assertEquals(r.noLocalEndpoints, { internal: 0, external: 1 });
  const svc2 = slices.map((s) =>
    s.serviceName === "svc2" ? slice80("ns2", "svc2", [["10.180.0.2", "test-node"]]) : s
  );
  r = await backend.sync(syncStateOf(services, svc2, { updated: ["ns2/svc2"] }));
  assertEquals(r.noLocalEndpoints, { internal: 0, external: 0 });
});

/** svc5's affinity set (ClientIP, 10800 s) in the overall scenario. */
const SVC5_AFFINITY = "affinity-GTK6MW7GHFXEDKKS";

/** Puts a client into svc5's affinity set as the kernel's `update @set` would. */
function stickClient(nft: FakeNft, client: string, expiresSeconds: number): void {
  nft.applyText(
    `add element ip kube-proxy ${SVC5_AFFINITY} { ${client} timeout 10800s expires ${expiresSeconds}s }\n`,
  );
}

Deno.test("NftablesBackend full syncs and a restart keep live affinity entries with their time left", async () => {
  let now = 50_000;
  const { nft, backend } = testBackend({ now: () => now });
  const { services, slices } = overallCluster();
  await backend.sync(syncStateOf(services, slices));
  stickClient(nft, "10.0.0.2", 9000);
  stickClient(nft, "10.0.0.3", 1);
  // The hourly resync: the swap keeps them.
  await backend.sync(syncStateOf(services, slices));
  const entries = () => [...nft.table("ip")!.sets.get(SVC5_AFFINITY)!.elements];
  assertEquals(entries(), [["10.0.0.2", {
    value: undefined,
    comment: undefined,
    expiresSeconds: 9000,
  }], ["10.0.0.3", { value: undefined, comment: undefined, expiresSeconds: 1 }]]);
  assertStringIncludes(
    backend.lastTransaction,
    `delete table ip kube-proxy\nadd table ip kube-proxy\n`,
  );
  // A restart: a new backend over the same kernel table carries them into its first sync. Its
  // clock ticks 0.7 s per reading: the entries were read a second (rounded up) before the
  // new table was built.
  const restarted = new NftablesBackend({
    family: "IPv4",
    nft,
    masqueradeBit: 14,
    masqueradeAll: false,
    keepLastTransaction: true,
    now: () => now += 700,
  });
  await restarted.sync(syncStateOf(services, slices));
  assertStringIncludes(
    restarted.lastTransaction,
    `add element ip kube-proxy ${SVC5_AFFINITY} { 10.0.0.2 timeout 10800s expires 8999s }\n`,
  );
  assertEquals(entries(), [["10.0.0.2", {
    value: undefined,
    comment: undefined,
    expiresSeconds: 8999,
  }]], "10.0.0.3 had no time left");
});

Deno.test("NftablesBackend drops affinity entries whose timeout changed, and syncs when they cannot be read", async () => {
  const { nft, backend } = testBackend();
  const { services, slices } = overallCluster();
  await backend.sync(syncStateOf(services, slices));
  stickClient(nft, "10.0.0.2", 9000);
  // The read fails: the full sync still swaps the table, without the entries.
  nft.listSets = () => Promise.reject(new NftError("nft failed: Operation not permitted", ""));
  await backend.sync(syncStateOf(services, slices));
  assertEquals(nft.table("ip")!.sets.get(SVC5_AFFINITY)!.elements.size, 0);
  assert(!backend.lastTransaction.includes("expires"));

  const { nft: nft2, backend: backend2 } = testBackend();
  await backend2.sync(syncStateOf(services, slices));
  stickClient(nft2, "10.0.0.2", 9000);
  const shorter = services.map((s) =>
    s.name === "svc5" ? { ...s, sessionAffinityTimeoutSeconds: 60 } : s
  );
  // A changed timeout forces a full sync; the old entries do not come along.
  await backend2.sync(syncStateOf(shorter, slices, { updated: ["ns5/svc5"] }));
  assertStringIncludes(backend2.lastTransaction, "delete table ip kube-proxy\n");
  const set = nft2.table("ip")!.sets.get(SVC5_AFFINITY)!;
  assertEquals([set.timeoutSeconds, set.elements.size], [60, 0]);
});
