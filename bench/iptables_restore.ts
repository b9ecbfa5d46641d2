/**
 * Full-sync cost at cluster scale: rule generation in-process (the proxier's `buildRuleSet` +
 * `renderRestoreInput`) against the kernel's `iptables-restore` of the same text, legacy and nft,
 * each in a fresh scratch network namespace; plus a one-service partial restore on the loaded
 * table, and the ways of making the nft backend's first full sync fast (`restore_methods.ts`).
 *
 *     deno run -A bench/iptables_restore.ts [--sizes=500,1000,2000,5000,10000] [--endpoints=10]
 *       [--runs=3] [--runs-large=2] [--nft-plain-max=1000] [--batched-max=2000]
 *       [--batch-chains=1000] [--generator=real|standin] [--append] [--render-only]
 *
 * Needs root (network namespaces). Every namespace is `kpbench-<random>` and removed in `finally`.
 * Outputs: bench/out/iptables_restore.{json,md}, bench/plots/iptables_restore.svg and
 * bench/plots/generation_ratio.svg.
 *
 * @module
 */

import { BenchFlags, writeBenchOutput, writePlot } from "./flags.ts";
import { canUseNetns, ScratchNetns } from "./netns.ts";
import { renderLinePlot } from "./plot.ts";
import { renderKubeShapedRestore } from "./restore_text.ts";
import {
  applyWithMethod,
  backendOf,
  countKubeRules,
  derivePartialInput,
  FOREIGN_CHECK,
  FOREIGN_RULES,
  type MethodName,
  NFT,
  ownChainsOnly,
} from "./restore_methods.ts";
import {
  formatSummary,
  readLoadAverage,
  readMachineInfo,
  summarize,
  type Summary,
} from "./stats.ts";
import {
  generateSyntheticCluster,
  SYNTHETIC_CLUSTER_CIDR,
  trimSyntheticCluster,
} from "./synthetic.ts";

/** Results for one cluster size. */
export interface SizeResult {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly natRules: number;
  readonly textBytes: number;
  readonly generator: string;
  /** Trimmed objects to the proxier's maps. */
  readonly stateMs: Summary;
  /** buildRuleSet + renderRestoreInput. */
  readonly generateMs: Summary;
  /** Full restore on a fresh namespace, per method. */
  readonly fullMs: Partial<Record<MethodName, Summary>>;
  /** Same full text applied again on the loaded table. */
  readonly repeatMs: Partial<Record<MethodName, Summary>>;
  /** One-service partial restore on the loaded table (legacy, nft, nft with -S). */
  readonly partialMs: Record<string, Summary>;
  /** Per method: foreign rules survived and KUBE rule count matched. */
  readonly verified: Record<string, string>;
  readonly loadAvg: number[];
}

async function generate(
  services: number,
  endpoints: number,
  which: string,
): Promise<{ text: string; natRules: number; gen: number; state: number; generator: string }> {
  const cluster = trimSyntheticCluster(
    generateSyntheticCluster({ services, endpointsPerService: endpoints }),
  );
  if (which !== "standin") {
    try {
      const { generateWithRealRules } = await import("./real_rules.ts");
      const r = generateWithRealRules(cluster);
      return {
        text: r.text,
        natRules: r.natRules,
        gen: r.buildMs + r.renderMs,
        state: r.stateMs,
        generator: "proxy/iptables buildRuleSet+renderRestoreInput",
      };
    } catch (err) {
      console.error(`real generator unavailable, using the stand-in: ${err}`);
    }
  }
  const t0 = performance.now();
  const r = renderKubeShapedRestore(cluster.services, cluster.endpointSlices, {
    nodeName: cluster.node.name,
    clusterCIDR: SYNTHETIC_CLUSTER_CIDR,
  });
  return {
    text: r.text,
    natRules: r.natRules,
    gen: performance.now() - t0,
    state: 0,
    generator: "bench/restore_text.ts (stand-in)",
  };
}

async function withNetns<T>(fn: (ns: ScratchNetns) => Promise<T>): Promise<T> {
  const ns = await ScratchNetns.create();
  try {
    return await fn(ns);
  } finally {
    await ns.remove();
  }
}

