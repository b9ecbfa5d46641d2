/**
 * Packet-flow tests of iptables mode: every scenario and row of `../packet_flows_testdata.ts`
 * (upstream's runPacketFlowTests tables), built with buildRuleSet(), restored into FakeIptables
 * and traced with tracePacket(); each case's rule text also passes this mode's checks below
 * (jumps, goldens, key lines). Partial sync and tcpBeLiberal are tested here too.
 */
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { type FlowSetup, scenariosFor } from "../packet_flows_testdata.ts";
import { FakeIptables } from "./fake.ts";
import { buildRuleSet, type RuleSet, type RuleSetOptions } from "./rules.ts";
import { renderRestoreInput } from "./render.ts";
import { tracePacket } from "./tracer.ts";
import {
  assertGolden,
  checkRuleJumps,
  overallServices,
  renderState,
  runPacketFlowTests,
  slice,
  stateOf,
  TEST_OPTIONS,
} from "./test_helpers.ts";

/** The rule options of a flow case's setting. */
function optionsFor(setup: FlowSetup): RuleSetOptions {
  return {
    ...TEST_OPTIONS,
    family: setup.family ?? TEST_OPTIONS.family,
    nodeIP: setup.nodeIP ?? TEST_OPTIONS.nodeIP,
    nodeLabels: setup.labels,
    localDetector: setup.localDetector ?? TEST_OPTIONS.localDetector,
    nodePortIPs: setup.nodePortIPs,
    localhostNodePorts: setup.localhostNodePorts ?? TEST_OPTIONS.localhostNodePorts,
    masqueradeAll: setup.masqueradeAll ?? TEST_OPTIONS.masqueradeAll,
    dnsIntercept: setup.dnsIntercept,
  };
}

/** This mode's checks of a case's rule text, by case name. */
const RULE_CHECKS: Readonly<
  Record<string, (text: string, rs: RuleSet) => void | Promise<void>>
> = {
  "detectLocalMode BridgeInterface": (text) =>
    assertStringIncludes(text, "! -i cbr0 -j KUBE-MARK-MASQ"),
  "detectLocalMode InterfaceNamePrefix": (text) =>
    assertStringIncludes(text, "! -i veth+ -j KUBE-MARK-MASQ"),
  "no local detector": (text) => assertEquals(checkRuleJumps(text), []),
  "iTP Local": async (text) => {
    assertEquals(checkRuleJumps(text), []);
    await assertGolden("itp_local", text);
  },
  "iTP Local without local endpoints": (text) =>
    assertStringIncludes(
      text,
      `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j DROP`,
    ),
  "eTP Local": async (text, rs) => {
    assertEquals(checkRuleJumps(text), []);
    await assertGolden("etp_local", text);
    assertEquals(rs.noLocalEndpoints, { internal: 0, external: 0 });
  },
  "zone hints": (text) => assertEquals(checkRuleJumps(text), []),
  "multi-protocol": async (text) => {
    assertEquals(checkRuleJumps(text), []);
    await assertGolden("multi_protocol", text);
  },
  "ClientIP affinity": (text) => {
    assertStringIncludes(
      text,
      `-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m recent --name KUBE-SEP-`,
    );
    assertStringIncludes(text, "--rcheck --seconds 300 --reap -j KUBE-SEP-");
    assertEquals((text.match(/ --set /g) ?? []).length, 2);
  },
  "nodePortAddresses with localhost": (text) => {
    assertStringIncludes(
      text,
      `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.168.0.2 -j KUBE-NODEPORTS\n`,
    );
    assert(!text.includes("-d 127.0.0.1 -j KUBE-NODEPORTS"));
    assert(!text.includes("KUBE-FIREWALL"));
  },
  "every local address but localhost": (text) =>
    assertStringIncludes(text, "-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS"),
  "IPv6": async (text) => {
    assertEquals(checkRuleJumps(text), []);
    assert(
      !text.includes("10.180.0.1") && !text.includes("172.30") && !text.includes("KUBE-FIREWALL"),
    );
    await assertGolden("ipv6", text);
  },
  "DNS intercept": async (text) => {
    assertEquals(checkRuleJumps(text), []);
    await assertGolden("dns_intercept", text);
    // The jump is the first rule of nat KUBE-SERVICES.
    const nat = text.slice(text.indexOf("*nat"));
    const natServices = nat.split("\n").filter((l) => l.startsWith("-A KUBE-SERVICES -m comment"));
    assertStringIncludes(natServices[0], "-j KUBE-DNS-INTERCEPT");
  },
};

