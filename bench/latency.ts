/**
 * Network programming latency: with the proxy (`main.ts`) synced against the API server fixture
 * holding N services x M endpoints, change one endpoint at the fixture and time until the new
 * endpoint's rule is in the kernel; median over repeated changes, on the nft and legacy backends.
 * Each backend runs in its own scratch namespace (`proxy_run.ts`). When the first sync does not
 * finish within `--sync-timeout` at a size, the next smaller size is tried, and the result says so.
 *
 *     deno run -A bench/latency.ts [--sizes=10000,5000,2000] [--endpoints=10] [--changes=9]
 *       [--backends=nft,legacy] [--sync-timeout=240000] [--what-if=list-first,own-chains]
 *       [--out=latency] [--cpu-prof-dir=DIR]
 *
 * `--what-if` runs the nft proxy behind `restore_wrapper.sh`, which applies the changes
 * RESULTS.md recommends to its iptables-nft-restore input, to measure their end-to-end effect.
 *
 * @module
 */

import { BenchFlags, writeBenchOutput } from "./flags.ts";
import { canUseNetns } from "./netns.ts";
import { type ProxyRunResult, runProxyBench } from "./proxy_run.ts";
import { formatSummary, readLoadAverage, readMachineInfo, summarize } from "./stats.ts";

async function main(): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  if (!canUseNetns()) {
    console.error("latency: needs root (network namespaces); skipped");
    return;
  }
  const sizes = flags.numbers("sizes", [10000, 5000, 2000]);
  const backends = flags.string("backends", "nft,legacy").split(",") as ("nft" | "legacy")[];
  const results: (ProxyRunResult & { load: number })[] = [];
  for (const backend of backends) {
    for (const services of sizes) {
      console.error(`latency: ${backend} ${services} services ...`);
      const load = await readLoadAverage();
      const r = await runProxyBench({
        services,
        endpointsPerService: flags.number("endpoints", 10),
        backend,
        changes: flags.number("changes", 9),
        syncTimeoutMs: flags.number("sync-timeout", 240_000),
        minSyncPeriod: flags.string("min-sync-period", "1s"),
        whatIf: backend === "nft" ? flags.string("what-if", "") : "",
        cpuProfDir: flags.string("cpu-prof-dir", "") || undefined,
      });
      results.push({ ...r, load });
      console.error(`latency: ${JSON.stringify(r)}`);
      if (!r.error) break;
    }
  }
  const out = [
    "| backend | services x endpoints | first sync | one-endpoint change to kernel | proxy's own partial sync (mean) | kernel check cost | load | note |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    const lat = r.latenciesMs.length ? formatSummary(summarize(r.latenciesMs), "ms", 0) : "-";
    out.push(
      `| ${r.backend}${
        r.whatIf ? ` + what-if ${r.whatIf}` : ""
      } | ${r.services} x ${r.endpointsPerService} | ${
        r.firstSyncMs >= 0 ? (r.firstSyncMs / 1000).toFixed(1) + " s" : "not finished"
      } | ${lat} | ${partialSyncMean(r)} | ${r.pollMs.toFixed(0)} ms | ${r.load.toFixed(2)} | ${
        r.error ?? ""
      } |`,
    );
  }
  const md = out.join("\n") + "\n";
  await writeBenchOutput(flags.string("out", "latency"), {
    machine: await readMachineInfo(),
    results,
  }, md);
  console.log(md);
}

function partialSyncMean(r: ProxyRunResult): string {
  const m = r.syncMetrics ?? {};
  const sum = m["kubeproxy_sync_partial_proxy_rules_duration_seconds_sum"];
  const count = m["kubeproxy_sync_partial_proxy_rules_duration_seconds_count"];
  return count ? `${(1000 * sum / count).toFixed(0)} ms (${count} syncs)` : "-";
}

if (import.meta.main) await main();
