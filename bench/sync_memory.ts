/**
 * Where a full sync's memory goes, in-process: V8 heap used and process RSS after each step of
 * one full sync of the synthetic cluster (trimmed objects, the proxier's state maps, `buildRuleSet`,
 * `renderRestoreInput`, the encoded text), each after forced GCs. Complements `rss.ts` (the whole
 * proxy) and the cache engineer's `cache_memory.ts` (the cache alone).
 *
 *     deno run -A --v8-flags=--expose-gc bench/sync_memory.ts [--services=10000] [--endpoints=10]
 *
 * @module
 */

import { BenchFlags, writeBenchOutput } from "./flags.ts";
import { buildProxyState, syntheticRuleSetOptions } from "./real_rules.ts";
import { generateSyntheticCluster, trimSyntheticCluster } from "./synthetic.ts";
import { buildRuleSet } from "../proxy/iptables/rules.ts";
import { renderRestoreInput } from "../proxy/iptables/render.ts";

/** One step's memory. */
export interface MemoryStep {
  readonly step: string;
  readonly heapUsedMb: number;
  readonly rssMb: number;
  readonly externalMb: number;
}

/** Forces two GCs (with --expose-gc) and reads the heap and RSS, in MB. */
export function snapshotMemory(step: string): MemoryStep {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = Deno.memoryUsage();
  const mb = (n: number) => Math.round(n / 1048576);
  return { step, heapUsedMb: mb(m.heapUsed), rssMb: mb(m.rss), externalMb: mb(m.external) };
}

/** The steps as the Markdown table bench/RESULTS.md quotes, under a `services x endpoints` line. */
export function memoryTable(
  services: number,
  endpoints: number,
  steps: readonly MemoryStep[],
): string {
  return [
    `${services} services x ${endpoints} endpoints`,
    "",
    "| step | V8 heap used | RSS | external |",
    "|---|---|---|---|",
    ...steps.map((s) => `| ${s.step} | ${s.heapUsedMb} MB | ${s.rssMb} MB | ${s.externalMb} MB |`),
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  if (!(globalThis as { gc?: () => void }).gc) {
    console.error("sync_memory: run with --v8-flags=--expose-gc for meaningful figures");
  }
  const services = flags.number("services", 10000);
  const endpoints = flags.number("endpoints", 10);
  const steps: MemoryStep[] = [snapshotMemory("empty process")];
  let raw: ReturnType<typeof generateSyntheticCluster> | undefined = generateSyntheticCluster({
    services,
    endpointsPerService: endpoints,
  });
  const cluster = trimSyntheticCluster(raw);
  raw = undefined;
  steps.push(snapshotMemory("trimmed Services + EndpointSlices (what the cache holds)"));
  const state = buildProxyState(cluster);
  steps.push(snapshotMemory("+ proxier state maps"));
  const ruleSet = buildRuleSet(state, syntheticRuleSetOptions(cluster));
  steps.push(snapshotMemory(`+ buildRuleSet output (${ruleSet.natRules.length} nat lines)`));
  const text = renderRestoreInput(ruleSet);
  steps.push(
    snapshotMemory(`+ renderRestoreInput text (${(text.length / 1048576).toFixed(0)} MB)`),
  );
  const bytes = new TextEncoder().encode(text);
  steps.push(snapshotMemory(`+ the text encoded (${(bytes.length / 1048576).toFixed(0)} MB)`));
  const md = memoryTable(services, endpoints, steps);
  await writeBenchOutput("sync_memory", { services, endpoints, steps }, md);
  console.log(md);
  // Keep everything reachable until the last snapshot.
  if (bytes.length + text.length + state.services.size < 0) console.log(cluster);
}

if (import.meta.main) await main();