const SCENARIOS = scenariosFor("iptables");

for (const scenario of SCENARIOS) {
  Deno.test(`buildRuleSet() ${scenario.name}`, async (t) => {
    for (const c of scenario.cases) {
      const rs = buildRuleSet(stateOf(c.services, c.slices, c.family), optionsFor(c.setup));
      const text = renderRestoreInput(rs);
      await RULE_CHECKS[c.name]?.(text, rs);
      await runPacketFlowTests(t, c.name, text, c.rows, c.family, c.nodeIPs);
    }
  });
}

Deno.test("every iptables rule check names a case of the flow tables", () => {
  const cases = new Set(SCENARIOS.flatMap((s) => s.cases.map((c) => c.name)));
  assertEquals(Object.keys(RULE_CHECKS).filter((name) => !cases.has(name)), []);
});

Deno.test("buildRuleSet() omits the INVALID drop rule with tcpBeLiberal", () => {
  const state = stateOf([], []);
  assert(renderState(state).includes("--ctstate INVALID"));
  assert(!renderState(state, { tcpBeLiberal: true }).includes("--ctstate INVALID"));
  assertStringIncludes(
    renderState(state, { randomFully: true }),
    `-j MASQUERADE --random-fully\n`,
  );
});

Deno.test("buildRuleSet() partial sync rewrites only changed services and deletes stale chains", async () => {
  const { services, slices } = overallServices();
  const fake = new FakeIptables();
  await fake.restore(renderState(stateOf(services, slices)), { noflush: true });
  const before = fake.chains("nat");
  // svc4 loses an endpoint, svc3 is deleted.
  const slices2 = slices.filter((s) => s.serviceName !== "svc3").map((s) =>
    s.serviceName === "svc4" ? slice("ns4", "svc4", ["10.180.0.4"]) : s
  );
  const services2 = services.filter((s) => s.name !== "svc3");
  const rs = buildRuleSet(stateOf(services2, slices2), {
    ...TEST_OPTIONS,
    updatedServices: new Set(["ns3/svc3", "ns4/svc4"]),
    existingNatChains: before,
  });
  const text = renderRestoreInput(rs);
  await assertGolden("partial_sync", text);
  // Unchanged services' chains are not in the input.
  assert(!text.includes(":KUBE-SVC-XPGD46QRK7WJZT7O"));
  assert(text.includes(`-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP"`));
  assertEquals(rs.deletedChains, [
    "KUBE-EXT-X27LE4BHSL4DOUIK",
    "KUBE-SEP-C6EBXVWJJZMIWKLZ",
    "KUBE-SEP-OYPFS5VJICHGATKP",
    "KUBE-SVC-X27LE4BHSL4DOUIK",
  ]);
  assert(rs.counts.natTotal > rs.counts.nat);
  await fake.restore(text, { noflush: true });
  for (const chain of rs.deletedChains) assertEquals(fake.rules("nat", chain), undefined);
  const flows = [
    ["172.30.0.41", "10.180.0.1:80"],
    ["172.30.0.44", "10.180.0.4:80"],
    ["172.30.0.43", ""],
  ];
  for (const [destIP, output] of flows) {
    const r = tracePacket(fake, { sourceIP: "10.0.0.2", destIP, destPort: 80 });
    assertEquals(r.output, output, destIP);
  }
  // The resulting kernel state equals a full sync of the new state.
  const full = new FakeIptables();
  await full.restore(renderState(stateOf(services2, slices2)), { noflush: true });
  assertEquals(fake.dump("nat"), full.dump("nat"));
  assertEquals(fake.dump("filter"), full.dump("filter"));
});
