/**
 * Turns a {@linkcode TraceResult} (and `--explain`'s findings) into what `kube-proxy trace`
 * prints: a text report for people, or one JSON document for scripts. Pure; backend-neutral
 * (an nftables trace renders the same way).
 *
 * @module
 */

import type { ServicePortExplanation } from "./explain.ts";
import type { TraceBranch, TraceHop, TraceResult } from "./trace_result.ts";

/** Everything one run of `kube-proxy trace` reports. */
export interface TraceReport {
  /** `--to` as given, when it named a Service (`db.default:5432`). */
  readonly requested?: string;
  readonly trace: TraceResult;
  /** `--explain`: one entry per service port on the path. */
  readonly explanations?: readonly ServicePortExplanation[];
  /** Problems met while explaining (the Service is gone, the API server refused). */
  readonly explainErrors?: readonly string[];
}

/**
 * A share of new connections as a percentage with one decimal.
 *
 * @param share between 0 and 1.
 * @returns e.g. `33.3%`.
 */
export function formatShare(share: number): string {
  return `${(Math.round(share * 1000) / 10).toFixed(1)}%`;
}

function hopLines(n: number, hop: TraceHop): string[] {
  const about = [hop.service, hop.endpoint ? `-> ${hop.endpoint}` : undefined]
    .filter((x) => x !== undefined).join(" ");
  const p = hop.probability !== undefined ? ` (taken with probability ${hop.probability})` : "";
  return [
    `${String(n).padStart(3)}. ${hop.table} ${hop.chain}: ${hop.action}${p}${
      about ? `   [${about}]` : ""
    }`,
    `       ${hop.rule}`,
  ];
}

/** The chain a hop jumps to, when it is a plain jump. */
function jumpTarget(hop: TraceHop): string | undefined {
  return hop.action.match(/^(?:jump|goto) (\S+)$/)?.[1];
}

/**
 * The hops as numbered lines. A jump into a chain where no rule matched (the next hop is not in
 * that chain) changes nothing; consecutive ones from the same chain share one line, without their
 * rules (`--output json` keeps every hop).
 */
function pathLines(
  hops: readonly TraceHop[],
  [from, to]: readonly [number, number],
  first: number,
  indent: string,
): string[] {
  const out: string[] = [];
  let n = first;
  for (let i = from; i < to; i++) {
    const passed: string[] = [];
    let j = i;
    while (j < to && hops[j].chain === hops[i].chain) {
      const target = jumpTarget(hops[j]);
      if (target === undefined || hops[j + 1]?.chain === target) break;
      passed.push(target);
      j++;
    }
    if (passed.length > 0) {
      out.push(
        `${indent}${String(n++).padStart(3)}. ${hops[i].table} ${hops[i].chain}: passes ` +
          `${passed.join(", ")} (no rule there matches)`,
      );
      i = j - 1;
      continue;
    }
    out.push(...hopLines(n++, hops[i]).map((l) => indent + l));
  }
  return out;
}

function sameHop(a: TraceHop | undefined, b: TraceHop | undefined): boolean {
  return a !== undefined && b !== undefined && a.table === b.table && a.rule === b.rule &&
    a.action === b.action;
}

/** The number of leading hops every branch shares. */
function commonPrefixLength(branches: readonly TraceBranch[]): number {
  if (branches.length === 0) return 0;
  let n = 0;
  while (branches.every((b) => sameHop(b.hops[n], branches[0].hops[n]))) n++;
  return n;
}

function verdictLine(b: TraceBranch): string {
  const by = b.decidedBy ? ` by ${b.decidedBy.table} ${b.decidedBy.chain}` : "";
  const svc = b.service ? ` (${b.service})` : "";
  switch (b.verdict) {
    case "dnat":
      return `DNAT to ${b.destination}${svc}`;
    case "redirect":
      return `REDIRECT to this node's port ${b.destination?.slice(1)}${svc}`;
    case "accept":
      return `ACCEPTED for this node${by}${svc}`;
    case "reject":
      return `REJECTED${by}${svc}${b.decidedBy?.comment ? `: "${b.decidedBy.comment}"` : ""}`;
    case "drop":
      return `DROPPED${by}${svc}${b.decidedBy?.comment ? `: "${b.decidedBy.comment}"` : ""}`;
    case "none":
      return "no kube-proxy rule decides anything: the packet goes on unchanged";
  }
}

function masqueradeLine(b: TraceBranch): string {
  const m = b.masquerade;
  const rule = m.markedBy ? ` (marked by ${m.markedBy.chain})` : "";
  return `masquerade: ${m.masqueraded ? "yes" : "no"}: ${m.reason}${m.masqueraded ? rule : ""}`;
}

