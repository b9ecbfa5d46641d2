/**
 * Rule generation: a pure function from one family's state (service ports and their endpoints)
 * and options to the lines of the `filter` and `nat` tables, in upstream kube-proxy's exact shape.
 *
 * Packet path (see README.md): PREROUTING/OUTPUT jump to nat KUBE-SERVICES, which matches a
 * service's cluster IP, external IPs and LoadBalancer IPs (and, last, local destinations to
 * KUBE-NODEPORTS). Cluster IP traffic goes to the "internal" policy chain (KUBE-SVC-, or KUBE-SVL-
 * with internalTrafficPolicy Local); external traffic goes through KUBE-EXT- (and KUBE-FW- when
 * loadBalancerSourceRanges apply) to the "external" policy chain. Policy chains pick a KUBE-SEP-
 * chain at random; the KUBE-SEP- chain DNATs. Masquerading is requested with KUBE-MARK-MASQ and
 * performed in KUBE-POSTROUTING. The filter table REJECTs or DROPs traffic to services that have
 * no usable endpoints, so clients fail fast instead of timing out.
 *
 * {@linkcode buildRuleSet} writes, in order: the fixed chains' own lines (KUBE-POSTROUTING,
 * KUBE-MARK-MASQ, KUBE-FIREWALL, the DNS intercept), then per service port (sorted) its plan
 * (`../service_plan.ts`) rendered by `service_rules.ts` (entry rules in the shared chains, then
 * its own chains: written, deferred or skipped), then stale chain deletions, the KUBE-NODEPORTS
 * jump (last rule of KUBE-SERVICES) and KUBE-FORWARD.
 *
 * NOTE: this module is pure (no Deno.*, no clock, no randomness): same input, same text. It
 * memoizes chain-name hashes per (immutable) service port and endpoint object, which does not
 * change its output. Lines are built as strings and pushed to arrays, joined once by
 * `render.ts`: at 10,000 services x 10 endpoints this is ~366,000 nat lines. With
 * `deferServiceRules` (the proxier's choice) only the fixed chains' lines are built here and each
 * service's own chains are built by the renderer as it streams, one service at a time. Every
 * count a {@linkcode RuleSet} reports is the number of lines actually written (or, for a service
 * a partial sync skips, the lines its chains were last written with).
 *
 * @module
 */

import type { IPFamily } from "../../cache/objects.ts";
import type { EndpointInfo, ServicePortInfo } from "../types.ts";
import type { DnsIntercept, LocalDetector } from "../backend.ts";
import { type PlanContext, planServicePort, type ServicePlan } from "../service_plan.ts";
import {
  isServiceChainName,
  KUBE_DNS_INTERCEPT,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FIREWALL,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
} from "./chains.ts";
import {
  chainsOf,
  type ServiceChainSettings,
  serviceChainsOf,
  writeServiceChains,
  writeServiceEntryRules,
} from "./service_rules.ts";
import { isLoopback } from "../net.ts";

export type { DnsIntercept, LocalDetector };
export { probability } from "./service_rules.ts";

/** The state rules are generated from: one family's service ports and endpoints. */
export interface ProxyState {
  /** Service ports keyed by `servicePortKey`. */
  readonly services: ReadonlyMap<string, ServicePortInfo>;
  /** Endpoints per `servicePortKey`, sorted by `endpoint`. */
  readonly endpoints: ReadonlyMap<string, readonly EndpointInfo[]>;
}

