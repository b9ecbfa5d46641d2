/**
 * Memory of the proxy under endpoint churn (issue 14, item 5): `main.ts` (iptables mode) in a
 * scratch namespace at `--services` x `--endpoints` (`proxy_memory.ts`); after the first sync and
 * `--settle` seconds, `--rate` EndpointSlice updates a second for `--seconds` (each replaces one
 * endpoint's address of a random service with a fresh one, as pods being replaced do), then
 * `--after` seconds without changes. VmRSS is sampled every second. Reported: after the first
 * sync, peak during churn (and after), steady state (median of the churn's last 60 s), after the
 * churn (median of the last 10 s), and VmHWM (the whole life, first sync included).
 *
 *     deno run -A bench/churn_memory.ts [--seconds=300] [--rate=20] [--services=2000]
 *       [--endpoints=10] [--settle=20] [--after=60] [--backend=nft]
 *       [--v8-flags=FLAGS] [--probe-dir=DIR [--snapshots]]
 *
 * `--v8-flags` defaults to the shipped binary's; `--v8-flags=` (empty) runs without any.
 * `--probe-dir` runs the proxy under `memory_probe_main.ts` (V8 heap per second into DIR, and a
 * forced GC after the settle phase and at the end; `--snapshots`: heap snapshots then too).
 * Root only.
 *
 * @module
 */

import type { BenchFlags } from "./flags.ts";
import {
  readCpuSeconds,
  readLoadAverages,
  readProcessMemory,
  runMemoryBenchmark,
  summarizeRss,
  withInnerRun,
} from "./proxy_memory.ts";
import { scrapeSyncMetrics } from "./proxy_run.ts";
import type { RawObject } from "./synthetic.ts";

/** Counts of the proxy's full and partial syncs, from its /metrics. */
async function scrapeSyncCounts(): Promise<Record<string, number>> {
  const metrics = await scrapeSyncMetrics();
  const out: Record<string, number> = {};
  for (const kind of ["full", "partial"]) {
    const count = metrics[`kubeproxy_sync_${kind}_proxy_rules_duration_seconds_count`];
    if (count !== undefined) out[`sync_${kind}_proxy_rules`] = count;
  }
  return out;
}

/** Sends `rate` endpoint changes a second for `seconds`; returns how many were applied. */
async function churn(
  slices: readonly RawObject[],
  apply: (slice: RawObject) => void,
  rate: number,
  seconds: number,
): Promise<number> {
  const t0 = performance.now();
  let changes = 0;
  while (performance.now() - t0 < seconds * 1000) {
    const slice = structuredClone(slices[Math.floor(Math.random() * slices.length)]);
    const endpoints = slice.endpoints as RawObject[];
    if (endpoints.length > 0) {
      const e = endpoints[Math.floor(Math.random() * endpoints.length)];
      e.addresses = [`10.200.${(changes >> 8) & 255}.${changes & 255}`];
      apply(slice);
      changes++;
    }
    const ahead = changes / rate * 1000 - (performance.now() - t0);
    if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
  }
  return changes;
}

function inner(flags: BenchFlags): Promise<unknown> {
  return withInnerRun(flags, async ({ proxy, recorder, load, probeGc }) => {
    recorder.phase = "churn";
    const cpu0 = await readCpuSeconds(proxy.pid);
    const seconds = flags.number("seconds", 300);
    // Only IPv4 slices of services with endpoints (the mix has a few without).
    const slices = proxy.cluster.endpointSlices.filter((s) =>
      s.addressType === "IPv4" && (s.endpoints as RawObject[] | undefined)?.length
    );
    const changes = await churn(
      slices,
      (s) => proxy.api.apply(s),
      flags.number("rate", 20),
      seconds,
    );
    const cpuSeconds = await readCpuSeconds(proxy.pid) - cpu0;
    load.push(await readLoadAverages());
    recorder.phase = "after";
    await new Promise((r) => setTimeout(r, flags.number("after", 60) * 1000));
    recorder.stop();
    const { hwmMb } = await readProcessMemory(proxy.pid);
    probeGc();
    load.push(await readLoadAverages());
    const churned = recorder.samples.filter((s) => s.phase === "churn");
    const lastMinute = churned.filter((s) => s.t >= churned[churned.length - 1].t - 60);
    return {
      firstSyncMs: Math.round(proxy.firstSyncMs),
      changes,
      seconds,
      cpuSeconds,
      syncs: await scrapeSyncCounts(),
      afterSync: summarizeRss(recorder.of("before")).median,
      peak: summarizeRss([...recorder.of("churn"), ...recorder.of("after")]).peak,
      steady: summarizeRss(lastMinute.map((s) => s.rssMb)).median,
      after: summarizeRss(recorder.of("after").slice(-10)).median,
      hwm: Math.round(hwmMb),
    };
  });
}

function render(r: Record<string, unknown>, v8Flags: string): string {
  return [
    `Endpoint churn: ${r.changes} changes in ${r.seconds} s, syncs ${JSON.stringify(r.syncs)}, ` +
    `proxy CPU during churn ${Number(r.cpuSeconds).toFixed(1)} s, ` +
    `first sync ${(Number(r.firstSyncMs) / 1000).toFixed(1)} s; V8 flags: ${
      v8Flags || "(none)"
    }; ` +
    `load ${(r.load as string[]).join(" / ")}`,
    "",
    "| after first sync | peak under churn | steady (median, last 60 s of churn) | after churn | VmHWM |",
    "|---|---|---|---|---|",
    `| ${r.afterSync} MB | ${r.peak} MB | ${r.steady} MB | ${r.after} MB | ${r.hwm} MB |`,
    "",
  ].join("\n");
}

if (import.meta.main) {
  await runMemoryBenchmark("churn_memory", new URL(import.meta.url).pathname, inner, render);
}
