/**
 * Follows a packet through iptables rules and reports where it goes, hop by hop. The same code
 * serves the packet-flow tests (over a `FakeIptables` (`fake.ts`) holding the restore input the
 * proxier wrote) and `kube-proxy trace` (over the `iptables-save` output of a live node, loaded
 * into a FakeIptables, which parses restore syntax).
 *
 * The walk follows the kernel's order for the first packet of a connection:
 *
 * 1. nat PREROUTING (a packet from a pod or from outside the node) or nat OUTPUT (a packet from
 *    the node itself: its source is a node address or loopback); a DNAT or REDIRECT ends nat;
 * 2. routing: filter INPUT when the (new) destination is the node, else FORWARD; filter OUTPUT for
 *    a packet from the node;
 * 3. nat POSTROUTING, where KUBE-POSTROUTING masquerades packets marked by KUBE-MARK-MASQ.
 *
 * It models what kube-proxy's rules look at: addresses, protocol, destination port, input
 * interface, `addrtype LOCAL` (the node's addresses and loopback), the packet mark, and the
 * conntrack state of a first packet (`NEW`, plus `DNAT` once DNATed). In a built-in chain it
 * follows only the rules that jump into `KUBE-` chains (other programs' rules are not kube-proxy's
 * business). A `-m statistic --mode random` rule forks the walk: one branch takes the rule with
 * its probability, one skips it with the rest, so every endpoint is reported with its share of new
 * connections. A `-m recent --rcheck` rule (ClientIP affinity) never matches a first packet; the
 * affinity timeout is reported instead.
 *
 * NOTE: like upstream's nftables test tracer, it understands only the rule shapes kube-proxy
 * writes (this proxy's and upstream's, as written and as `iptables-save` prints them) and never
 * guesses: a rule it cannot read in a `KUBE-` chain is reported as an "unknown rule shape" hop,
 * treated as not matching, and makes the outcome "uncertain".
 *
 * @module
 */

import { formatRuleArgs } from "./fake.ts";
import { iptablesJumpChains, jumpRuleArgs, KUBE_MARK_MASQ, type Table } from "./chains.ts";
import { splitHostPort } from "../../config/ip.ts";
import { masqueradeOf } from "./trace_masquerade.ts";
import { commentSubjects, isLocalAddress, parseTraceRule, type TraceRule } from "./trace_rule.ts";
import {
  type BranchVerdict,
  endpointSharesOf,
  outcomeOf,
  type TraceBranch,
  type TraceHook,
  type TraceHop,
  type TracePacket,
  type TraceResult,
} from "../trace/trace_result.ts";

/** Read access to rules by table and chain (a `FakeIptables` (`fake.ts`) is one). */
export interface RuleTables {
  /** The rule lines (`-A CHAIN ...`) of a chain; undefined when the chain does not exist. */
  rules(table: Table, chain: string): readonly string[] | undefined;
}

/** Options of {@linkcode traceRules}. */
export interface TraceRulesOptions {
  /** Addresses of the node (for `-m addrtype LOCAL`); loopback always is local. */
  readonly nodeIPs: readonly string[];
  /** Names the rules' origin in the result (`iptables-nft`, …). */
  readonly ruleSource: string;
  /**
   * When a built-in chain has no jump into kube-proxy's chains, use the jumps kube-proxy ensures
   * ({@linkcode iptablesJumpChains}). Tests need it: the proxier ensures those jumps outside its
   * restore input. On a live node a missing jump is reported instead.
   */
  readonly assumeKubeJumps?: boolean;
}

/** A walk may not fork into more branches than this (a runaway guard, far above real rules). */
const MAX_BRANCHES = 4096;
const MAX_DEPTH = 32;

/** One branch of the walk: the packet's state and what happened to it so far. */
interface Walk {
  probability: number;
  hops: TraceHop[];
  readonly sourceIP: string;
  destIP: string;
  destPort: number;
  readonly protocol: string;
  readonly inInterface: string;
  /** The node's addresses (for `addrtype LOCAL`). */
  readonly nodeIPs: readonly string[];
  mark: number;
  dnat?: { destination: string; hop: TraceHop };
  redirect?: { destination: string; hop: TraceHop };
  filter?: { verdict: "accept" | "drop" | "reject"; hop: TraceHop };
  masqMarkedBy?: TraceHop;
  masqueradedBy?: TraceHop;
}

interface WalkEnd {
  readonly walk: Walk;
  /** A terminal target ended the built-in chain's traversal. */
  readonly terminal: boolean;
}