/** Options of {@linkcode buildRuleSet}: the proxier's configuration for one family. */
export interface RuleSetOptions {
  readonly family: IPFamily;
  /** The masquerade mark as hex, e.g. `0x00004000` (see {@linkcode masqueradeMarkFor}). */
  readonly masqueradeMark: string;
  /** Masquerade all traffic to cluster IPs. */
  readonly masqueradeAll: boolean;
  /** Append `--random-fully` to the MASQUERADE rule (iptables >= 1.6.2). */
  readonly randomFully?: boolean;
  readonly localDetector: LocalDetector;
  /**
   * Local IPs of this family that NodePorts answer on, when `nodePortAddresses` restricts them;
   * undefined when NodePorts match every local address.
   */
  readonly nodePortIPs?: readonly string[];
  /** Localhost NodePorts in effect (IPv4 only; route_localnet set by the caller). */
  readonly localhostNodePorts: boolean;
  /** The node's primary IP of this family ("" if unknown), for LoadBalancer source ranges. */
  readonly nodeIP: string;
  readonly nodeName: string;
  readonly nodeLabels?: Readonly<Record<string, string>>;
  /** The kernel's `nf_conntrack_tcp_be_liberal` is non-zero: the INVALID drop rule is omitted. */
  readonly tcpBeLiberal: boolean;
  /** nfacct counters that exist (their `-m nfacct` matches are only written then). */
  readonly nfacct?: { readonly invalidDropped?: boolean; readonly localhostNodePorts?: boolean };
  readonly dnsIntercept?: DnsIntercept;
  /**
   * Partial sync: only Services in this set (`namespace/name`) get their KUBE-SVC/SVL/EXT/FW/SEP
   * chains written; the others' chains stay as they are in the kernel. Undefined = full sync.
   */
  readonly updatedServices?: ReadonlySet<string>;
  /**
   * The line count of each service port's own chains (by `servicePortKey`) as the last
   * successful restore wrote them ({@linkcode RuleSet.serviceLines} of that rule set): a partial
   * sync counts the services it skips from it, for `natTotal`, instead of building their lines.
   */
  readonly writtenServiceLines?: ReadonlyMap<string, number>;
  /**
   * Tests only: build the lines of the services a partial sync skips and count them, even when
   * `writtenServiceLines` knows them.
   */
  readonly verifySkippedLineCounts?: boolean;
  /** nat chains currently in the kernel (from iptables-save), to delete stale service chains. */
  readonly existingNatChains?: Iterable<string>;
  /**
   * Join the lines of each service's own chains into one `natRules` entry (the rendered text is
   * the same): at 10,000 services, 366,000 concatenated line strings take about twice the memory
   * of the 10,000 flat strings, and they are what a sync's garbage collection walks.
   */
  readonly joinServiceRules?: boolean;
  /**
   * Leave each service's own chain lines out of `natRules` and build them while rendering
   * ({@linkcode RuleSet.deferredServiceRules}), one service at a time: the rendered text and the
   * counts are the same, but a full sync never holds the ~366,000 lines of a 10,000-service nat
   * table at once (about 97 MB of heap). Takes precedence over `joinServiceRules`.
   */
  readonly deferServiceRules?: boolean;
  /** Endpoint count above which comments are dropped (upstream: 1000). */
  readonly largeClusterEndpointsThreshold?: number;
}

/** Rule counts for the `sync_proxy_rules_iptables_*` metrics. */
export interface RuleCounts {
  /** filter rules written (= total). */
  readonly filter: number;
  /** nat rules written, without `-X` lines (`iptables_last{nat}`). */
  readonly nat: number;
  /** nat rules in the kernel after this sync: written + skipped unchanged (`iptables_total`). */
  readonly natTotal: number;
}

/** The output of {@linkcode buildRuleSet}, rendered by `renderRestoreInput`. */
export interface RuleSet {
  readonly family: IPFamily;
  /** filter chains to declare (flushed by restore). */
  readonly filterChains: string[];
  /** filter rule lines (`-A CHAIN ...`). */
  readonly filterRules: string[];
  /** nat chains to declare, including stale chains about to be deleted. */
  readonly natChains: string[];
  /**
   * nat rule lines, including `-X CHAIN` lines for stale chains; with `joinServiceRules`, the
   * lines of one service's own chains are one entry, joined by newlines.
   */
  readonly natRules: string[];
  /**
   * With `deferServiceRules`, the services whose own chain lines are not in `natRules`, in
   * order: each one's lines go right before `natRules[at]` (or at the end when `at` is
   * `natRules.length`). Empty otherwise.
   */
  readonly deferredServiceRules: readonly DeferredServiceRules[];
  /** For each fixed (non-service) nat chain, the indices of its lines in `natRules`. */
  readonly fixedNatLines: ReadonlyMap<string, readonly number[]>;
  /**
   * Every nat service chain this state uses (written or not); collected only when
   * `existingNatChains` is given (empty otherwise).
   */
  readonly activeNatChains: Set<string>;
  /** Stale service chains deleted by this rule set. */
  readonly deletedChains: string[];
  /** Counts of the lines written (computed on first read; reading it renders deferred lines). */
  readonly counts: RuleCounts;
  /**
   * The line count of every service port's own chains (by `servicePortKey`): those written now
   * as counted when written, those skipped as `writtenServiceLines` said. For the next partial
   * sync's `writtenServiceLines`; computed on first read.
   */
  readonly serviceLines: ReadonlyMap<string, number>;
  /** Service ports whose traffic policy Local found no local endpoint, per policy. */
  readonly noLocalEndpoints: { readonly internal: number; readonly external: number };
  /** Whether comments were dropped because the cluster is large. */
  readonly largeClusterMode: boolean;
}

