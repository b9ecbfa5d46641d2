/**
 * What a packet trace finds, independent of the backend that holds the rules: the packet, the
 * path it takes hop by hop, and the verdict. The iptables tracer (`proxy/iptables/tracer.ts`)
 * produces it today; an nftables tracer produces the same {@linkcode TraceResult} (its hops name
 * the `kube-proxy` table's chains and map lookups), so rendering, `--explain`, JSON output and exit
 * codes work unchanged for both modes.
 *
 * A trace may fork: a `-m statistic` rule (or an nftables `numgen` map) sends a share of new
 * connections one way and the rest another. Every way is followed to its end, as a
 * {@linkcode TraceBranch} carrying the probability that a new connection takes it.
 *
 * @module
 */

/** The packet to trace: the first packet of a new connection. */
export interface TracePacket {
  readonly sourceIP: string;
  readonly destIP: string;
  readonly destPort: number;
  /** `tcp`, `udp` or `sctp`. */
  readonly protocol: string;
  /**
   * The interface the packet comes in on (for interface-based local-traffic detection); "" when
   * unknown or when the packet starts on the node itself.
   */
  readonly inInterface: string;
}

/** Where in the kernel the packet enters kube-proxy's rules. */
export type TraceHook = "PREROUTING" | "OUTPUT";

/** One rule on the path that matched the packet. */
export interface TraceHop {
  /** `nat`, `filter` (iptables), or the nftables table name. */
  readonly table: string;
  /** The chain holding the rule. */
  readonly chain: string;
  /** The rule as the kernel holds it (`-A CHAIN ...` for iptables). */
  readonly rule: string;
  /** What the rule did to the packet, in words: `jump KUBE-SVC-…`, `DNAT to 10.244.1.5:8080`. */
  readonly action: string;
  /** The rule's comment, if any. */
  readonly comment?: string;
  /** The service port the rule belongs to (`ns/name:port`), when the rule says. */
  readonly service?: string;
  /** The endpoint (`IP:port`) the rule belongs to, when the rule says. */
  readonly endpoint?: string;
  /** For a random-balancing rule: the probability that a packet reaching it takes it. */
  readonly probability?: number;
  /** The tracer did not understand this rule and treated it as not matching. */
  readonly unknown?: boolean;
}

/** How one branch of the trace ends. */
export type BranchVerdict =
  /** DNAT to an endpoint (`destination`). */
  | "dnat"
  /** REDIRECT to a port of the node itself (`destination` is `:port`). */
  | "redirect"
  /** Accepted by a kube-proxy rule for the node itself (health-check node ports). */
  | "accept"
  | "reject"
  | "drop"
  /** No kube-proxy rule decided anything: the packet goes on unchanged. */
  | "none";

/** Whether a branch's packet is source-NATed to the node's address, and why. */
export interface MasqueradeDecision {
  readonly masqueraded: boolean;
  /** In words: which rule, which traffic policy. */
  readonly reason: string;
  /** The rule that marked the packet for masquerading. */
  readonly markedBy?: TraceHop;
}

/** One way through the rules, with the share of new connections that take it. */
export interface TraceBranch {
  /** Between 0 and 1; the branches of a trace add up to 1. */
  readonly probability: number;
  /** Every matching rule, from the hook to the end. */
  readonly hops: readonly TraceHop[];
  readonly verdict: BranchVerdict;
  /** `IP:port` for dnat, `:port` for redirect. */
  readonly destination?: string;
  /** The service port whose rules decided the verdict (`ns/name:port`). */
  readonly service?: string;
  /** The hop that decided the verdict (the DNAT, REJECT, DROP or ACCEPT rule). */
  readonly decidedBy?: TraceHop;
  readonly masquerade: MasqueradeDecision;
}

/** The overall outcome of a trace; each maps to an exit status ({@linkcode exitCodeOf}). */
export type TraceOutcome = "delivered" | "rejected" | "dropped" | "no-rule" | "uncertain";

/** One endpoint the packet may reach, with its share of new connections. */
export interface EndpointShare {
  /** `IP:port`, or `:port` for a redirect to the node. */
  readonly destination: string;
  readonly share: number;
  readonly masqueraded: boolean;
}

