/**
 * `deno task bench`: every benchmark in turn, each as its own process (so one's memory and JIT
 * state do not colour the next), with bounds chosen to keep the whole run near 25 minutes on the
 * 2-core machine (the two memory-over-time benchmarks of issue 14 take ~8 of them). Each benchmark
 * also runs alone (see its file). Benchmarks that need root or a missing Debian tool say so and
 * are skipped. Figures land in bench/out/, plots in bench/plots/.
 *
 *     deno task bench [--quick] [--only=iptables_restore,dns_perf,nft_mode,latency,...]
 *
 * @module
 */

import { BenchFlags } from "./flags.ts";
import { CHILD_ENV } from "../tests/sandbox/command.ts";

/** The benchmarks and the arguments `all.ts` gives them (full, quick). */
export const BENCHMARKS: readonly {
  name: string;
  full: string[];
  quick: string[];
  denoArgs?: string[];
}[] = [
  {
    name: "iptables_restore",
    full: ["--sizes=500,1000,2000,5000,10000", "--runs=3"],
    quick: ["--sizes=500,1000,2000", "--runs=2"],
  },
  {
    name: "dns_perf",
    full: ["--seconds=5", "--latency-seconds=2", "--rounds=2"],
    quick: ["--seconds=2", "--latency-seconds=1", "--rounds=1"],
  },
  {
    name: "nft_mode",
    full: ["--sizes=1000,10000", "--changes=9"],
    quick: ["--sizes=1000", "--changes=5"],
  },
  {
    name: "latency",
    full: ["--sizes=10000,2000", "--changes=9", "--sync-timeout=120000"],
    quick: ["--sizes=1000", "--changes=5", "--sync-timeout=60000"],
  },
  {
    name: "sync_memory",
    full: ["--services=10000"],
    quick: ["--services=2000"],
    denoArgs: ["--v8-flags=--expose-gc"],
  },
  {
    name: "rss",
    full: ["--sizes=1000,10000,30000"],
    quick: ["--sizes=1000,5000"],
  },
  {
    name: "churn_memory",
    full: ["--seconds=300"],
    quick: ["--seconds=60", "--after=20"],
  },
  {
    name: "dns_flood_memory",
    full: ["--packets=1000000"],
    quick: ["--packets=200000", "--after=10"],
  },
];

async function main(): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  const only = flags.string("only", "");
  const selected = BENCHMARKS.filter((b) => only === "" || only.split(",").includes(b.name));
  const started = performance.now();
  let failed = 0;
  for (const b of selected) {
    const path = new URL(`./${b.name}.ts`, import.meta.url).pathname;
    const args = flags.has("quick") ? b.quick : b.full;
    console.error(`\n== bench/${b.name}.ts ${args.join(" ")}`);
    const t0 = performance.now();
    const status = await new Deno.Command(Deno.execPath(), {
      env: CHILD_ENV,
      args: ["run", "-A", ...(b.denoArgs ?? []), path, ...args],
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    console.error(
      `== ${b.name}: exit ${status.code} after ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
    if (status.code !== 0) failed++;
  }
  console.error(`\nall benchmarks: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (failed) Deno.exit(1);
}

if (import.meta.main) await main();