const OUTCOME_WORDS: Record<TraceResult["outcome"], string> = {
  delivered: "DELIVERED",
  rejected: "REJECTED",
  dropped: "DROPPED",
  "no-rule": "NO KUBE-PROXY RULE",
  uncertain: "UNCERTAIN (a rule shape the tracer does not know is on the path)",
};

/**
 * The text report: the packet and hook, the path hop by hop (shared hops once, then each
 * branch with its share), the verdict with per-endpoint shares, masquerading, warnings, and
 * the `--explain` findings.
 *
 * @param report what the run found.
 * @returns the text, ending with a newline.
 * @example
 * ```ts
 * console.log(renderTraceText({ trace: traceRules(tables, packet, opts) }));
 * ```
 */
export function renderTraceText(report: TraceReport): string {
  const t = report.trace;
  const p = t.packet;
  const dest = p.destIP.includes(":") ? `[${p.destIP}]` : p.destIP;
  const out: string[] = [];
  out.push(
    `Packet: ${p.sourceIP} -> ${dest}:${p.destPort}/${p.protocol}` +
      (report.requested ? ` (${report.requested})` : "") +
      (p.inInterface ? ` in on ${p.inInterface}` : ""),
  );
  out.push(
    `Rules: ${t.ruleSource}; enters at nat ${t.hook} (${
      t.hook === "OUTPUT" ? "sent by this node" : "from a pod or another host"
    })`,
  );
  out.push("", "Path:");
  const shared = commonPrefixLength(t.branches);
  const first = t.branches[0];
  const sharedLines = pathLines(first?.hops ?? [], [0, shared], 1, "");
  out.push(...sharedLines);
  if (first !== undefined && first.hops.length === 0) out.push("  (no kube-proxy rule matched)");
  const next = sharedLines.filter((l) => /^ *[0-9]+\. /.test(l)).length + 1;
  for (const [i, b] of t.branches.entries()) {
    const many = t.branches.length > 1;
    if (many) {
      out.push(
        `  branch ${i + 1} of ${t.branches.length}, ${
          formatShare(b.probability)
        } of new connections:`,
      );
    }
    out.push(...pathLines(b.hops, [shared, b.hops.length], next, many ? "  " : ""));
    if (many) {
      out.push(`       => ${verdictLine(b)}; ${masqueradeLine(b)}`);
    }
  }
  out.push("", `Verdict: ${OUTCOME_WORDS[t.outcome]}`);
  if (t.endpoints.length > 0) {
    for (const e of t.endpoints) {
      out.push(
        `  ${e.destination.padEnd(24)} ${formatShare(e.share).padStart(6)} of new connections` +
          (e.masqueraded ? ", masqueraded" : ""),
      );
    }
  } else if (first !== undefined) {
    out.push(`  ${verdictLine(first)}`);
  }
  if (t.branches.length === 1 && first !== undefined) out.push(`  ${masqueradeLine(first)}`);
  else if (t.branches.length > 1) {
    const reasons = [...new Set(t.branches.map(masqueradeLine))];
    for (const r of reasons) out.push(`  ${r}`);
  }
  if (t.affinitySeconds !== undefined) {
    out.push(
      `  session affinity ClientIP: the shares are for a client's first connection; later ones ` +
        `go to the same endpoint for ${t.affinitySeconds}s`,
    );
  }
  if (t.warnings.length > 0) {
    out.push("", "Warnings:");
    for (const w of t.warnings) out.push(`  - ${w}`);
  }
  if (report.explanations !== undefined || report.explainErrors !== undefined) {
    out.push("", "Explain:");
    for (const x of report.explanations ?? []) {
      out.push(
        `  ${x.service} (internalTrafficPolicy ${x.internalTrafficPolicy}, ` +
          `externalTrafficPolicy ${x.externalTrafficPolicy}):`,
      );
      for (const s of x.summary) out.push(`    ${s}`);
      for (const e of x.endpoints) {
        out.push(
          `    ${e.endpoint}${e.nodeName ? ` on ${e.nodeName}` : ""}: ${e.reasons.join("; ")}`,
        );
      }
    }
    for (const e of report.explainErrors ?? []) out.push(`  ${e}`);
  }
  return out.join("\n") + "\n";
}

/**
 * The JSON report: the {@linkcode TraceReport} as is (packet, hook, rule source, outcome,
 * branches with hops, endpoints with shares, warnings, explanations).
 *
 * @param report what the run found.
 * @returns one JSON document, ending with a newline.
 */
export function renderTraceJson(report: TraceReport): string {
  return JSON.stringify(report, null, 2) + "\n";
}