/** One service's own nat chain lines, built on demand (see `RuleSetOptions.deferServiceRules`). */
export interface DeferredServiceRules {
  /** Index in `natRules` before which the lines go. */
  readonly at: number;
  /** Appends the lines to `out`; the same lines every call. */
  readonly write: (out: string[]) => void;
}

/**
 * The masquerade mark for a bit, as upstream formats it (`%#08x`).
 *
 * @param bit `masqueradeBit`, 0..31.
 * @returns e.g. `0x00004000` for 14.
 * @example
 * ```ts
 * masqueradeMarkFor(14); // "0x00004000"
 * ```
 */
export function masqueradeMarkFor(bit: number): string {
  return "0x" + (2 ** bit).toString(16).padStart(8, "0");
}

/** Upstream's `largeClusterEndpointsThreshold`. */
export const LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000;

/**
 * `[ifLocal, ifNotLocal]` match arguments of a detector, or undefined for the no-op detector.
 *
 * @param d the family's local detector.
 */
function detectorArgs(d: LocalDetector): [string, string] | undefined {
  switch (d.mode) {
    case "ClusterCIDR":
    case "NodeCIDR":
      return d.cidr === "" ? undefined : [`-s ${d.cidr}`, `! -s ${d.cidr}`];
    case "BridgeInterface":
      return d.interfaceName === ""
        ? undefined
        : [`-i ${d.interfaceName}`, `! -i ${d.interfaceName}`];
    case "InterfaceNamePrefix":
      return d.interfacePrefix === ""
        ? undefined
        : [`-i ${d.interfacePrefix}+`, `! -i ${d.interfacePrefix}+`];
    default:
      return undefined;
  }
}

const EMPTY_ENDPOINTS: readonly EndpointInfo[] = [];

/** The tables being written: chain declarations and lines, and where the fixed nat lines are. */
class Tables {
  readonly filterChains: string[] = [
    KUBE_SERVICES,
    KUBE_EXTERNAL_SERVICES,
    KUBE_FORWARD,
    KUBE_NODEPORTS,
    KUBE_PROXY_FIREWALL,
  ];
  readonly filterRules: string[] = [];
  readonly natChains: string[] = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ];
  readonly natRules: string[] = [];
  /**
   * Where each fixed nat chain's lines are in natRules, so that partial syncs can compare and
   * leave them out without looking at the service chains' lines.
   */
  readonly fixedNatLines = new Map<string, number[]>(this.natChains.map((c) => [c, []]));
  readonly countLocalhostNodePorts: boolean;

  constructor(countLocalhostNodePorts: boolean) {
    this.countLocalhostNodePorts = countLocalhostNodePorts;
  }

  /** Appends a line to a fixed nat chain. */
  nat(chain: string, line: string): void {
    let at = this.fixedNatLines.get(chain);
    if (at === undefined) this.fixedNatLines.set(chain, at = []);
    at.push(this.natRules.length);
    this.natRules.push(line);
  }

  /** Appends a filter line. */
  filter(line: string): void {
    this.filterRules.push(line);
  }
}

/** One service port's own chains in a rule set: written now, or skipped by a partial sync. */
interface OwnChains {
  readonly key: string;
  readonly written: boolean;
  /** Their line count: as written, or (skipped) as last written. */
  lines(): number;
}

