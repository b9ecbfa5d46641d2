/**
 * Summarizes a V8 `.cpuprofile` (from `deno run --cpu-prof`): self time and inclusive time per
 * function, top N, so that a hot spot can be quoted in RESULTS.md without a browser.
 *
 *     deno run -A bench/profile_summary.ts PROFILE.cpuprofile [--top=25]
 *
 * @module
 */

import { BenchFlags } from "./flags.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One row of the summary. */
export interface ProfileRow {
  readonly fn: string;
  readonly selfMs: number;
  readonly totalMs: number;
}

/** Self and inclusive milliseconds per function (by name and location), sorted by self time. */
export function summarizeProfile(profile: CpuProfile): ProfileRow[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n: ProfileNode) => {
    const url = n.callFrame.url.replace(/^file:\/\/\/work\/main\//, "");
    return `${n.callFrame.functionName || "(anonymous)"} ${url}:${n.callFrame.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(id);
    if (!node) return;
    self.set(key(node), (self.get(key(node)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = key(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + dt);
    }
  });
  return [...total.keys()].map((fn) => ({
    fn,
    selfMs: self.get(fn) ?? 0,
    totalMs: total.get(fn) ?? 0,
  })).sort((a, b) => b.selfMs - a.selfMs);
}

if (import.meta.main) {
  const flags = new BenchFlags(Deno.args);
  const path = Deno.args.find((a) => !a.startsWith("--"));
  if (!path) {
    console.error("usage: profile_summary.ts PROFILE.cpuprofile [--top=25] [--by=self|total]");
    Deno.exit(2);
  }
  const rows = summarizeProfile(JSON.parse(await Deno.readTextFile(path)));
  if (flags.string("by", "self") === "total") rows.sort((a, b) => b.totalMs - a.totalMs);
  console.log("| self ms | total ms | function |\n|---|---|---|");
  for (const r of rows.slice(0, flags.number("top", 25))) {
    console.log(`| ${r.selfMs.toFixed(0)} | ${r.totalMs.toFixed(0)} | \`${r.fn}\` |`);
  }
}
