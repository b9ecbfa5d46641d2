import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import { FakeNft } from "./fake.ts";
import { parseSetsListing, parseTableListing } from "./listing.ts";
import { NftError } from "./nft.ts";
import { Transaction } from "./transaction.ts";

function base(): Transaction {
  const tx = new Transaction("ip");
  tx.addTable();
  tx.addChain("nat-prerouting", { type: "nat", hook: "prerouting", priority: -100 });
  tx.addChain("services");
  tx.addChain("service-X-ns/a/tcp/p");
  tx.addSet({
    name: "service-ips",
    type: "ipv4_addr . inet_proto . inet_service",
    valueType: "verdict",
  });
  tx.addSet({
    name: "aff",
    type: "ipv4_addr",
    flags: ["dynamic", "timeout"],
    timeoutSeconds: 10800,
  });
  tx.addRule("nat-prerouting", "jump services");
  tx.addRule("services", "ip daddr . meta l4proto . th dport vmap @service-ips");
  tx.addElement(
    "service-ips",
    "172.30.0.1 . tcp . 80",
    "goto service-X-ns/a/tcp/p",
    'comment "ns/a:p"',
  );
  return tx;
}

Deno.test("FakeNft applies add/flush/delete with nft's semantics", async () => {
  const nft = new FakeNft();
  await nft.run(base());
  await nft.run(base()); // adding again is a no-op; the identical element too
  const t = nft.table("ip")!;
  assertEquals(t.chains.get("services")!.rules.length, 2, "rules are appended, not merged");
  assertEquals(t.sets.get("service-ips")!.elements.get("172.30.0.1 . tcp . 80"), {
    value: "goto service-X-ns/a/tcp/p",
    comment: "ns/a:p",
  });
  const tx = new Transaction("ip");
  tx.flushChain("services").deleteElement("service-ips", "172.30.0.1 . tcp . 80");
  tx.deleteChain("service-X-ns/a/tcp/p");
  await nft.run(tx);
  assertEquals(t === nft.table("ip"), false);
  assertEquals(nft.table("ip")!.chains.get("services")!.rules, []);
  assert(!nft.table("ip")!.chains.has("service-X-ns/a/tcp/p"));
});

Deno.test("FakeNft refuses a bad transaction whole, naming the line", async () => {
  const nft = new FakeNft();
  await nft.run(base());
  const tx = new Transaction("ip");
  tx.flushChain("services");
  tx.addRule("services", "goto missing-chain");
  tx.addRule("services", "drop");
  const err = await assertRejects(() => nft.run(tx), NftError);
  assertEquals(err.line, 2);
  assertStringIncludes(err.context, "> 2: add rule ip kube-proxy services goto missing-chain");
  assertEquals(nft.table("ip")!.chains.get("services")!.rules.length, 1, "nothing changed");
  // A referenced chain cannot be deleted; an element with another value cannot be added.
  const del = new Transaction("ip").deleteChain("service-X-ns/a/tcp/p");
  await assertRejects(() => nft.run(del), NftError, "busy");
  const dup = new Transaction("ip").addElement("service-ips", "172.30.0.1 . tcp . 80", "drop");
  await assertRejects(() => nft.run(dup), NftError, "File exists");
  await assertRejects(() => nft.run(new Transaction("ip6").deleteTable()), NftError);
});

Deno.test("FakeNft's listing parses back into the same table", async () => {
  const nft = new FakeNft();
  await nft.run(base());
  const parsed = parseTableListing((await nft.listTable("ip"))!);
  assertEquals(parsed, nft.table("ip"));
});

Deno.test("NftError.fromStderr() reads nft's error format", () => {
  const input = "a\nb\nc\nd\ne\nf\ng\nh\n";
  const e = NftError.fromStderr(
    input,
    "/dev/stdin:5:1-3: Error: Could not process rule: X\ne\n^\n",
  );
  assertEquals(e.line, 5);
  assertEquals(e.message, "nft failed at line 5: Could not process rule: X: e");
  assertEquals(e.context.split("\n").length, 7);
  assertEquals(NftError.fromStderr(input, "boom\n").line, 0);
});

Deno.test("Transaction.chunks() yields the rendered text in pieces", () => {
  const tx = base();
  for (let i = 0; i < 5000; i++) tx.addElement("cluster-ips", `10.0.${i >> 8}.${i & 255}`);
  const chunks = [...tx.chunks()];
  assert(chunks.length > 2, `${chunks.length} chunks`);
  assertEquals(chunks.join(""), tx.render());
  assertEquals([...new Transaction("ip").chunks()], []);
});

Deno.test("timed elements: the fake applies them, nft's set listing parses back with expires", async () => {
  const nft = new FakeNft();
  const tx = base();
  tx.addTimedElement("aff", "10.0.0.1", 10800, 9876);
  tx.addTimedElement("aff", "10.0.0.2", 10800, 0);
  await nft.run(tx);
  assertEquals([...nft.table("ip")!.sets.get("aff")!.elements], [
    ["10.0.0.1", { value: undefined, comment: undefined, expiresSeconds: 9876 }],
    ["10.0.0.2", { value: undefined, comment: undefined, expiresSeconds: 10800 }],
  ]);
  const tooLong = new Transaction("ip").addTimedElement("aff", "10.0.0.3", 10800, 10801);
  await assertRejects(() => nft.run(tooLong), NftError, "Numerical result out of range");
  const untimed = new Transaction("ip").addTimedElement("service-ips", "10.0.0.3", 60, 1);
  await assertRejects(() => nft.run(untimed), NftError);
  // `nft list sets ip` lists every table's sets; only kube-proxy's are read.
  nft.applyText("add table ip other\nadd set ip other aff { type ipv4_addr ; }\n");
  const sets = parseSetsListing(await nft.listSets("ip"), "ip").sets;
  assertEquals([...sets.keys()], ["aff"]);
  assertEquals(sets.get("aff"), nft.table("ip")!.sets.get("aff"));
  assertEquals(parseSetsListing(await nft.listSets("ip6"), "ip6").sets.size, 0);
});

Deno.test("parseSetsListing() reads nft 1.0.6's timeouts and expiries (milliseconds dropped)", () => {
  const listing = [
    "table ip kube-proxy {",
    "\tset affinity-A {",
    "\t\ttype ipv4_addr",
    "\t\tflags dynamic,timeout",
    "\t\ttimeout 3h",
    "\t\telements = { 10.0.0.1 expires 2h44m35s984ms, 10.0.0.2 timeout 1d expires 1d2m,",
    "\t\t\t     10.0.0.3 expires 984ms }",
    "\t}",
    "}",
    "",
  ].join("\n");
  const set = parseSetsListing(listing, "ip").sets.get("affinity-A")!;
  assertEquals(set.timeoutSeconds, 10800);
  assertEquals([...set.elements], [
    ["10.0.0.1", { value: undefined, comment: undefined, expiresSeconds: 9875 }],
    ["10.0.0.2", { value: undefined, comment: undefined, expiresSeconds: 86520 }],
    ["10.0.0.3", { value: undefined, comment: undefined, expiresSeconds: 0 }],
  ]);
});
