/**
 * `kube-proxy trace` in nftables mode: reads the `kube-proxy` table of the packet's family with
 * `nft list table` (read only; never `nft -f`), parses it with the nftables backend's listing
 * parser, traces with the nftables backend's tracer (`traceNftPacket()`, the one its packet-flow
 * tests use), and maps the answer to the backend-neutral {@linkcode TraceResult}.
 *
 * The nftables tracer follows every `numgen` pick of a load-balancing cascade; here each DNAT
 * destination becomes one branch with an equal share (the cascade `numgen random mod k 0` over
 * the k endpoints left gives each endpoint 1/n). The branch's hops are the shared path, the rules
 * of its own pick, and the shared filter and postrouting path. A rule shape the tracer does not
 * know (it throws rather than guess) makes the outcome "uncertain".
 *
 * @module
 */

import type { IPFamily } from "../../cache/objects.ts";
import type { CommandRunner } from "../exec.ts";
import { isLoopback } from "../net.ts";
import { parseTableListing } from "../nftables/listing.ts";
import { CHAINS, PREFIX, SETS, TABLE } from "../nftables/names.ts";
import { ExecNft } from "../nftables/nft.ts";
import { emptyTable, ruleWithoutComment, type TableState } from "../nftables/ruleset.ts";
import { type NftTraceHop, traceNftPacket } from "../nftables/tracer.ts";
import {
  type BranchVerdict,
  endpointSharesOf,
  keptSourceDecision,
  type MasqueradeDecision,
  outcomeOf,
  type TraceBranch,
  type TraceHop,
  type TracePacket,
  type TraceResult,
} from "./trace_result.ts";

/** The nft family of an IP family. */
export function nftFamilyOf(family: IPFamily): "ip" | "ip6" {
  return family === "IPv6" ? "ip6" : "ip";
}

/**
 * Reads this node's `kube-proxy` table of one family (`nft list table ip|ip6 kube-proxy`).
 *
 * @param family the packet's family.
 * @param run the command runner.
 * @returns the parsed table, or undefined when the family has none.
 * @throws {Error} when nft fails otherwise or the listing does not parse.
 */
export async function readNftTable(
  family: IPFamily,
  run: CommandRunner,
): Promise<TableState | undefined> {
  const listing = await new ExecNft(run).listTable(nftFamilyOf(family));
  return listing === undefined || listing.trim() === "" ? undefined : parseTableListing(listing);
}

/**
 * Whether this node's rules are in nftables mode: a `kube-proxy` table exists in family `ip` or
 * `ip6` (`nft list tables`; iptables mode deletes them at start, as upstream's does). Any failure
 * of `nft` (not installed, no permission) counts as "no".
 *
 * @param run the command runner.
 * @returns true when either family has the table.
 */
export async function nodeHasNftTable(run: CommandRunner): Promise<boolean> {
  // `nft list tables` prints only the tables' names: cheap even when the table is large.
  try {
    const r = await run.run("nft", ["list", "tables"]);
    return r.code === 0 && new RegExp(`^table ip6? ${TABLE}$`, "m").test(r.stdout);
  } catch {
    // No nft, or no permission to read: not evidence of nftables mode.
    return false;
  }
}

/** `ns/name/proto/port` (the tracer's) as the trace's `ns/name:port` (`ns/name` when unnamed). */
function servicePortOf(chainService: string | undefined): string | undefined {
  if (chainService === undefined) return undefined;
  const [ns, name, , port] = chainService.split("/");
  if (name === undefined) return undefined;
  return port ? `${ns}/${name}:${port}` : `${ns}/${name}`;
}

/** The service a map element's comment names (`ns/name:port`), for no-endpoint verdicts. */
function elementService(table: TableState, rule: string): string | undefined {
  const m = /vmap @(\S+) -> (.*) : /.exec(rule);
  if (m === null) return undefined;
  const comment = table.sets.get(m[1])?.elements.get(m[2])?.comment;
  return comment !== undefined && /^[^/\s]+\/[^\s]+$/.test(comment) ? comment : undefined;
}