/**
 * Builds the filter and nat rules for one IP family.
 *
 * @param state the service ports and endpoints of this family.
 * @param opts the proxier's configuration for this family.
 * @returns the rule set, ready for `renderRestoreInput`.
 * @example
 * ```ts
 * const text = renderRestoreInput(buildRuleSet(state, opts));
 * ```
 */
export function buildRuleSet(state: ProxyState, opts: RuleSetOptions): RuleSet {
  const isIPv6 = opts.family === "IPv6";
  const localhostNodePorts = !isIPv6 && opts.localhostNodePorts;
  const t = new Tables(localhostNodePorts && (opts.nfacct?.localhostNodePorts ?? false));
  writeMasqueradeChains(t, opts);
  if (localhostNodePorts) writeLocalhostFirewall(t);
  const dnsIntercepted = writeDnsIntercept(t, opts);

  // Large clusters drop comments from the most numerous rules (SVC->SEP and SEP), which shrinks
  // the restore input by 40% or more.
  let totalEndpoints = 0;
  for (const key of state.services.keys()) totalEndpoints += state.endpoints.get(key)?.length ?? 0;
  const largeClusterMode = totalEndpoints >
    (opts.largeClusterEndpointsThreshold ?? LARGE_CLUSTER_ENDPOINTS_THRESHOLD);
  const detector = detectorArgs(opts.localDetector);
  const settings: ServiceChainSettings = { detector, largeClusterMode };
  const ctx: PlanContext = {
    nodeName: opts.nodeName,
    nodeLabels: opts.nodeLabels ?? {},
    nodeIP: opts.nodeIP,
    hasLocalDetector: detector !== undefined,
    masqueradeAll: opts.masqueradeAll,
  };

  const own: OwnChains[] = [];
  const deferred: DeferredServiceRules[] = [];
  // Only needed to find stale chains: a Set of 110,000 names costs a sync tens of milliseconds.
  const activeNatChains = new Set<string>();
  const collectActive = opts.existingNatChains !== undefined;
  let noLocalInternal = 0, noLocalExternal = 0;
  for (const key of [...state.services.keys()].sort()) {
    const sp = state.services.get(key)!;
    const plan = planServicePort(sp, state.endpoints.get(key) ?? EMPTY_ENDPOINTS, ctx);
    if (plan.noLocalEndpoints.internal) noLocalInternal++;
    if (plan.noLocalEndpoints.external) noLocalExternal++;
    writeServiceEntryRules(t, plan);
    if (collectActive) {
      for (const chain of serviceChainsOf(plan, chainsOf(sp))) activeNatChains.add(chain);
    }
    // The service's own chains; a partial sync writes them only for services that changed (the
    // kernel keeps the others as they are).
    if (opts.updatedServices !== undefined && !opts.updatedServices.has(sp.serviceKey)) {
      own.push(skippedChains(key, plan, settings, opts));
    } else {
      own.push(writeOwnChains(t, key, plan, settings, opts, deferred));
    }
  }

  const deletedChains = writeStaleChainDeletions(t, opts, activeNatChains, dnsIntercepted);
  writeNodePortsJump(t, opts, localhostNodePorts);
  writeForwardChain(t, opts);
  return finishRuleSet(t, {
    family: opts.family,
    deferredServiceRules: deferred,
    activeNatChains,
    deletedChains,
    noLocalEndpoints: { internal: noLocalInternal, external: noLocalExternal },
    largeClusterMode,
  }, own);
}

/**
 * Masquerade marked packets on their way out, clearing the mark so that a packet traversing the
 * stack again is not masqueraded twice; KUBE-MARK-MASQ sets the mark.
 */
function writeMasqueradeChains(t: Tables, opts: RuleSetOptions): void {
  const mark = opts.masqueradeMark;
  t.nat(KUBE_POSTROUTING, `-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`);
  t.nat(KUBE_POSTROUTING, `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${mark}`);
  t.nat(
    KUBE_POSTROUTING,
    `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" ` +
      `-j MASQUERADE${opts.randomFully ? " --random-fully" : ""}`,
  );
  t.nat(KUBE_MARK_MASQ, `-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`);
}

