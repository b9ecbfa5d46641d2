/**
 * nftables mode at cluster scale: for each size, `main.ts` with `mode: nftables` in a scratch
 * namespace against the API server fixture holding the synthetic cluster (`synthetic.ts`, the
 * same as the iptables benchmarks), through `proxy_run.ts`: first full sync into the kernel
 * (main.ts started -> the last service's chain DNATs), process RSS after it, and one-endpoint
 * changes from the fixture to the kernel (the new endpoint's DNAT rule committed, dated by
 * `nft monitor` as the kernel reports it; see `proxy_run.ts`).
 *
 *     deno run -A bench/nft_mode.ts [--sizes=1000,10000,30000] [--endpoints=10] [--changes=9]
 *       [--sync-timeout=120000] [--min-sync-period=1s] [--out=nft_mode] [--cpu-prof-dir=DIR]
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
    console.error("nft_mode: needs root (network namespaces); skipped");
    return;
  }
  const results: (ProxyRunResult & { load: number })[] = [];
  for (const services of flags.numbers("sizes", [1000, 10000, 30000])) {
    console.error(`nft_mode: ${services} services ...`);
    const load = await readLoadAverage();
    const r = await runProxyBench({
      services,
      endpointsPerService: flags.number("endpoints", 10),
      backend: "nft",
      mode: "nftables",
      changes: flags.number("changes", 9),
      syncTimeoutMs: flags.number("sync-timeout", 120_000),
      minSyncPeriod: flags.string("min-sync-period", "1s"),
      cpuProfDir: flags.string("cpu-prof-dir", "") || undefined,
    });
    results.push({ ...r, load });
    console.error(`nft_mode: ${JSON.stringify(r)}`);
  }
  const out = [
    "| services x endpoints | first sync | one-endpoint change to kernel | proxy's partial sync (mean) | RSS after first sync (peak) | load | note |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    const lat = r.latenciesMs.length ? formatSummary(summarize(r.latenciesMs), "ms", 0) : "-";
    const m = r.syncMetrics ?? {};
    const count = m["kubeproxy_sync_partial_proxy_rules_duration_seconds_count"];
    const partial = count
      ? `${
        (1000 * m["kubeproxy_sync_partial_proxy_rules_duration_seconds_sum"] / count).toFixed(0)
      } ms`
      : "-";
    out.push(
      `| ${r.services} x ${r.endpointsPerService} | ${
        r.firstSyncMs >= 0 ? (r.firstSyncMs / 1000).toFixed(2) + " s" : "not finished"
      } | ${lat} | ${partial} | ${(r.rssKb / 1024).toFixed(0)} MB (${
        (r.hwmKb / 1024).toFixed(0)
      } MB) | ${r.load.toFixed(2)} | ${r.error ?? r.detection ?? ""} |`,
    );
  }
  const md = out.join("\n") + "\n";
  await writeBenchOutput(flags.string("out", "nft_mode"), {
    machine: await readMachineInfo(),
    results,
  }, md);
  console.log(md);
}

if (import.meta.main) await main();
