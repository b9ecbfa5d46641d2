/**
 * No byte of an API object can change the structure of the nftables table (issue 14, item 1): the
 * injection cases (`../injection_cases.ts`: random names through ingest) that survive are synced
 * through the real `NftablesBackend` into a `FakeNft`, and the resulting table must be exactly
 * the table of the same services under safe names: the same chains, rules, sets and elements
 * once the per-service names (hash and name) and comments are set aside, and every DNAT to an
 * endpoint of ours.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import { INJECTION_SEED, injectionBatches } from "../injection_cases.ts";
import { ruleWithoutComment, type TableState } from "./ruleset.ts";
import { syncOnce } from "./test_helpers.ts";

/** A per-service chain or set name: its prefix, the hash of its base, the base. */
const PER_SERVICE = /\b(service|local|external|firewall|endpoint|affinity)-[A-Z2-7]{8}-\S*/g;

function anonymous(text: string): string {
  return text.replace(PER_SERVICE, "$1-*");
}

/** A table with the names set aside: per-service names blanked, comments dropped, all sorted. */
function structureOf(table: TableState): Record<string, string[]> {
  const chains = [...table.chains].map(([name, c]) => anonymous(name) + (c.base ?? ""));
  const rules = [...table.chains].flatMap(([name, c]) =>
    c.rules.map((r) => `${anonymous(name)}: ${anonymous(ruleWithoutComment(r))}`)
  );
  const elements = [...table.sets].flatMap(([name, s]) =>
    [...s.elements].map(([key, e]) => `${anonymous(name)}: ${key} : ${anonymous(e.value ?? "")}`)
  );
  const sets = [...table.sets].map(([name, s]) => `${anonymous(name)} ${s.type}`);
  return {
    chains: chains.sort(),
    rules: rules.sort(),
    sets: sets.sort(),
    elements: elements.sort(),
  };
}

Deno.test("random names through ingest and the nftables backend give exactly the intended table", async () => {
  for (const b of injectionBatches()) {
    const { table } = await syncOnce(b.services, b.slices);
    const { table: safe } = await syncOnce(b.safeServices, b.safeSlices);
    assertEquals(
      structureOf(table),
      structureOf(safe),
      `batch ${b.batch} (seed ${INJECTION_SEED})`,
    );
    // Every DNAT goes to one of our endpoints; nothing matches a port no service has.
    for (const [name, chain] of table.chains) {
      for (const rule of chain.rules) {
        for (const dnat of rule.matchAll(/dnat to (\S+)/g)) {
          assert(b.endpoints.has(dnat[1]), `unexpected DNAT in ${name}: ${rule}`);
        }
        assert(!/dport 443\b/.test(rule), `unexpected port 443 rule in ${name}: ${rule}`);
      }
    }
    for (const [name, set] of table.sets) {
      for (const key of set.elements.keys()) {
        assert(!/\. 443\b/.test(key), `unexpected port 443 element in ${name}: ${key}`);
      }
    }
  }
});
