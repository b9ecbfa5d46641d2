/**
 * No byte of an API object can change the structure of the rules (issue 14, item 1): the
 * injection cases (`../injection_cases.ts`: random names through ingest) that survive go through
 * the proxier's state and rule rendering, and the rendered ruleset, parsed by `FakeIptables`, must
 * be exactly the ruleset of the same services under safe names: the same chains and the same rules
 * once chain hashes and comments are set aside, and every DNAT to an endpoint of ours.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import { INJECTION_SEED, injectionBatches } from "../injection_cases.ts";
import { FakeIptables } from "./fake.ts";
import { renderState, stateOf } from "./test_helpers.ts";
import type { Table } from "./chains.ts";

const TABLES: Table[] = ["filter", "nat"];
const HASHED_CHAIN = /\bKUBE-(SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}\b/g;
const COMMENT = / -m comment --comment ("(?:[^"\\]|\\.)*"|\S+)/g;

/** A ruleset with the names set aside: chain hashes and comments blanked, rules sorted. */
function structureOf(fake: FakeIptables): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const table of TABLES) {
    const chains = fake.chains(table).map((c) => c.replace(HASHED_CHAIN, "KUBE-$1-*"));
    const rules = fake.chains(table).flatMap((c) =>
      fake.rules(table, c)!.map((r) => r.replace(COMMENT, "").replace(HASHED_CHAIN, "KUBE-$1-*"))
    );
    out[`${table} chains`] = chains.sort();
    out[`${table} rules`] = rules.sort();
  }
  return out;
}

async function restored(text: string): Promise<FakeIptables> {
  const fake = new FakeIptables("IPv4");
  await fake.restore(text, { noflush: true });
  return fake;
}

Deno.test("random names through ingest and rendering give exactly the intended rules", async () => {
  for (const b of injectionBatches()) {
    const fake = await restored(renderState(stateOf(b.services, b.slices)));
    const safe = await restored(renderState(stateOf(b.safeServices, b.safeSlices)));
    assertEquals(structureOf(fake), structureOf(safe), `batch ${b.batch} (seed ${INJECTION_SEED})`);
    // Every DNAT goes to one of our endpoints; nothing matches a port no service has.
    for (const chain of fake.chains("nat")) {
      for (const rule of fake.rules("nat", chain)!) {
        const dnat = rule.match(/ -j DNAT --to-destination (\S+)/);
        if (dnat !== null) assert(b.endpoints.has(dnat[1]), `unexpected DNAT: ${rule}`);
        assert(!/--dport 443\b/.test(rule), `unexpected port 443 rule: ${rule}`);
      }
    }
  }
});