async function verify(ns: ScratchNetns, method: MethodName, expectedKube: number): Promise<string> {
  const save = await ns.run(backendOf(method).save, []);
  const missing = FOREIGN_CHECK.filter((l) => !save.stdout.includes(l));
  const kube = countKubeRules(save.stdout);
  const problems: string[] = [];
  if (missing.length) problems.push(`lost ${missing.length} foreign rules`);
  if (kube !== expectedKube) problems.push(`${kube} KUBE rules, expected ${expectedKube}`);
  return problems.length ? problems.join("; ") : "ok";
}

/** Runs the restore benchmark at one size. */
export async function measureSize(
  services: number,
  flags: BenchFlags,
): Promise<SizeResult> {
  const endpoints = flags.number("endpoints", 10);
  // Large sizes cost a minute or more per run; two runs there keep `deno task bench` bounded.
  const runs = services >= 5000
    ? Math.min(flags.number("runs", 3), flags.number("runs-large", 2))
    : flags.number("runs", 3);
  const batchChains = flags.number("batch-chains", 1000);
  const plainMax = flags.number("nft-plain-max", 1000);
  const genSamples: number[] = [];
  const stateSamples: number[] = [];
  let gen = await generate(services, endpoints, flags.string("generator", "real"));
  for (let i = 0; i < runs; i++) {
    if (i > 0) gen = await generate(services, endpoints, flags.string("generator", "real"));
    genSamples.push(gen.gen);
    stateSamples.push(gen.state);
  }
  const text = gen.text;
  const expectedKube = text.split("\n").filter((l) => l.startsWith("-A KUBE-")).length;
  const partial = derivePartialInput(text);
  const methods: MethodName[] = ["legacyNoflush", "nftListFirst", "nftFlushMerged"];
  if (services <= flags.number("batched-max", 2000)) methods.push("nftBatched");
  if (services <= plainMax) methods.splice(1, 0, "nftNoflush");
  const full: Record<string, number[]> = {};
  const repeat: Record<string, number[]> = {};
  const partialSamples: Record<string, number[]> = {};
  const verified: Record<string, string> = {};
  const loadAvg: number[] = [];
  for (let run = 0; run < runs; run++) {
    for (const method of methods) {
      loadAvg.push(await readLoadAverage());
      await withNetns(async (ns) => {
        const backend = backendOf(method);
        await ns.check(backend.restore, ["--noflush"], FOREIGN_RULES);
        const t = await applyWithMethod(ns, method, text, batchChains);
        (full[method] ??= []).push(t.ms);
        if (run === 0) verified[method] = await verify(ns, method, expectedKube);
        // Steady state: the same full text on the loaded table, then a one-service change.
        if (method === "legacyNoflush" || method === "nftListFirst") {
          const again = await applyWithMethod(ns, method, text, batchChains);
          (repeat[method] ??= []).push(again.ms);
          const p = await ns.run(backend.restore, ["--noflush"], partial);
          if (p.code !== 0) throw new Error(`partial restore failed: ${p.stderr}`);
          (partialSamples[backend.name] ??= []).push(p.ms);
          const own = await ns.run(backend.restore, ["--noflush"], ownChainsOnly(partial));
          if (own.code !== 0) throw new Error(`own-chains restore failed: ${own.stderr}`);
          (partialSamples[`${backend.name} own`] ??= []).push(own.ms);
          if (backend === NFT) {
            const pl = await applyWithMethod(ns, "nftListFirst", partial);
            (partialSamples["nft -S"] ??= []).push(pl.ms);
          }
        }
      });
    }
  }
  const mapSummary = (m: Record<string, number[]>) =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => [k, summarize(v)]));
  return {
    services,
    endpointsPerService: endpoints,
    natRules: gen.natRules,
    textBytes: text.length,
    generator: gen.generator,
    stateMs: summarize(stateSamples),
    generateMs: summarize(genSamples),
    fullMs: mapSummary(full),
    repeatMs: mapSummary(repeat),
    partialMs: mapSummary(partialSamples),
    verified,
    loadAvg,
  };
}

const METHOD_LABELS: Record<MethodName, string> = {
  legacyNoflush: "legacy --noflush",
  nftNoflush: "nft --noflush (upstream)",
  nftListFirst: "nft --noflush, -S first",
  nftBatched: "nft --noflush, batches",
  nftFlushMerged: "nft save+merge+flushing restore",
};