/**
 * route_localnet (needed for localhost NodePorts) lets the network reach 127.0.0.0/8
 * (CVE-2020-8558, issue #90259); this rule closes that hole. NOTE: kubelet writes an identical
 * rule into its KUBE-FIREWALL chain; keep the two interoperable.
 */
function writeLocalhostFirewall(t: Tables): void {
  t.filterChains.push(KUBE_FIREWALL);
  t.filter(
    `-A ${KUBE_FIREWALL} -m comment --comment "block incoming localnet connections" ` +
      `-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
  );
}

/**
 * Our extension: cluster-DNS service IPs are answered by the node-local responder. The jump is
 * the first rule of KUBE-SERVICES so that it wins over the DNS Service's own cluster IP rules.
 *
 * @returns whether the intercept chain is written.
 */
function writeDnsIntercept(t: Tables, opts: RuleSetOptions): boolean {
  const isIPv6 = opts.family === "IPv6";
  const dnsIPs = (opts.dnsIntercept?.serviceIPs ?? []).filter((ip) => ip.includes(":") === isIPv6);
  if (opts.dnsIntercept === undefined || dnsIPs.length === 0) return false;
  const port = opts.dnsIntercept.port;
  t.natChains.push(KUBE_DNS_INTERCEPT);
  t.nat(
    KUBE_SERVICES,
    `-A ${KUBE_SERVICES} -m comment --comment "cluster DNS intercept" -j ${KUBE_DNS_INTERCEPT}`,
  );
  for (const ip of dnsIPs) {
    for (const p of ["udp", "tcp"]) {
      t.nat(
        KUBE_DNS_INTERCEPT,
        `-A ${KUBE_DNS_INTERCEPT} -m comment --comment "redirect cluster DNS to the node-local responder" ` +
          `-m ${p} -p ${p} -d ${ip} --dport 53 -j REDIRECT --to-ports ${port}`,
      );
    }
  }
  return true;
}

/** Lines of a service port's own chains, built and dropped: the count when nothing else says. */
function countServiceLines(plan: ServicePlan, settings: ServiceChainSettings): number {
  const scratch: string[] = [];
  writeServiceChains(scratch, plan, settings);
  return scratch.length;
}

/**
 * A service a partial sync skips: its chains are not declared or written (the kernel keeps them);
 * its lines are counted as they were last written, or built and counted when that is unknown.
 */
function skippedChains(
  key: string,
  plan: ServicePlan,
  settings: ServiceChainSettings,
  opts: RuleSetOptions,
): OwnChains {
  const known = opts.verifySkippedLineCounts ? undefined : opts.writtenServiceLines?.get(key);
  let lines = known;
  return { key, written: false, lines: () => lines ??= countServiceLines(plan, settings) };
}

/**
 * Declares a service port's own chains and writes their lines: now (joined into one entry with
 * `joinServiceRules`), or, with `deferServiceRules`, while rendering.
 */
function writeOwnChains(
  t: Tables,
  key: string,
  plan: ServicePlan,
  settings: ServiceChainSettings,
  opts: RuleSetOptions,
  deferred: DeferredServiceRules[],
): OwnChains {
  // Declarations come before every rule.
  for (const chain of serviceChainsOf(plan, chainsOf(plan.service))) t.natChains.push(chain);
  if (opts.deferServiceRules) {
    let lines: number | undefined;
    deferred.push({
      at: t.natRules.length,
      write: (out) => {
        const before = out.length;
        writeServiceChains(out, plan, settings);
        lines = out.length - before;
      },
    });
    return { key, written: true, lines: () => lines ??= countServiceLines(plan, settings) };
  }
  const mark = t.natRules.length;
  writeServiceChains(t.natRules, plan, settings);
  const lines = t.natRules.length - mark;
  if (opts.joinServiceRules && lines > 1) {
    // One flat string for the service's own chains instead of dozens of concatenated ones.
    const block = t.natRules.slice(mark).join("\n");
    t.natRules.length = mark;
    t.natRules.push(block);
  }
  return { key, written: true, lines: () => lines };
}

/**
 * Deletes service chains (and the DNS intercept chain) that exist in the kernel but are no longer
 * used: declared (flushed) and `-X`ed in the same restore.
 */
function writeStaleChainDeletions(
  t: Tables,
  opts: RuleSetOptions,
  active: ReadonlySet<string>,
  dnsIntercepted: boolean,
): string[] {
  const deleted: string[] = [];
  if (opts.existingNatChains === undefined) return deleted;
  for (const chain of opts.existingNatChains) {
    // The DNS intercept chain of an earlier run with the intercept on: nothing jumps to it once
    // KUBE-SERVICES is rewritten (the first sync is full), so it goes like a stale service chain
    // instead of waiting for --cleanup.
    const staleIntercept = chain === KUBE_DNS_INTERCEPT && !dnsIntercepted;
    if (!staleIntercept && (!isServiceChainName(chain) || active.has(chain))) continue;
    deleted.push(chain);
  }
  deleted.sort();
  for (const chain of deleted) {
    t.natChains.push(chain);
    t.natRules.push(`-X ${chain}`);
  }
  return deleted;
}

/**
 * Finally, hand local destinations to KUBE-NODEPORTS. NOTE: this must stay the last rule of
 * KUBE-SERVICES, after every service IP rule.
 */
function writeNodePortsJump(t: Tables, opts: RuleSetOptions, localhostNodePorts: boolean): void {
  const isIPv6 = opts.family === "IPv6";
  const comment =
    `-A ${KUBE_SERVICES} -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"`;
  if (opts.nodePortIPs === undefined) {
    // Localhost NodePorts never work for IPv6, and for IPv4 only with route_localnet.
    const exclude = isIPv6 ? " ! -d ::1/128" : localhostNodePorts ? "" : " ! -d 127.0.0.0/8";
    t.nat(KUBE_SERVICES, `${comment} -m addrtype --dst-type LOCAL${exclude} -j ${KUBE_NODEPORTS}`);
    return;
  }
  for (const ip of opts.nodePortIPs) {
    if (isLoopback(ip) && (isIPv6 || !localhostNodePorts)) continue;
    t.nat(KUBE_SERVICES, `${comment} -d ${ip} -j ${KUBE_NODEPORTS}`);
  }
}

/**
 * Drop INVALID packets, which would otherwise reach pods and make them reset connections (issue
 * #74839), unless conntrack is liberal about TCP windows (issue #117924). Forward marked traffic
 * even when the FORWARD policy is DROP (NodePorts to other nodes), and everything belonging to a
 * connection accepted that way.
 */
function writeForwardChain(t: Tables, opts: RuleSetOptions): void {
  const mark = opts.masqueradeMark;
  if (!opts.tcpBeLiberal) {
    const acct = opts.nfacct?.invalidDropped
      ? " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts"
      : "";
    t.filter(`-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID${acct} -j DROP`);
  }
  t.filter(
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
  );
  t.filter(
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );
}

/** The rule set, with its counts derived (on first read) from the lines written. */
function finishRuleSet(
  t: Tables,
  rest: Pick<
    RuleSet,
    | "family"
    | "deferredServiceRules"
    | "activeNatChains"
    | "deletedChains"
    | "noLocalEndpoints"
    | "largeClusterMode"
  >,
  own: readonly OwnChains[],
): RuleSet {
  let counts: RuleCounts | undefined;
  let serviceLines: Map<string, number> | undefined;
  return {
    ...rest,
    filterChains: t.filterChains,
    filterRules: t.filterRules,
    natChains: t.natChains,
    natRules: t.natRules,
    fixedNatLines: t.fixedNatLines,
    get counts(): RuleCounts {
      if (counts !== undefined) return counts;
      let nat = 0, skipped = 0;
      for (const lines of t.fixedNatLines.values()) nat += lines.length;
      for (const o of own) {
        if (o.written) nat += o.lines();
        else skipped += o.lines();
      }
      return counts = { filter: t.filterRules.length, nat, natTotal: nat + skipped };
    },
    get serviceLines(): ReadonlyMap<string, number> {
      return serviceLines ??= new Map(own.map((o) => [o.key, o.lines()]));
    },
  };
}
