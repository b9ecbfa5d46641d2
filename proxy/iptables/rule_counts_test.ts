import { assert, assertEquals } from "../../tests/assert.ts";
import { buildRuleSet } from "./rules.ts";
import { renderRestoreInput } from "./render.ts";
import { overallServices, stateOf, TEST_OPTIONS } from "./test_helpers.ts";

/** Lines of `-A` rules in a restore text. */
function ruleLines(text: string, table: string): number {
  const body = text.split(`*${table}\n`)[1].split("COMMIT\n")[0];
  return body.split("\n").filter((l) => l.startsWith("-A ")).length;
}

Deno.test("RuleSet counts are the lines the rendered text holds, deferred or not", () => {
  const { services, slices } = overallServices();
  const state = stateOf(services, slices);
  for (const deferServiceRules of [false, true]) {
    const rs = buildRuleSet(state, { ...TEST_OPTIONS, deferServiceRules });
    const text = renderRestoreInput(rs);
    assertEquals(rs.counts.nat, ruleLines(text, "nat"));
    assertEquals(rs.counts.filter, ruleLines(text, "filter"));
    assertEquals(rs.counts.natTotal, rs.counts.nat);
    let own = 0;
    for (const n of rs.serviceLines.values()) own += n;
    let fixed = 0;
    for (const at of rs.fixedNatLines.values()) fixed += at.length;
    assertEquals(own + fixed, rs.counts.nat, "every nat line is a fixed or a service line");
    assertEquals(rs.serviceLines.size, state.services.size);
  }
});

Deno.test("A partial sync counts skipped services as they were last written", () => {
  const { services, slices } = overallServices();
  const state = stateOf(services, slices);
  const full = buildRuleSet(state, { ...TEST_OPTIONS, deferServiceRules: true });
  renderRestoreInput(full);
  const updatedServices = new Set(["ns2/svc2"]);
  const partial = buildRuleSet(state, {
    ...TEST_OPTIONS,
    deferServiceRules: true,
    updatedServices,
    writtenServiceLines: full.serviceLines,
  });
  renderRestoreInput(partial);
  assertEquals(partial.counts.natTotal, full.counts.nat);
  assert(partial.counts.nat < full.counts.nat);
  assertEquals(partial.serviceLines, full.serviceLines);
  // The remembered counts are what is used for the skipped services (not a recount).
  const [skippedKey] = [...full.serviceLines.keys()].filter((k) => !k.startsWith("ns2/svc2"));
  const remembered = new Map(full.serviceLines);
  remembered.set(skippedKey, remembered.get(skippedKey)! + 5);
  const fromMemory = buildRuleSet(state, {
    ...TEST_OPTIONS,
    updatedServices,
    writtenServiceLines: remembered,
  });
  assertEquals(fromMemory.counts.natTotal, full.counts.nat + 5);
});