/** Renders the results as Markdown tables. */
export function renderMarkdown(results: readonly SizeResult[]): string {
  const methods = Object.keys(METHOD_LABELS) as MethodName[];
  const out: string[] = [];
  out.push(
    "| services x endpoints | nat rules | generation (build+render) | legacy restore | ratio gen/legacy |",
    "|---|---|---|---|---|",
  );
  for (const r of results) {
    const legacy = r.fullMs.legacyNoflush;
    const ratio = legacy ? (100 * r.generateMs.median / legacy.median).toFixed(1) + " %" : "-";
    out.push(
      `| ${r.services} x ${r.endpointsPerService} | ${r.natRules} | ${
        formatSummary(r.generateMs)
      } | ${legacy ? formatSummary(legacy) : "-"} | ${ratio} |`,
    );
  }
  out.push("", `| services | ${methods.map((m) => METHOD_LABELS[m]).join(" | ")} |`);
  out.push(`|---|${methods.map(() => "---").join("|")}|`);
  for (const r of results) {
    const cells = methods.map((m) =>
      r.fullMs[m] ? formatSummary(r.fullMs[m]!, "ms", 0) : "skipped"
    );
    out.push(`| ${r.services} | ${cells.join(" | ")} |`);
  }
  out.push(
    "",
    "| services | legacy full again (loaded) | nft -S full again (loaded) | legacy one-service partial | nft one-service partial | nft one-service partial with -S | legacy own chains only | nft own chains only |",
    "|---|---|---|---|---|---|---|---|",
  );
  for (const r of results) {
    const f = (s: Summary | undefined) => s ? formatSummary(s, "ms", 0) : "-";
    out.push(
      `| ${r.services} | ${f(r.repeatMs.legacyNoflush)} | ${f(r.repeatMs.nftListFirst)} | ${
        f(r.partialMs.legacy)
      } | ${f(r.partialMs.nft)} | ${f(r.partialMs["nft -S"])} | ${f(r.partialMs["legacy own"])} | ${
        f(r.partialMs["nft own"])
      } |`,
    );
  }
  out.push("", "Verification (foreign rules kept, KUBE rule count equal to the input's):", "");
  for (const r of results) {
    out.push(
      `- ${r.services}: ${
        Object.entries(r.verified).map(([m, v]) => `${m} ${v}`).join(", ")
      }; load average during the runs ${Math.min(...r.loadAvg).toFixed(2)}-${
        Math.max(...r.loadAvg).toFixed(2)
      }; generator: ${r.generator}`,
    );
  }
  return out.join("\n") + "\n";
}

async function main(): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  if (!canUseNetns()) {
    console.error("iptables_restore: needs root (network namespaces); skipped");
    return;
  }
  const sizes = flags.numbers(
    "sizes",
    flags.has("quick") ? [500, 1000, 2000] : [500, 1000, 2000, 5000, 10000],
  );
  const machine = await readMachineInfo();
  const results: SizeResult[] = [];
  // --append keeps the sizes of an earlier run that this run does not measure; --render-only
  // re-renders the Markdown and the plot from bench/out/iptables_restore.json.
  if (flags.has("append") || flags.has("render-only")) {
    const path = new URL("./out/iptables_restore.json", import.meta.url);
    const old = JSON.parse(await Deno.readTextFile(path).catch(() => "{}"));
    for (const r of (old.results ?? []) as SizeResult[]) {
      if (flags.has("render-only") || !sizes.includes(r.services)) results.push(r);
    }
  }
  for (const n of flags.has("render-only") ? [] : sizes) {
    console.error(`iptables_restore: ${n} services ...`);
    results.push(await measureSize(n, flags));
    results.sort((a, b) => a.services - b.services);
    const md = renderMarkdown(results);
    await writeBenchOutput("iptables_restore", { machine, results }, md);
  }
  await writeBenchOutput("iptables_restore", { machine, results }, renderMarkdown(results));
  const methods = Object.keys(METHOD_LABELS) as MethodName[];
  await writePlot(
    "iptables_restore",
    renderLinePlot({
      title: "Full-sync restore time (fresh namespace), 10 endpoints per service",
      xLabel: "services",
      yLabel: "milliseconds (log)",
      logY: true,
      series: [
        ...methods.map((m) => ({
          label: METHOD_LABELS[m],
          points: results.filter((r) => r.fullMs[m]).map((r) =>
            [r.services, r.fullMs[m]!.median] as const
          ),
        })),
        {
          label: "generation (buildRuleSet+render)",
          points: results.map((r) => [r.services, r.generateMs.median] as const),
        },
      ],
    }),
  );
  console.log(renderMarkdown(results));
}

if (import.meta.main) await main();