function cloneWalk(w: Walk, probability: number): Walk {
  return { ...w, probability, hops: [...w.hops] };
}

function hopOf(table: Table, rule: TraceRule, action: string, extra: Partial<TraceHop> = {}) {
  const hop: TraceHop = {
    table,
    chain: rule.chain,
    rule: rule.line,
    action,
    ...(rule.comment !== undefined
      ? { comment: rule.comment, ...commentSubjects(rule.comment) }
      : {}),
    ...extra,
  };
  return hop;
}

function isKubeChain(name: string | undefined): boolean {
  return name !== undefined && name.startsWith("KUBE-");
}

const BUILTIN_CHAINS = new Set(["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]);

class RuleWalker {
  readonly #tables: RuleTables;
  readonly #assumeKubeJumps: boolean;
  readonly #parsed = new Map<string, TraceRule>();
  readonly warnings: string[] = [];
  uncertain = false;
  affinitySeconds: number | undefined;

  constructor(tables: RuleTables, assumeKubeJumps: boolean) {
    this.#tables = tables;
    this.#assumeKubeJumps = assumeKubeJumps;
  }

  #warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message);
  }

  #rule(line: string): TraceRule {
    let rule = this.#parsed.get(line);
    if (rule === undefined) this.#parsed.set(line, rule = parseTraceRule(line));
    return rule;
  }

  /** The lines of a built-in chain, or kube-proxy's own jumps when assumed and none is there. */
  #builtinLines(table: Table, chain: string): readonly string[] {
    const lines = this.#tables.rules(table, chain) ?? [];
    if (lines.some((l) => isKubeChain(this.#rule(l).target))) return lines;
    if (this.#assumeKubeJumps) {
      // Ensured with "insert at position 1": the last one ensured comes first.
      return iptablesJumpChains.filter((j) => j.table === table && j.srcChain === chain)
        .map((j) => `-A ${chain} ${formatRuleArgs(jumpRuleArgs(j))}`).reverse();
    }
    if (table === "nat" && chain !== "POSTROUTING") {
      this.#warn(
        `${table} ${chain} has no jump into kube-proxy's chains: its rules are not reached ` +
          "(is kube-proxy running on this node, in iptables mode?)",
      );
    }
    return lines;
  }

  /** Runs a built-in chain from its first rule. */
  runBuiltin(table: Table, chain: string, w: Walk): WalkEnd[] {
    return this.#runLines(table, chain, this.#builtinLines(table, chain), 0, w, 0, true);
  }

  #runChain(table: Table, chain: string, w: Walk, depth: number): WalkEnd[] {
    if (depth > MAX_DEPTH) {
      this.#warn(`jump depth over ${MAX_DEPTH} at ${chain}: stopped following`);
      this.uncertain = true;
      return [{ walk: w, terminal: false }];
    }
    const lines = this.#tables.rules(table, chain);
    if (lines === undefined) {
      this.#warn(`${table} chain ${chain} is jumped to but does not exist`);
      return [{ walk: w, terminal: false }];
    }
    return this.#runLines(table, chain, lines, 0, w, depth, false);
  }

  #runLines(
    table: Table,
    chain: string,
    lines: readonly string[],
    start: number,
    w: Walk,
    depth: number,
    builtin: boolean,
  ): WalkEnd[] {
    for (let i = start; i < lines.length; i++) {
      const rule = this.#rule(lines[i]);
      // In a built-in chain only kube-proxy's jumps are followed; the rest is other programs'.
      if (builtin && !isKubeChain(rule.target)) continue;
      if (rule.unknown !== undefined) {
        this.uncertain = true;
        this.#warn(`unknown rule shape (${rule.unknown}) in ${table} ${chain}: ${rule.line}`);
        w.hops.push(hopOf(table, rule, `unknown rule shape (${rule.unknown}): not evaluated`, {
          unknown: true,
        }));
        continue;
      }
      if (rule.affinitySeconds !== undefined) {
        // A recent check never matches a first packet, but says where a returning client goes.
        this.affinitySeconds = rule.affinitySeconds;
        w.hops.push(hopOf(
          table,
          rule,
          `session affinity: a client seen in the last ` +
            `${rule.affinitySeconds}s jumps to ${rule.target}; a new client does not match`,
        ));
        continue;
      }
      if (!rule.conds.every((c) => c(w))) continue;
      const target = rule.target;
      if (target === undefined) {
        w.hops.push(hopOf(table, rule, "no target (counts only)"));
        continue;
      }
      if (rule.probability !== undefined && rule.probability < 1) {
        return this.#fork(table, chain, lines, i, w, depth, builtin, rule);
      }
      const ends = this.#apply(table, rule, w, depth);
      if (ends === "continue") continue;
      if (ends === "return") return [{ walk: w, terminal: false }];
      if (ends === "terminal") return [{ walk: w, terminal: true }];
      // A jump into a chain: each way out of it continues here (or ends).
      const out: WalkEnd[] = [];
      for (const end of ends) {
        if (end.terminal) out.push(end);
        else if (rule.goto) out.push(end);
        else out.push(...this.#runLines(table, chain, lines, i + 1, end.walk, depth, builtin));
      }
      return out;
    }
    return [{ walk: w, terminal: false }];
  }

  /** A random-balancing rule: one branch takes it, one goes on with the next rule. */
  #fork(
    table: Table,
    chain: string,
    lines: readonly string[],
    i: number,
    w: Walk,
    depth: number,
    builtin: boolean,
    rule: TraceRule,
  ): WalkEnd[] {
    const p = rule.probability!;
    const taken = cloneWalk(w, w.probability * p);
    const skipped = cloneWalk(w, w.probability * (1 - p));
    const out: WalkEnd[] = [];
    const ends = this.#apply(table, rule, taken, depth, p);
    if (ends === "terminal") out.push({ walk: taken, terminal: true });
    else if (ends === "continue") {
      out.push(...this.#runLines(table, chain, lines, i + 1, taken, depth, builtin));
    } else if (ends === "return") out.push({ walk: taken, terminal: false });
    else {
      for (const end of ends) {
        if (end.terminal || rule.goto) out.push(end);
        else out.push(...this.#runLines(table, chain, lines, i + 1, end.walk, depth, builtin));
      }
    }
    if (out.length > MAX_BRANCHES) {
      this.#warn(`more than ${MAX_BRANCHES} branches: stopped following`);
      this.uncertain = true;
      return out;
    }
    out.push(...this.#runLines(table, chain, lines, i + 1, skipped, depth, builtin));
    return out;
  }

  /**
   * Applies a matching rule's target to the walk.
   *
   * @returns "continue" (non-terminal target), "return", "terminal", or the ways out of the
   *   chain jumped to.
   */
  #apply(
    table: Table,
    rule: TraceRule,
    w: Walk,
    depth: number,
    probability?: number,
  ): "continue" | "return" | "terminal" | WalkEnd[] {
    const target = rule.target!;
    const extra = probability !== undefined ? { probability } : {};
    switch (target) {
      case "RETURN":
        w.hops.push(hopOf(table, rule, "return", extra));
        return "return";
      case "MARK":
        w.mark = rule.setXmark === undefined
          ? w.mark
          : (((w.mark & ~rule.setXmark.mask) ^ rule.setXmark.value) >>> 0);
        w.hops.push(hopOf(table, rule, `set mark 0x${w.mark.toString(16)}`, extra));
        return "continue";
      case "DNAT": {
        const destination = rule.toDestination ?? "";
        const hop = hopOf(table, rule, `DNAT to ${destination}`, extra);
        w.hops.push(hop);
        w.dnat = { destination, hop };
        return "terminal";
      }
      case "REDIRECT": {
        const destination = `:${rule.toPorts ?? String(w.destPort)}`;
        const hop = hopOf(
          table,
          rule,
          `REDIRECT to this node's port ${destination.slice(1)}`,
          extra,
        );
        w.hops.push(hop);
        w.redirect = { destination, hop };
        return "terminal";
      }
      case "MASQUERADE": {
        const hop = hopOf(table, rule, "MASQUERADE (source NAT to the node's address)", extra);
        w.hops.push(hop);
        w.masqueradedBy = hop;
        return "terminal";
      }
      case "ACCEPT":
      case "DROP":
      case "REJECT": {
        const hop = hopOf(table, rule, target, extra);
        w.hops.push(hop);
        w.filter ??= {
          verdict: target === "ACCEPT" ? "accept" : target === "DROP" ? "drop" : "reject",
          hop,
        };
        return "terminal";
      }
    }
    if (!isKubeChain(target) && !this.#tables.rules(table, target)) {
      this.uncertain = true;
      this.#warn(`unknown target ${target} in ${table} ${rule.chain}: ${rule.line}`);
      w.hops.push(hopOf(table, rule, `unknown target ${target}: not followed`, { unknown: true }));
      return "continue";
    }
    const hop = hopOf(table, rule, `${rule.goto ? "goto" : "jump"} ${target}`, extra);
    w.hops.push(hop);
    if (target === KUBE_MARK_MASQ) w.masqMarkedBy ??= hop;
    if (BUILTIN_CHAINS.has(target)) return "continue";
    return this.#runChain(table, target, w, depth + 1);
  }
}

function ipOfDestination(destination: string): { ip: string; port?: number } {
  const split = splitHostPort(destination);
  if (split === undefined) return { ip: destination };
  return { ip: split.host, ...(split.port ? { port: Number(split.port) } : {}) };
}

function branchOf(w: Walk): TraceBranch {
  let verdict: BranchVerdict;
  let destination: string | undefined;
  let decidedBy: TraceHop | undefined;
  if (w.filter !== undefined && w.filter.verdict !== "accept") {
    verdict = w.filter.verdict;
    decidedBy = w.filter.hop;
  } else if (w.dnat !== undefined) {
    verdict = "dnat";
    destination = w.dnat.destination;
    decidedBy = w.dnat.hop;
  } else if (w.redirect !== undefined) {
    verdict = "redirect";
    destination = w.redirect.destination;
    decidedBy = w.redirect.hop;
  } else if (w.filter !== undefined && isKubeChain(w.filter.hop.chain)) {
    verdict = "accept";
    decidedBy = w.filter.hop;
  } else {
    verdict = "none";
  }
  // The service: the decisive rule's, else the last one a rule on the path named.
  const service = decidedBy?.service ??
    [...w.hops].reverse().find((h) => h.service !== undefined)?.service;
  return {
    probability: w.probability,
    hops: w.hops,
    verdict,
    ...(destination !== undefined ? { destination } : {}),
    ...(service !== undefined ? { service } : {}),
    ...(decidedBy !== undefined ? { decidedBy } : {}),
    masquerade: masqueradeOf(w, verdict),
  };
}

/**
 * Follows the first packet of a connection through the rules, as the kernel would (module
 * comment), without touching anything.
 *
 * @param tables the rules (a FakeIptables loaded from a restore input or an iptables-save).
 * @param packet the packet.
 * @param opts the node's addresses, the rules' origin, and whether to assume kube-proxy's jumps.
 * @returns the hops, verdict and masquerade decision of every branch, merged endpoint shares,
 *   and warnings.
 * @example
 * ```ts
 * const r = traceRules(fake, {
 *   sourceIP: "10.0.0.2", destIP: "172.30.0.41", destPort: 80, protocol: "tcp", inInterface: "",
 * }, { nodeIPs: ["192.168.0.2"], ruleSource: "iptables-nft" });
 * r.outcome; // "delivered"
 * ```
 */
export function traceRules(
  tables: RuleTables,
  packet: TracePacket,
  opts: TraceRulesOptions,
): TraceResult {
  const walker = new RuleWalker(tables, opts.assumeKubeJumps ?? false);
  const fromNode = isLocalAddress(packet.sourceIP, opts.nodeIPs);
  const hook: TraceHook = fromNode ? "OUTPUT" : "PREROUTING";
  const start: Walk = {
    probability: 1,
    hops: [],
    sourceIP: packet.sourceIP,
    destIP: packet.destIP,
    destPort: packet.destPort,
    protocol: packet.protocol,
    inInterface: fromNode ? "" : packet.inInterface,
    nodeIPs: opts.nodeIPs,
    mark: 0,
  };
  const done: Walk[] = [];
  for (const natEnd of walker.runBuiltin("nat", hook, start)) {
    const w = natEnd.walk;
    const to = w.dnat?.destination ?? w.redirect?.destination;
    if (w.redirect !== undefined) {
      // REDIRECT is a DNAT to the node: loopback from the node, else the incoming interface's
      // address (a node address of the family stands for it).
      const v6 = packet.destIP.includes(":");
      w.destIP = (fromNode ? undefined : opts.nodeIPs.find((ip) => ip.includes(":") === v6)) ??
        (v6 ? "::1" : "127.0.0.1");
      w.destPort = Number(w.redirect.destination.slice(1));
    } else if (to !== undefined) {
      const d = ipOfDestination(to);
      w.destIP = d.ip;
      if (d.port !== undefined) w.destPort = d.port;
    }
    if (w.filter !== undefined && w.filter.verdict !== "accept") {
      done.push(w);
      continue;
    }
    const filterChain = fromNode
      ? "OUTPUT"
      : isLocalAddress(w.destIP, opts.nodeIPs)
      ? "INPUT"
      : "FORWARD";
    for (const filterEnd of walker.runBuiltin("filter", filterChain, w)) {
      const fw = filterEnd.walk;
      if (fw.filter !== undefined && fw.filter.verdict !== "accept") {
        done.push(fw);
        continue;
      }
      for (const postEnd of walker.runBuiltin("nat", "POSTROUTING", fw)) done.push(postEnd.walk);
    }
  }
  const branches = done.map(branchOf);
  const services: string[] = [];
  for (const b of branches) {
    for (const h of b.hops) {
      if (h.service !== undefined && !services.includes(h.service)) services.push(h.service);
    }
  }
  return {
    packet,
    hook,
    ruleSource: opts.ruleSource,
    outcome: outcomeOf(branches, walker.uncertain),
    branches,
    endpoints: endpointSharesOf(branches),
    ...(walker.affinitySeconds !== undefined ? { affinitySeconds: walker.affinitySeconds } : {}),
    services,
    warnings: walker.warnings,
  };
}

/** The packet of a packet-flow test row. */
export interface TracedPacket {
  readonly sourceIP: string;
  readonly destIP: string;
  readonly destPort: number;
  /** `tcp` (default), `udp` or `sctp`. */
  readonly protocol?: string;
  /** Addresses of the node (for `-m addrtype --src-type/--dst-type LOCAL`); loopback always is. */
  readonly nodeIPs?: readonly string[];
  /** Input interface, for the interface-based local detectors. */
  readonly inInterface?: string;
}

/** Where the packet of a packet-flow test row went, in the rows' terms. */
export interface PacketFlowResult {
  /**
   * Comma-separated DNAT destinations (`10.180.0.1:80`), `REDIRECT:<port>`, `REJECT`, `DROP`,
   * `ACCEPT` (health-check node ports), or "" when no rule handled the packet.
   */
  readonly output: string;
  /** Whether the packet is masqueraded on any branch. */
  readonly masq: boolean;
  /** Every rule line that matched, in order, over all branches. */
  readonly matched: string[];
}

function flowOutput(b: TraceBranch): string {
  switch (b.verdict) {
    case "dnat":
      return b.destination ?? "";
    case "redirect":
      return `REDIRECT${b.destination ?? ""}`;
    case "accept":
      return "ACCEPT";
    case "reject":
      return "REJECT";
    case "drop":
      return "DROP";
    case "none":
      return "";
  }
}

/**
 * Follows a packet through a fake's rules in the terms of upstream's packet-flow test rows:
 * {@linkcode traceRules} with kube-proxy's jumps assumed (the proxier ensures them outside its
 * restore input).
 *
 * @param fake the iptables holding the rules (after a restore).
 * @param packet the packet.
 * @returns where it goes and whether it is masqueraded.
 * @throws {Error} On a rule shape the tracer does not understand (a test must not guess).
 * @example
 * ```ts
 * tracePacket(fake, { sourceIP: "10.180.0.1", destIP: "172.30.0.41", destPort: 80 });
 * // { output: "10.180.0.1:80", masq: true, matched: [...] }
 * ```
 */
export function tracePacket(fake: RuleTables, packet: TracedPacket): PacketFlowResult {
  const r = traceRules(fake, {
    sourceIP: packet.sourceIP,
    destIP: packet.destIP,
    destPort: packet.destPort,
    protocol: packet.protocol ?? "tcp",
    inInterface: packet.inInterface ?? "",
  }, {
    nodeIPs: packet.nodeIPs ?? [],
    ruleSource: "fake",
    assumeKubeJumps: true,
  });
  if (r.outcome === "uncertain") {
    throw new Error(`Cannot trace rule: ${r.warnings.join("; ")}`);
  }
  const outputs: string[] = [];
  for (const b of r.branches) {
    const o = flowOutput(b);
    if (o !== "" && !outputs.includes(o)) outputs.push(o);
  }
  const matched: string[] = [];
  for (const b of r.branches) {
    for (const h of b.hops) {
      if (!matched.includes(h.rule) && !isAssumed(fake, h)) matched.push(h.rule);
    }
  }
  return {
    output: outputs.join(", "),
    masq: r.branches.some((b) => b.masquerade.masqueraded),
    matched,
  };
}

/** A hop on a jump the tracer assumed (not a rule the tables hold). */
function isAssumed(tables: RuleTables, hop: TraceHop): boolean {
  return BUILTIN_CHAINS.has(hop.chain) &&
    !(tables.rules(hop.table as Table, hop.chain) ?? []).includes(hop.rule);
}
