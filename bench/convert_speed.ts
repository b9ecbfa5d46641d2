/**
 * Time of the ingest converters alone (`toService`, `toEndpointSlice` of `cache/convert.ts`, with
 * their validation): the synthetic cluster of `bench/cache_memory.ts` as parsed JSON, converted in
 * a loop; the median of the rounds after five warm-up rounds.
 *
 *     deno run -A bench/convert_speed.ts [--services=10000] [--endpoints=10] [--rounds=25]
 *
 * Writes bench/out/convert_speed.{json,md}.
 *
 * @module
 */

import { toEndpointSlice, toService } from "../cache/convert.ts";
import { BenchFlags, writeBenchOutput } from "./flags.ts";
import { formatSummary, readLoadAverage, summarize } from "./stats.ts";
import { generateSyntheticCluster } from "./synthetic.ts";

async function main(): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  const services = flags.number("services", 10_000);
  const endpoints = flags.number("endpoints", 10);
  const rounds = flags.number("rounds", 25);
  const cluster = generateSyntheticCluster({ services, endpointsPerService: endpoints });
  // Fresh objects, as the list decoder hands them over.
  const rawServices = cluster.services.map((o) => JSON.parse(JSON.stringify(o)));
  const rawSlices = cluster.endpointSlices.map((o) => JSON.parse(JSON.stringify(o)));
  const serviceMs: number[] = [], sliceMs: number[] = [];
  for (let r = 0; r < rounds + 5; r++) {
    const t0 = performance.now();
    let converted = 0;
    for (const raw of rawServices) if (toService(raw) !== undefined) converted++;
    const t1 = performance.now();
    for (const raw of rawSlices) if (toEndpointSlice(raw) !== undefined) converted++;
    const t2 = performance.now();
    if (converted !== rawServices.length + rawSlices.length) {
      throw new Error(`only ${converted} objects converted`);
    }
    if (r >= 5) {
      serviceMs.push(t1 - t0);
      sliceMs.push(t2 - t1);
    }
  }
  const load = await readLoadAverage();
  const result = {
    services,
    slices: rawSlices.length,
    endpoints,
    toService: summarize(serviceMs),
    toEndpointSlice: summarize(sliceMs),
    load,
  };
  const md = [
    "| services | slices x endpoints | toService, all services | toEndpointSlice, all slices | load average |",
    "|---|---|---|---|---|",
    `| ${services} | ${rawSlices.length} x ${endpoints} | ${formatSummary(result.toService)} | ${
      formatSummary(result.toEndpointSlice)
    } | ${load} |`,
    "",
  ].join("\n");
  await writeBenchOutput("convert_speed", result, md);
  console.log(md);
}

if (import.meta.main) await main();
