/** Tests of the shared packet-flow table: per-mode resolution and the table's own invariants. */
import { assertEquals } from "../tests/assert.ts";
import { FLOW_SCENARIOS, type FlowRow, flowsFor, scenariosFor } from "./packet_flows_testdata.ts";

const base = {
  sourceIP: "10.0.0.2",
  destIP: "172.30.0.41",
  destPort: 81,
  output: "",
  masq: false,
};

Deno.test("flowsFor() applies nftables overrides and keeps one-mode rows in their mode", () => {
  const rows: FlowRow[] = [
    { name: "same", ...base },
    { name: "differs", ...base, nftables: { output: "REJECT", masq: false, why: "w" } },
    { name: "iptables only", ...base, only: { mode: "iptables", why: "w" } },
  ];
  assertEquals(flowsFor("iptables", rows), [
    { name: "same", ...base },
    { name: "differs", ...base },
    { name: "iptables only", ...base },
  ]);
  assertEquals(flowsFor("nftables", rows), [
    { name: "same", ...base },
    { name: "differs", ...base, output: "REJECT" },
  ]);
});

Deno.test("flow table: case names are unique and every difference gives its reason", () => {
  const cases = FLOW_SCENARIOS.flatMap((s) => s.cases);
  assertEquals(new Set(cases.map((c) => c.name)).size, cases.length);
  const reasons = cases.flatMap((c) => [
    c.nftables?.why,
    ...c.rows.flatMap((r) => [r.nftables?.why, r.only?.why]),
  ]);
  assertEquals(reasons.filter((why) => why !== undefined && why.trim() === ""), []);
  // Each mode traces every row of the table that is not marked for the other mode only.
  for (const mode of ["iptables", "nftables"] as const) {
    const traced = scenariosFor(mode).flatMap((s) => s.cases.flatMap((c) => c.rows)).length;
    const rows = cases.flatMap((c) => c.rows).filter((r) => (r.only?.mode ?? mode) === mode);
    assertEquals(traced, rows.length, mode);
  }
});
