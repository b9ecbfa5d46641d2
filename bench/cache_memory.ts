/**
 * Memory of the watch cache alone: the resident set of a process that runs only `ClusterCache`
 * (no proxier, no DNS) after its initial sync of 10,000 Services and 10,000 EndpointSlices of 10
 * endpoints each, served by the API server fixture in a separate process (so the fixture's own
 * memory does not count). Target: under 200 MB for the whole process.
 *
 *     deno run -A bench/cache_memory.ts [--services=10000] [--endpoints=10]
 *
 * Reports, from the cache process: VmRSS right after the sync, VmRSS and the V8 heap after a
 * forced GC, VmHWM (the peak, which includes the transient list decoding), the RSS of an idle
 * process with the same imports (the runtime's floor), and the time from start to synced.
 * Writes bench/out/cache_memory.{json,md}.
 *
 * @module
 */

import { startFixtureProcess } from "./fixture_process.ts";
import { BenchFlags, writeBenchOutput } from "./flags.ts";
import { generateSyntheticCluster, SYNTHETIC_NODE_NAME } from "./synthetic.ts";
import { CHILD_ENV } from "../tests/sandbox/command.ts";

/** What the cache process reports. */
export interface CacheMemoryResult {
  readonly services: number;
  readonly endpointSlices: number;
  readonly syncMs: number;
  readonly baselineRssMb: number;
  readonly rssAfterSyncMb: number;
  readonly rssAfterGcMb: number;
  readonly heapUsedAfterGcMb: number;
  readonly heapTotalAfterGcMb: number;
  readonly peakRssMb: number;
}

const MB = 1024 * 1024;

async function readStatusKb(field: string): Promise<number> {
  const status = await Deno.readTextFile("/proc/self/status");
  const m = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) : 0;
}

/** Child mode: run the cache against `server`, print one JSON line. */
async function runCacheProcess(server: string, node: string): Promise<void> {
  const { ClusterCache } = await import("../cache/cache.ts");
  const { loadClientConfig } = await import("../cache/client.ts");
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  gc();
  const baselineRssMb = Deno.memoryUsage().rss / MB;
  const cache = new ClusterCache(await loadClientConfig({ master: server }), node);
  const t0 = performance.now();
  await cache.start();
  await cache.synced;
  const syncMs = performance.now() - t0;
  const rssAfterSyncMb = Deno.memoryUsage().rss / MB;
  gc();
  await new Promise((r) => setTimeout(r, 500));
  gc();
  const mem = Deno.memoryUsage();
  const result: CacheMemoryResult = {
    services: cache.services().length,
    endpointSlices: cache.endpointSlices().length,
    syncMs: Math.round(syncMs),
    baselineRssMb: Math.round(baselineRssMb),
    rssAfterSyncMb: Math.round(rssAfterSyncMb),
    rssAfterGcMb: Math.round(mem.rss / MB),
    heapUsedAfterGcMb: Math.round(mem.heapUsed / MB),
    heapTotalAfterGcMb: Math.round(mem.heapTotal / MB),
    peakRssMb: Math.round((await readStatusKb("VmHWM")) / 1024),
  };
  await cache.stop();
  console.log(JSON.stringify(result));
}

async function main(): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  if (flags.string("child-server", "") !== "") {
    await runCacheProcess(flags.string("child-server", ""), flags.string("node", "node-0"));
    return;
  }
  const services = flags.number("services", 10_000);
  const endpoints = flags.number("endpoints", 10);
  const cluster = generateSyntheticCluster({ services, endpointsPerService: endpoints });
  const dir = await Deno.makeTempDir({ prefix: "kpcache-bench-" });
  const root = new URL("..", import.meta.url).pathname;
  const fixture = await startFixtureProcess(cluster, dir);
  try {
    const loadMs = fixture.loadMs;
    console.error(`cache_memory: fixture loaded ${services} services in ${Math.round(loadMs)} ms`);
    const child = await new Deno.Command(Deno.execPath(), {
      env: CHILD_ENV,
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        `${root}bench/cache_memory.ts`,
        `--child-server=${fixture.url}`,
        `--node=${SYNTHETIC_NODE_NAME}`,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!child.success) throw new Error("cache process failed");
    const result: CacheMemoryResult = JSON.parse(new TextDecoder().decode(child.stdout).trim());
    const md = [
      "| services x endpoints | slices | time to sync | idle floor | RSS after sync | RSS after GC | V8 heap used / committed after GC | peak (VmHWM) |",
      "|---|---|---|---|---|---|---|---|",
      `| ${services} x ${endpoints} | ${result.endpointSlices} | ${
        (result.syncMs / 1000).toFixed(1)
      } s | ${result.baselineRssMb} MB | ${result.rssAfterSyncMb} MB | ${result.rssAfterGcMb} MB | ${result.heapUsedAfterGcMb} / ${result.heapTotalAfterGcMb} MB | ${result.peakRssMb} MB |`,
      "",
      `Fixture load (separate process, not counted): ${(loadMs / 1000).toFixed(1)} s.`,
      "",
    ].join("\n");
    await writeBenchOutput("cache_memory", { services, endpoints, loadMs, result }, md);
    console.log(md);
  } finally {
    await fixture.close();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
