/**
 * Memory: the proxy's resident set (VmRSS, and the peak VmHWM, from /proc/<pid>/status) after its
 * initial sync against the API server fixture at 1,000 / 10,000 / 30,000 services x 10 endpoints,
 * each in its own scratch namespace (`proxy_run.ts`), legacy backend (the kernel side does not
 * change the process's memory; legacy syncs first the fastest). Writes bench/plots/rss.svg.
 *
 *     deno run -A bench/rss.ts [--sizes=1000,10000,30000] [--endpoints=10] [--backend=legacy]
 *
 * @module
 */

import { BenchFlags, writeBenchOutput, writePlot } from "./flags.ts";
import { canUseNetns } from "./netns.ts";
import { renderLinePlot } from "./plot.ts";
import { type ProxyRunResult, runProxyBench } from "./proxy_run.ts";
import { readLoadAverage, readMachineInfo } from "./stats.ts";

async function main(): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  if (!canUseNetns()) {
    console.error("rss: needs root (network namespaces); skipped");
    return;
  }
  const sizes = flags.numbers("sizes", [1000, 10000, 30000]);
  const backend = flags.string("backend", "legacy") as "nft" | "legacy";
  const results: (ProxyRunResult & { load: number })[] = [];
  for (const services of sizes) {
    console.error(`rss: ${services} services ...`);
    const load = await readLoadAverage();
    const r = await runProxyBench({
      services,
      endpointsPerService: flags.number("endpoints", 10),
      backend,
      changes: 0,
      syncTimeoutMs: flags.number("sync-timeout", 300_000),
    });
    console.error(`rss: ${JSON.stringify(r)}`);
    results.push({ ...r, load });
  }
  const out = [
    "| services x endpoints | backend | VmRSS after sync | VmHWM (peak) | first sync | load | note |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    out.push(
      `| ${r.services} x ${r.endpointsPerService} | ${r.backend} | ${
        (r.rssKb / 1024).toFixed(0)
      } MB | ${(r.hwmKb / 1024).toFixed(0)} MB | ${
        r.firstSyncMs >= 0 ? (r.firstSyncMs / 1000).toFixed(1) + " s" : "-"
      } | ${r.load.toFixed(2)} | ${r.error ?? ""} |`,
    );
  }
  const md = out.join("\n") + "\n";
  await writeBenchOutput("rss", { machine: await readMachineInfo(), results }, md);
  await writePlot(
    "rss",
    renderLinePlot({
      title: "Proxy memory after initial sync (10 endpoints per service)",
      xLabel: "services",
      yLabel: "MB",
      series: [
        { label: "VmRSS", points: results.map((r) => [r.services, r.rssKb / 1024] as const) },
        {
          label: "VmHWM (peak)",
          points: results.map((r) => [r.services, r.hwmKb / 1024] as const),
        },
      ],
    }),
  );
  console.log(md);
}

if (import.meta.main) await main();