/** What a listed rule did, in words (the rule's statement: its end). */
function actionOf(rule: string): string {
  let m: RegExpExecArray | null;
  if ((m = /vmap @(\S+) -> (.*) : (.*)$/.exec(rule)) !== null) {
    return `map @${m[1]}: ${m[2]} -> ${m[3]}`;
  }
  if ((m = /dnat to (\S+)$/.exec(rule)) !== null) return `DNAT to ${m[1]}`;
  if ((m = /redirect to :(\d+)$/.exec(rule)) !== null) {
    return `REDIRECT to this node's port ${m[1]}`;
  }
  if (/meta mark set meta mark \| \S+$/.test(rule)) return "mark for masquerade";
  if (/meta mark set meta mark \^ \S+$/.test(rule)) return "clear the masquerade mark";
  if (/masquerade fully-random$/.test(rule)) return "MASQUERADE (source NAT to the node's address)";
  if (/update @\S+ \{ ip6? saddr \}$/.test(rule)) return "remember the client (session affinity)";
  if ((m = /(jump|goto) (\S+)$/.exec(rule)) !== null) return `${m[1]} ${m[2]}`;
  if ((m = /(drop|reject|accept|return)$/.exec(rule)) !== null) {
    return m[1] === "return" ? "return" : m[1].toUpperCase();
  }
  return rule;
}

/** The comment of the listed rule the tracer matched (its hops carry the rule without it). */
function commentOf(table: TableState, h: NftTraceHop): string | undefined {
  const listed = table.chains.get(h.chain)?.rules.find((r) =>
    r !== h.rule && ruleWithoutComment(r) === h.rule
  );
  return listed === undefined ? undefined : /comment "([^"]*)"$/.exec(listed)?.[1];
}

function hopOf(table: TableState, tableName: string, h: NftTraceHop): TraceHop {
  const service = servicePortOf(h.service) ?? elementService(table, h.rule);
  const pick = /^numgen random mod (\d+) 0 /.exec(h.rule);
  const comment = commentOf(table, h);
  return {
    table: tableName,
    chain: h.chain,
    rule: h.rule,
    action: actionOf(h.rule),
    ...(comment !== undefined ? { comment } : {}),
    ...(service !== undefined ? { service } : {}),
    ...(h.endpoint !== undefined ? { endpoint: h.endpoint } : {}),
    ...(pick !== null ? { probability: 1 / Number(pick[1]) } : {}),
  };
}

/** Whether a hop chose the packet's destination (DNAT or REDIRECT). */
function isPickHop(h: TraceHop): boolean {
  return h.action.startsWith("DNAT to ") || h.action.startsWith("REDIRECT to ");
}

/** Why the mark-for-masquerade jump `by` marks the packet, in words. */
function markReason(by: TraceHop | undefined): string {
  if (by === undefined) return "marked for masquerade";
  if (by.chain === CHAINS.services) {
    return /saddr != /.test(by.rule)
      ? "cluster IP traffic from outside the local pod network (detectLocalMode)"
      : "cluster IP traffic, masqueradeAll";
  }
  if (by.chain.startsWith(PREFIX.external)) {
    return /fib saddr type local/.test(by.rule)
      ? "traffic from the node itself to an externalTrafficPolicy Local service"
      : "external traffic, externalTrafficPolicy Cluster";
  }
  return `marked for masquerade in ${by.chain}`;
}

/** The masquerade decision of a branch that reached postrouting. */
function masqueradeOf(
  table: TableState,
  sourceIP: string,
  hops: readonly TraceHop[],
  verdict: BranchVerdict,
  destination: string | undefined,
): MasqueradeDecision {
  if (verdict === "drop" || verdict === "reject") {
    return { masqueraded: false, reason: `the packet does not get that far (${verdict})` };
  }
  const markAt = hops.findIndex((h) => h.action === "mark for masquerade");
  if (markAt >= 0) {
    const markedBy = hops.slice(0, markAt).reverse().find((h) =>
      h.action === `jump ${CHAINS.markForMasquerade}`
    );
    return {
      masqueraded: true,
      reason: markReason(markedBy),
      ...(markedBy !== undefined ? { markedBy } : {}),
    };
  }
  const destIP = destination?.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  if (
    destIP !== undefined && verdict === "dnat" &&
    table.chains.get(CHAINS.masquerading)?.rules.some((r) => r.includes(`@${SETS.hairpin}`)) &&
    table.sets.get(SETS.hairpin)?.elements.has(`${sourceIP} . ${destIP}`)
  ) {
    return { masqueraded: true, reason: "hairpin: the pod reaches itself through the Service" };
  }
  if (verdict === "none") return { masqueraded: false, reason: "no kube-proxy rule applies" };
  return keptSourceDecision(hops.map((h) => h.chain), PREFIX.local, PREFIX.external);
}

