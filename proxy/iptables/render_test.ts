import { assert, assertEquals, assertNotEquals } from "../../tests/assert.ts";
import { buildRuleSet } from "./rules.ts";
import {
  fixedChainFingerprints,
  renderRestoreChunks,
  renderRestoreInput,
  restoreInputOf,
  unchangedFixedChains,
} from "./render.ts";
import { declaredChainCount } from "./iptables.ts";
import { overallServices, slice, stateOf, svc, TEST_OPTIONS } from "./test_helpers.ts";

function overallRuleSet() {
  const { services, slices } = overallServices();
  return buildRuleSet(stateOf(services, slices), TEST_OPTIONS);
}

/** `n` services of `eps` endpoints each. */
function bigRuleSet(n: number, eps: number) {
  const services = [], slices = [];
  for (let i = 0; i < n; i++) {
    services.push(svc("ns", `s${i}`, `172.30.${i >> 8}.${i & 255}`));
    const ips = Array.from({ length: eps }, (_, j) => `10.${i >> 8}.${i & 255}.${j + 1}`);
    slices.push(slice("ns", `s${i}`, ips));
  }
  return buildRuleSet(stateOf(services, slices), TEST_OPTIONS);
}

Deno.test("renderRestoreChunks() yields whole lines that join to renderRestoreInput()", () => {
  const rs = bigRuleSet(300, 5);
  const chunks = [...renderRestoreChunks(rs)];
  assert(chunks.length > 1, `${chunks.length} chunks`);
  for (const c of chunks) assert(c.endsWith("\n"));
  const text = chunks.join("");
  assertEquals(text, renderRestoreInput(rs));
  assert(text.startsWith("*filter\n:KUBE-SERVICES - [0:0]\n"));
  assert(text.endsWith("COMMIT\n"));
  const input = restoreInputOf(rs);
  assertEquals(input.chainCount, declaredChainCount(text));
  assertEquals([...input.chunks()].join(""), text, "chunks() renders again");
});

Deno.test("renderRestoreChunks() leaves out the omitted fixed chains of each table only", () => {
  const rs = overallRuleSet();
  const omitChains = { filter: new Set(["KUBE-SERVICES"]), nat: new Set(["KUBE-NODEPORTS"]) };
  const text = renderRestoreInput(rs, { omitChains });
  const [filter, nat] = text.split("*nat\n");
  assert(!filter.includes("KUBE-SERVICES"), filter);
  assert(filter.includes(":KUBE-NODEPORTS - [0:0]"));
  assert(!nat.includes(":KUBE-NODEPORTS") && !nat.includes("-A KUBE-NODEPORTS "));
  assert(nat.includes(":KUBE-SERVICES - [0:0]") && nat.includes("-A KUBE-SERVICES "));
  // Every other line is there, in order.
  const full = renderRestoreInput(rs).split("\n");
  const kept = full.filter((l, i) =>
    !(i < full.indexOf("*nat") && /^(:|-A )KUBE-SERVICES /.test(l)) &&
    !(i > full.indexOf("*nat") && /^(:|-A )KUBE-NODEPORTS /.test(l))
  );
  assertEquals(text.split("\n"), kept);
  assertEquals(restoreInputOf(rs, { omitChains }).chainCount, declaredChainCount(text));
});

Deno.test("fixedChainFingerprints() changes exactly for the fixed chains whose lines change", () => {
  const a = fixedChainFingerprints(overallRuleSet());
  assertEquals(a, fixedChainFingerprints(overallRuleSet()), "same state, same fingerprints");
  assertEquals([...a.keys()].sort(), [
    "filter/KUBE-EXTERNAL-SERVICES",
    "filter/KUBE-FIREWALL",
    "filter/KUBE-FORWARD",
    "filter/KUBE-NODEPORTS",
    "filter/KUBE-PROXY-FIREWALL",
    "filter/KUBE-SERVICES",
    "nat/KUBE-MARK-MASQ",
    "nat/KUBE-NODEPORTS",
    "nat/KUBE-POSTROUTING",
    "nat/KUBE-SERVICES",
  ]);
  const one = fixedChainFingerprints(bigRuleSet(2, 1));
  const moreEndpoints = fixedChainFingerprints(bigRuleSet(2, 3));
  assertEquals(one, moreEndpoints, "endpoints only change service chains");
  const more = fixedChainFingerprints(bigRuleSet(3, 1));
  const unchanged = unchangedFixedChains(more, one);
  assert(!unchanged.nat.has("KUBE-SERVICES"), "a new service changes KUBE-SERVICES");
  assertNotEquals(more.get("nat/KUBE-SERVICES"), one.get("nat/KUBE-SERVICES"));
  assertEquals([...unchanged.nat].sort(), ["KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING"]);
  assertEquals(unchanged.filter.size, 6, "no filter chain changes");
  assertEquals(unchangedFixedChains(more, new Map()), { filter: new Set(), nat: new Set() });
});

