/**
 * Why a traced packet is or is not masqueraded, in words: which rule marked it for KUBE-MARK-MASQ
 * and under which setting (hairpin, detectLocalMode, masqueradeAll, externalTrafficPolicy), or
 * what kept its source (traffic policy Local, a source in the pod network). Pure; used by
 * `tracer.ts`.
 *
 * @module
 */

import {
  EXTERNAL_TRAFFIC_CHAIN_PREFIX,
  SERVICE_CHAIN_PREFIX,
  SERVICE_ENDPOINT_CHAIN_PREFIX,
  SERVICE_LOCAL_CHAIN_PREFIX,
} from "./chains.ts";
import { splitRuleArgs } from "./iptables.ts";
import {
  type BranchVerdict,
  keptSourceDecision,
  type MasqueradeDecision,
  type TraceHop,
} from "../trace/trace_result.ts";

/** In words, why the rule that jumped to KUBE-MARK-MASQ did. */
function markReason(hop: TraceHop): string {
  const args = splitRuleArgs(hop.rule);
  const src = args.indexOf("-s");
  const negated = src > 0 && args[src - 1] === "!";
  const iface = args.indexOf("-i");
  if (hop.chain.startsWith(SERVICE_ENDPOINT_CHAIN_PREFIX)) {
    return "hairpin: the endpoint is the client itself, so its reply must come back through " +
      "the node (KUBE-SEP rule)";
  }
  // "masquerade LOCAL traffic for ...": KUBE-EXT- today, KUBE-XLB- before upstream v1.24.
  if (hop.comment?.includes("masquerade LOCAL traffic")) {
    return "externalTrafficPolicy Local, but the packet comes from the node itself";
  }
  if (hop.chain.startsWith(EXTERNAL_TRAFFIC_CHAIN_PREFIX)) {
    return "externalTrafficPolicy Cluster: external traffic may be sent to another node, so it " +
      "is masqueraded for the reply to come back";
  }
  if (hop.comment?.includes("cluster IP") || hop.chain.startsWith(SERVICE_CHAIN_PREFIX)) {
    if (negated) {
      return `cluster IP traffic from outside the pod network (! -s ${
        args[src + 1]
      }: detectLocalMode)`;
    }
    if (iface > 0 && args[iface - 1] === "!") {
      return `cluster IP traffic not from a pod interface (! -i ${
        args[iface + 1]
      }: detectLocalMode)`;
    }
    return "masqueradeAll: every packet to the cluster IP is masqueraded";
  }
  return `marked for masquerade by ${hop.chain}`;
}

/** What a branch's walk recorded about masquerading. */
export interface MasqueradeFacts {
  readonly hops: readonly TraceHop[];
  /** The rule that jumped to KUBE-MARK-MASQ. */
  readonly masqMarkedBy?: TraceHop;
  /** The MASQUERADE rule reached in nat POSTROUTING. */
  readonly masqueradedBy?: TraceHop;
}

/**
 * Whether a branch's packet is masqueraded, and why, in words.
 *
 * @param w what the walk recorded.
 * @param verdict how the branch ends.
 * @returns the decision.
 */
export function masqueradeOf(w: MasqueradeFacts, verdict: BranchVerdict): MasqueradeDecision {
  if (w.masqueradedBy !== undefined) {
    return {
      masqueraded: true,
      reason: w.masqMarkedBy !== undefined
        ? markReason(w.masqMarkedBy)
        : `masqueraded by ${w.masqueradedBy.chain}`,
      ...(w.masqMarkedBy !== undefined ? { markedBy: w.masqMarkedBy } : {}),
    };
  }
  if (verdict === "drop" || verdict === "reject") {
    return { masqueraded: false, reason: `the packet does not get that far (${verdict})` };
  }
  if (w.masqMarkedBy !== undefined) {
    return {
      masqueraded: false,
      reason: "marked for masquerade, but no rule in nat POSTROUTING masquerades it",
      markedBy: w.masqMarkedBy,
    };
  }
  if (verdict === "none") return { masqueraded: false, reason: "no kube-proxy rule applies" };
  return keptSourceDecision(
    w.hops.map((h) => h.chain),
    SERVICE_LOCAL_CHAIN_PREFIX,
    EXTERNAL_TRAFFIC_CHAIN_PREFIX,
  );
}