/** One branch: its hops, verdict, destination and masquerading. */
function branchOf(
  table: TableState,
  sourceIP: string,
  hops: readonly TraceHop[],
  verdict: BranchVerdict,
  probability: number,
  destination?: string,
): TraceBranch {
  const decidedBy = verdict === "none"
    ? undefined
    : verdict === "dnat" || verdict === "redirect"
    ? hops.find(isPickHop)
    : [...hops].reverse().find((h) => h.action !== "return");
  const service = decidedBy?.service ??
    [...hops].reverse().find((h) => h.service !== undefined)?.service;
  return {
    probability,
    hops,
    verdict,
    ...(destination !== undefined ? { destination } : {}),
    ...(service !== undefined ? { service } : {}),
    ...(decidedBy !== undefined ? { decidedBy } : {}),
    masquerade: masqueradeOf(table, sourceIP, hops, verdict, destination),
  };
}

/**
 * Splits the tracer's hops into one branch per DNAT/REDIRECT destination: the shared path up to
 * the first pick (a `numgen` rule or the first DNAT), each pick's own rules, and the shared rest.
 */
function pickBranches(
  table: TableState,
  sourceIP: string,
  hops: readonly TraceHop[],
): TraceBranch[] {
  const picks = hops.flatMap((h, i) => isPickHop(h) ? [i] : []);
  const firstNumgen = hops.findIndex((h) => h.probability !== undefined);
  const start = firstNumgen >= 0 && firstNumgen < picks[0] ? firstNumgen : picks[0];
  const shared = hops.slice(0, start);
  const rest = hops.slice(picks[picks.length - 1] + 1);
  return picks.map((at, j) => {
    const own = hops.slice(j === 0 ? start : picks[j - 1] + 1, at + 1);
    const pick = hops[at];
    const redirect = pick.action.startsWith("REDIRECT");
    const destination = redirect
      ? `:${/(\d+)$/.exec(pick.action)![1]}`
      : pick.action.slice("DNAT to ".length);
    return branchOf(
      table,
      sourceIP,
      [...shared, ...own, ...rest],
      redirect ? "redirect" : "dnat",
      1 / picks.length,
      destination,
    );
  });
}

/**
 * Traces a packet through a `kube-proxy` table with the nftables tracer and reports it as a
 * {@linkcode TraceResult}.
 *
 * @param table the parsed table of the packet's family, or undefined when there is none.
 * @param packet the packet.
 * @param nodeIPs the node's addresses (`fib ... type local`).
 * @param family the table's family (`ip` or `ip6`), for the hops' table name.
 * @returns the trace; "uncertain" when the table holds a rule shape the tracer does not know.
 * @example
 * ```ts
 * const r = traceNftTable(parseTableListing(listing), packet, ["192.168.0.2"], "ip");
 * r.endpoints; // [{ destination: "10.180.0.1:80", share: 1, masqueraded: false }]
 * ```
 */
export function traceNftTable(
  table: TableState | undefined,
  packet: TracePacket,
  nodeIPs: readonly string[],
  family: "ip" | "ip6",
): TraceResult {
  const fromNode = isLoopback(packet.sourceIP) || nodeIPs.includes(packet.sourceIP);
  const base = {
    packet,
    hook: fromNode ? "OUTPUT" as const : "PREROUTING" as const,
    ruleSource: `nftables (${family} ${TABLE})`,
  };
  const empty = (outcome: "no-rule" | "uncertain", warning: string): TraceResult => ({
    ...base,
    outcome,
    branches: outcome === "no-rule" ? [branchOf(emptyTable(), packet.sourceIP, [], "none", 1)] : [],
    endpoints: [],
    services: [],
    warnings: [warning],
  });
  if (table === undefined) {
    return empty("no-rule", `this node has no ${family} ${TABLE} table: no kube-proxy rules`);
  }
  let r;
  try {
    r = traceNftPacket(table, { ...packet, nodeIPs });
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    return empty("uncertain", `unknown rule shape in ${family} ${TABLE}: ${err.message}`);
  }
  const tableName = `${family} ${TABLE}`;
  const hops = r.hops.map((h) => hopOf(table, tableName, h));
  let branches: TraceBranch[];
  if (r.verdict === "drop" || r.verdict === "reject") {
    branches = [branchOf(table, packet.sourceIP, hops, r.verdict, 1)];
  } else if (hops.some(isPickHop)) {
    branches = pickBranches(table, packet.sourceIP, hops);
  } else {
    const accepted = hops.some((h) => h.action === "ACCEPT");
    branches = [branchOf(table, packet.sourceIP, hops, accepted ? "accept" : "none", 1)];
  }
  const services: string[] = [];
  for (const h of hops) {
    if (h.service !== undefined && !services.includes(h.service)) services.push(h.service);
  }
  return {
    ...base,
    outcome: outcomeOf(branches, false),
    branches,
    endpoints: endpointSharesOf(branches),
    services,
    warnings: [],
  };
}