/** Everything a trace found. */
export interface TraceResult {
  readonly packet: TracePacket;
  readonly hook: TraceHook;
  /** Which rules were read: `iptables-nft`, `iptables-legacy`, `ip6tables-nft`, `nftables`, … */
  readonly ruleSource: string;
  readonly outcome: TraceOutcome;
  readonly branches: readonly TraceBranch[];
  /** The DNAT/redirect destinations of all branches, merged, in rule order. */
  readonly endpoints: readonly EndpointShare[];
  /** ClientIP session affinity on the path: later connections of a client stick. */
  readonly affinitySeconds?: number;
  /** Service ports named on the path, in order of appearance (for `--explain`). */
  readonly services: readonly string[];
  /** Rule shapes not understood, missing jumps, and anything else that limits the answer. */
  readonly warnings: readonly string[];
}

/** Exit status of a delivered packet (DNAT, REDIRECT, or accepted for the node). */
export const EXIT_DELIVERED = 0;
/** Exit status when the trace could not run (rules unreadable, API server error). */
export const EXIT_TRACE_ERROR = 1;
/** Exit status of bad flags. */
export const EXIT_USAGE = 2;
/** Exit status of a packet rejected (REJECT: a service without endpoints). */
export const EXIT_REJECTED = 3;
/** Exit status of a packet dropped (DROP: no local endpoint, source range, ...). */
export const EXIT_DROPPED = 4;
/** Exit status when no kube-proxy rule handles the packet. */
export const EXIT_NO_RULE = 5;
/** Exit status when the path met a rule shape the tracer does not know. */
export const EXIT_UNCERTAIN = 6;

/**
 * The process exit status for an outcome.
 *
 * @param outcome the trace's outcome.
 * @returns 0 delivered, 3 rejected, 4 dropped, 5 no rule, 6 uncertain.
 * @example
 * ```ts
 * exitCodeOf("dropped"); // 4
 * ```
 */
export function exitCodeOf(outcome: TraceOutcome): number {
  switch (outcome) {
    case "delivered":
      return EXIT_DELIVERED;
    case "rejected":
      return EXIT_REJECTED;
    case "dropped":
      return EXIT_DROPPED;
    case "no-rule":
      return EXIT_NO_RULE;
    case "uncertain":
      return EXIT_UNCERTAIN;
  }
}

/**
 * The overall outcome of a set of branches: uncertain when any rule was not understood, else the
 * verdict all branches share; when they differ (rare: a filter rule that applies to only some
 * endpoints), delivered if any branch is.
 *
 * @param branches the branches of a trace.
 * @param uncertain whether a rule on any path was not understood.
 * @returns the outcome.
 * @example
 * ```ts
 * outcomeOf([{ verdict: "drop", ... }], false); // "dropped"
 * ```
 */
export function outcomeOf(
  branches: readonly Pick<TraceBranch, "verdict">[],
  uncertain: boolean,
): TraceOutcome {
  if (uncertain) return "uncertain";
  const of = (v: BranchVerdict): TraceOutcome =>
    v === "reject" ? "rejected" : v === "drop" ? "dropped" : v === "none" ? "no-rule" : "delivered";
  const outcomes = new Set(branches.map((b) => of(b.verdict)));
  if (outcomes.size === 1) return [...outcomes][0];
  return outcomes.has("delivered") ? "delivered" : "no-rule";
}

/**
 * Merges the branches' destinations: one entry per destination, shares added, in the order the
 * rules list them.
 *
 * @param branches the branches of a trace.
 * @returns the endpoints with their shares.
 */
export function endpointSharesOf(branches: readonly TraceBranch[]): EndpointShare[] {
  const byDest = new Map<string, { share: number; masqueraded: boolean }>();
  for (const b of branches) {
    if ((b.verdict !== "dnat" && b.verdict !== "redirect") || b.destination === undefined) continue;
    const e = byDest.get(b.destination);
    if (e === undefined) {
      byDest.set(b.destination, { share: b.probability, masqueraded: b.masquerade.masqueraded });
    } else {
      e.share += b.probability;
      e.masqueraded ||= b.masquerade.masqueraded;
    }
  }
  return [...byDest].map(([destination, e]) => ({ destination, ...e }));
}
