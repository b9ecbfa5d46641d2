/**
 * What bounds the nft one-endpoint change at large sizes: loads the proxier's real full restore
 * (`real_rules.ts`, default 10,000 x 10) into a scratch namespace with `iptables-nft-restore`, then
 * times small `--noflush` restores of one service's chains with and without the base-chain jumps
 * (nat PREROUTING/OUTPUT -> KUBE-SERVICES, POSTROUTING -> KUBE-POSTROUTING) that kube-proxy adds.
 * Each restore runs under bash's `time`, so real, user and sys seconds of the child are reported.
 *
 * Run: `deno run -A bench/nft_jump_bound.ts [--services=10000] [--endpoints=10] [--runs=7]`
 *
 * @module
 */

import { ScratchNetns } from "./netns.ts";
import { BenchFlags } from "./flags.ts";
import {
  derivePartialInput,
  FOREIGN_RULES,
  NFT,
  ownChainsOnly,
  withListFirst,
} from "./restore_methods.ts";
import { generateSyntheticCluster, trimSyntheticCluster } from "./synthetic.ts";
import { generateWithRealRules } from "./real_rules.ts";
import { summarize } from "./stats.ts";

/** One restore child's times, in milliseconds. */
interface ChildTimes {
  readonly real: number;
  readonly user: number;
  readonly sys: number;
}

/** Restores `input` with `--noflush` in `ns` under bash `time`; throws on failure. */
async function timedRestore(ns: ScratchNetns, input: string): Promise<ChildTimes> {
  const file = await Deno.makeTempFile({ prefix: "kpbound-" });
  try {
    await Deno.writeTextFile(file, input);
    const r = await ns.run("bash", [
      "-c",
      `TIMEFORMAT='%R %U %S'; time ${NFT.restore} --noflush < ${file}`,
    ]);
    if (r.code !== 0) throw new Error(`restore failed: ${r.stderr.trim().slice(0, 400)}`);
    const [real, user, sys] = r.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
    return { real: real * 1000, user: user * 1000, sys: sys * 1000 };
  } finally {
    await Deno.remove(file);
  }
}

/** Runs `input` `runs` times and prints median (min-max) of real, user and sys. */
async function measureShape(
  ns: ScratchNetns,
  label: string,
  input: string,
  runs: number,
): Promise<void> {
  const samples: ChildTimes[] = [];
  for (let i = 0; i < runs; i++) samples.push(await timedRestore(ns, input));
  const f = (xs: number[]) => {
    const s = summarize(xs);
    return `${Math.round(s.median)} (${Math.round(s.min)}-${Math.round(s.max)})`;
  };
  const lines = input.split("\n").filter((l) => l.startsWith("-A ")).length;
  console.log(
    `| ${label} | ${lines} | ${f(samples.map((s) => s.real))} | ${
      f(samples.map((s) => s.user))
    } | ${f(samples.map((s) => s.sys))} | ${runs} |`,
  );
}

const BASE_JUMPS: [string, string][] = [
  ["PREROUTING", "KUBE-SERVICES"],
  ["OUTPUT", "KUBE-SERVICES"],
  ["POSTROUTING", "KUBE-POSTROUTING"],
];

async function main(): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  const services = flags.number("services", 10000);
  const endpoints = flags.number("endpoints", 10);
  const runs = flags.number("runs", 7);
  const cluster = trimSyntheticCluster(
    generateSyntheticCluster({ services, endpointsPerService: endpoints }),
  );
  const text = generateWithRealRules(cluster).text;
  const own = ownChainsOnly(derivePartialInput(text));
  const ownLines = own.split("\n");
  const sepChains = ownLines.filter((l) => l.startsWith(":KUBE-SEP-"));
  const sepRules = ownLines.filter((l) => l.startsWith("-A KUBE-SEP-"));
  // Shape (c): every SEP chain of the service re-written (DNAT target + its KUBE-MARK-MASQ jump to
  // a leaf chain), no KUBE-SVC chain, so no new jump into a chain that jumps further.
  const sepOnly = ["*nat", ...sepChains, ...sepRules, "COMMIT", ""].join("\n");
  // Shape (d): one SEP chain with only its DNAT rule: no jump at all, only a changed DNAT target.
  const firstSep = sepChains[0].slice(1).split(" ")[0];
  const dnat = sepRules.find((l) => l.startsWith(`-A ${firstSep} `) && l.includes("-j DNAT"))!;
  const dnatOnly = ["*nat", `:${firstSep} - [0:0]`, dnat, "COMMIT", ""].join("\n");

  const ns = await ScratchNetns.create("kpbound");
  try {
    await ns.check(NFT.restore, ["--noflush"], FOREIGN_RULES);
    const load = await ns.check(NFT.restore, ["--noflush"], withListFirst(text));
    console.log(`# ${services} x ${endpoints}: full load ${Math.round(load.ms)} ms, ns ${ns.name}`);
    console.log(`# load average ${(await Deno.readTextFile("/proc/loadavg")).trim()}`);
    console.log("| shape | -A lines | real ms | user ms | sys ms | n |");
    console.log("| --- | --- | --- | --- | --- | --- |");
    const shapes: [string, string][] = [
      ["own chains (SVC + SEPs)", own],
      ["SEP chains only", sepOnly],
      ["one SEP, DNAT rule only", dnatOnly],
    ];
    for (const [label, input] of shapes) {
      await measureShape(ns, `no base jumps: ${label}`, input, runs);
    }
    for (const [from, to] of BASE_JUMPS) {
      await ns.check(NFT.iptables, ["-t", "nat", "-I", from, "-j", to]);
    }
    for (const [label, input] of shapes) {
      await measureShape(ns, `base jumps: ${label}`, input, runs);
    }
    const perfData = flags.string("perf", "");
    if (perfData !== "") {
      // One more restore of the service's own chains with the jumps, sampled with call graphs.
      const file = await Deno.makeTempFile({ prefix: "kpbound-" });
      try {
        await Deno.writeTextFile(file, own);
        const cmd = `perf record -q -e cpu-clock -F 20000 -g -o ${perfData} -- ` +
          `${NFT.restore} --noflush < ${file}`;
        const r = await ns.run("bash", ["-c", cmd]);
        console.log(`# perf record exit ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
      } finally {
        await Deno.remove(file);
      }
    }
  } finally {
    await ns.remove();
  }
}

if (import.meta.main) await main();