Deno.test("buildRuleSet() with joinServiceRules renders the same text and counts", () => {
  const { services, slices } = overallServices();
  const state = stateOf(services, slices);
  const lines = buildRuleSet(state, TEST_OPTIONS);
  const joined = buildRuleSet(state, { ...TEST_OPTIONS, joinServiceRules: true });
  assert(joined.natRules.length < lines.natRules.length);
  assertEquals(renderRestoreInput(joined), renderRestoreInput(lines));
  assertEquals(joined.counts, lines.counts);
  assertEquals(fixedChainFingerprints(joined), fixedChainFingerprints(lines));
  const omitChains = { nat: new Set(["KUBE-SERVICES", "KUBE-POSTROUTING"]) };
  assertEquals(
    renderRestoreInput(joined, { omitChains }),
    renderRestoreInput(lines, { omitChains }),
  );
  for (const [chain, at] of joined.fixedNatLines) {
    for (const i of at) assert(joined.natRules[i].startsWith(`-A ${chain} `));
  }
});

Deno.test("buildRuleSet() with deferServiceRules renders the same text, counts and fingerprints", () => {
  const { services, slices } = overallServices();
  const state = stateOf(services, slices);
  const variants = [
    {},
    { masqueradeAll: true },
    { localDetector: { mode: "None" } as const },
    { largeClusterEndpointsThreshold: 0 },
    { existingNatChains: ["KUBE-SVC-STALE0000000000", "KUBE-SEP-STALE0000000000", "KUBE-FOO"] },
    { updatedServices: new Set(["ns2/svc2", "ns4/svc4"]) },
  ];
  for (const v of variants) {
    const opts = { ...TEST_OPTIONS, ...v };
    const eager = buildRuleSet(state, opts);
    const lazy = buildRuleSet(state, { ...opts, deferServiceRules: true });
    assert(lazy.deferredServiceRules.length > 0, JSON.stringify(v));
    assert(lazy.natRules.length < eager.natRules.length);
    const text = renderRestoreInput(eager);
    assertEquals(renderRestoreInput(lazy), text, JSON.stringify(v));
    assertEquals(renderRestoreInput(lazy), text, "rendering again gives the same text");
    assertEquals(lazy.counts, eager.counts, JSON.stringify(v));
    assertEquals(lazy.deletedChains, eager.deletedChains);
    assertEquals(lazy.natChains, eager.natChains);
    assertEquals(fixedChainFingerprints(lazy), fixedChainFingerprints(eager));
    const omitChains = { nat: new Set(["KUBE-SERVICES", "KUBE-POSTROUTING"]) };
    assertEquals(
      renderRestoreInput(lazy, { omitChains }),
      renderRestoreInput(eager, { omitChains }),
    );
    for (const [chain, at] of lazy.fixedNatLines) {
      for (const i of at) assert(lazy.natRules[i].startsWith(`-A ${chain} `));
    }
  }
});

Deno.test("renderRestoreChunks() of a deferred rule set yields whole-line chunks of bounded size", () => {
  const services = [], slices = [];
  for (let i = 0; i < 400; i++) {
    services.push(svc("ns", `s${i}`, `172.30.${i >> 8}.${i & 255}`));
    const ips = Array.from({ length: 4 }, (_, j) => `10.${i >> 8}.${i & 255}.${j + 1}`);
    slices.push(slice("ns", `s${i}`, ips));
  }
  const state = stateOf(services, slices);
  const lazy = buildRuleSet(state, { ...TEST_OPTIONS, deferServiceRules: true });
  const chunks = [...renderRestoreChunks(lazy)];
  assert(chunks.length > 2);
  for (const c of chunks) {
    assert(c.endsWith("\n"));
    assert(c.length < 64 * 1024 + 4096, `chunk of ${c.length} characters`);
  }
  assertEquals(chunks.join(""), renderRestoreInput(buildRuleSet(state, TEST_OPTIONS)));
});
