/**
 * The iptables mode's {@linkcode ProxyBackend} for one IP family: everything the proxier's sync
 * needs from iptables, and nothing the proxier itself decides.
 *
 * A sync (`sync(state)`):
 * 1. a full sync ensures the jumps from the built-in chains (`chains.ts` `iptablesJumpChains`);
 * 2. it lists the nat chains in the kernel (`iptables-save -t nat`) to delete stale service
 *    chains; large clusters do it at most once per `syncPeriod`, in the background, and the sync
 *    after the scan uses it;
 * 3. `rules.ts` builds the rule set from the state (each service port's plan rendered by
 *    `service_rules.ts`), `render.ts` streams it to one `iptables-restore --noflush`; a partial
 *    sync leaves out the fixed chains whose fingerprints equal the last successful restore's;
 * 4. the rule-count metrics, the noLocalEndpoints counts for the proxier.
 *
 * A failed sync is logged with the failing line of input and its context, counted
 * (`sync_proxy_rules_iptables_restore_failures_total`), and thrown: the proxier makes the next
 * sync a full one. `checkFlushed()` is upstream's canary monitor.
 *
 * @module
 */

import type { IPFamily } from "../../cache/objects.ts";
import { type Clock, realClock } from "../../config/clock.ts";
import { log } from "../../config/log.ts";
import type {
  BackendSyncResult,
  BackendSyncState,
  DnsIntercept,
  ProxyBackend,
} from "../backend.ts";
import { allowsLocalhostNodePorts } from "../net.ts";
import { iptablesJumpChains, jumpRuleArgs, KUBE_FIREWALL, KUBE_PROXY_CANARY } from "./chains.ts";
import { type Iptables, IptablesRestoreError } from "./iptables.ts";
import { buildRuleSet, masqueradeMarkFor, type RuleSet, type RuleSetOptions } from "./rules.ts";
import { fixedChainFingerprints, restoreInputOf, unchangedFixedChains } from "./render.ts";

/** The iptables mode's own metrics (`ProxyMetrics` implements them). */
export interface IptablesMetrics {
  /** `sync_proxy_rules_iptables_restore_failures_total` (and the partial one). */
  incRestoreFailures(family: IPFamily, opts: { partial: boolean }): void;
  /** `sync_proxy_rules_iptables_total` and `sync_proxy_rules_iptables_last`. */
  setIptablesRules(
    family: IPFamily,
    table: "filter" | "nat",
    counts: { total: number; last: number },
  ): void;
}

/** The iptables mode's settings for one family (`iptablesBackendOptions` builds them). */
export interface IptablesBackendOptions {
  /** `iptables.masqueradeBit`, default 14. */
  readonly masqueradeBit?: number;
  /** `iptables.masqueradeAll`. */
  readonly masqueradeAll?: boolean;
  /** `iptables.syncPeriod`: how often the canary is checked and large clusters scan for stale chains. */
  readonly syncPeriodMs: number;
  /**
   * `iptables.localhostNodePorts` (default true; effective only for IPv4 and loopback-allowing
   * nodePortAddresses).
   */
  readonly localhostNodePorts?: boolean;
  /**
   * Whether the kernel's `nf_conntrack_tcp_be_liberal` is non-zero (read at start-up, after
   * `conntrack.tcpBeLiberal` may have set it): true omits the INVALID drop rule.
   */
  readonly tcpBeLiberal?: boolean;
  /** Append `--random-fully` to MASQUERADE (iptables >= 1.6.2). */
  readonly randomFully?: boolean;
  /** Our extension: answer cluster-DNS service IPs with the node-local responder. */
  readonly dnsIntercept?: DnsIntercept;
  /**
   * Keep the last successfully restored rule set for {@linkcode IptablesProxyBackend.lastRuleSet}
   * (tests, debugging). Off by default: at 10,000 services it holds ~85 MB between syncs.
   */
  readonly keepLastRuleSet?: boolean;
}

/** What the backend talks to, injected. */
export interface IptablesBackendDeps {
  /** This family's iptables. */
  readonly iptables: Iptables;
  readonly clock?: Clock;
  readonly metrics?: IptablesMetrics;
}

/** How often, and how long, a detected flush is polled until it reached every table. */
const CANARY_FLUSH_POLL_MS = 100;
const CANARY_FLUSH_TIMEOUT_MS = 5_000;

/** The iptables rules of one family. */
export class IptablesProxyBackend implements ProxyBackend {
  readonly family: IPFamily;
  #opts: IptablesBackendOptions;
  #ipt: Iptables;
  #clock: Clock;
  #metrics: IptablesMetrics | undefined;
  /** When stale chains were last looked for (throttled in large clusters). */
  #lastStaleChainScan = -Infinity;
  /** Large clusters: a background `iptables-save -t nat` is running. */
  #scanning = false;
  /** Large clusters: nat chains the last background scan found, for the next sync. */
  #scannedNatChains: string[] | undefined;
  /** The canary chains were created once (so a missing one afterwards means a flush). */
  #canaryCreated = false;
  /** Whether the last successful sync dropped comments (a large cluster). */
  #largeClusterMode = false;
  #lastRuleSet: RuleSet | undefined;
  /**
   * What the last successful restore wrote: the fingerprints of the fixed chains
   * (`fixedChainFingerprints`) and the line count of each service port's own chains; undefined
   * after a failure (the next sync is a full one).
   */
  #written:
    | { fixedChains: Map<string, string>; serviceLines: ReadonlyMap<string, number> }
    | undefined;

  /**
   * @param family the family this backend programs.
   * @param opts the iptables settings.
   * @param deps this family's iptables, clock, metrics.
   */
  constructor(family: IPFamily, opts: IptablesBackendOptions, deps: IptablesBackendDeps) {
    this.family = family;
    this.#opts = opts;
    this.#ipt = deps.iptables;
    this.#clock = deps.clock ?? realClock;
    this.#metrics = deps.metrics;
  }

  /** The rule set of the last successful sync (only with `keepLastRuleSet`). */
  get lastRuleSet(): RuleSet | undefined {
    return this.#lastRuleSet;
  }

  /** @inheritdoc */
  async sync(state: BackendSyncState): Promise<BackendSyncResult> {
    const full = state.full;
    log.v(2).info("Syncing iptables rules", { ipFamily: this.family, fullSync: full });
    const written = this.#written;
    // Until the restore succeeded, nothing is known about what the kernel holds.
    this.#written = undefined;
    let ruleSet: RuleSet;
    let fixedChains: Map<string, string>;
    try {
      const localhostNodePorts = this.#localhostNodePorts(state);
      if (full) await this.#ensureJumps(localhostNodePorts);
      ruleSet = buildRuleSet(
        { services: state.services, endpoints: state.endpoints },
        this.#ruleSetOptions(
          state,
          localhostNodePorts,
          await this.#existingNatChains(state),
          written?.serviceLines,
        ),
      );
      fixedChains = fixedChainFingerprints(ruleSet);
      // A partial sync leaves out the fixed chains whose lines the kernel already has (as the
      // last successful restore wrote them): on nft, rewriting a 10,000-rule KUBE-SERVICES costs
      // seconds. A full sync writes them all, as upstream.
      const omitChains = !full && written !== undefined
        ? unchangedFixedChains(fixedChains, written.fixedChains)
        : undefined;
      await this.#ipt.restore(restoreInputOf(ruleSet, omitChains ? { omitChains } : {}), {
        noflush: true,
      });
    } catch (err) {
      this.#logFailure(err, full);
      throw err;
    }
    this.#written = { fixedChains, serviceLines: ruleSet.serviceLines };
    this.#largeClusterMode = ruleSet.largeClusterMode;
    if (this.#opts.keepLastRuleSet) this.#lastRuleSet = ruleSet;
    const counts = ruleSet.counts;
    this.#metrics?.setIptablesRules(this.family, "filter", {
      total: counts.filter,
      last: counts.filter,
    });
    this.#metrics?.setIptablesRules(this.family, "nat", {
      total: counts.natTotal,
      last: counts.nat,
    });
    log.v(2).info("Restored iptables rules", {
      ipFamily: this.family,
      natRules: counts.nat,
      filterRules: counts.filter,
      deletedChains: ruleSet.deletedChains.length,
    });
    return { noLocalEndpoints: ruleSet.noLocalEndpoints };
  }

  #logFailure(err: unknown, full: boolean): void {
    if (err instanceof IptablesRestoreError) {
      // The failing line and the three lines on each side show what the kernel refused.
      log.error("Failed to execute iptables-restore", err, {
        ipFamily: this.family,
        fullSync: full,
        ...(err.line !== undefined ? { line: err.line } : {}),
        ...(err.context ? { rules: err.context } : {}),
      });
      this.#metrics?.incRestoreFailures(this.family, { partial: !full });
    } else {
      log.error("Failed to sync iptables rules", err, { ipFamily: this.family, fullSync: full });
    }
  }

  #ruleSetOptions(
    state: BackendSyncState,
    localhostNodePorts: boolean,
    existingNatChains: string[] | undefined,
    serviceLines: ReadonlyMap<string, number> | undefined,
  ): RuleSetOptions {
    const node = state.node;
    return {
      family: this.family,
      masqueradeMark: masqueradeMarkFor(this.#opts.masqueradeBit ?? 14),
      masqueradeAll: this.#opts.masqueradeAll ?? false,
      randomFully: this.#opts.randomFully ?? false,
      localDetector: node.localDetector,
      nodePortIPs: node.nodePortIPs,
      localhostNodePorts,
      nodeIP: node.nodeIP,
      nodeName: node.name,
      nodeLabels: node.labels,
      tcpBeLiberal: this.#opts.tcpBeLiberal ?? false,
      dnsIntercept: this.#opts.dnsIntercept,
      updatedServices: state.full ? undefined : state.updatedServices,
      writtenServiceLines: state.full ? undefined : serviceLines,
      existingNatChains,
      deferServiceRules: true,
    };
  }

  /** Localhost NodePorts: IPv4, on in the configuration, and allowed by nodePortAddresses. */
  #localhostNodePorts(state: BackendSyncState): boolean {
    if (this.family !== "IPv4" || !(this.#opts.localhostNodePorts ?? true)) return false;
    return allowsLocalhostNodePorts(state.node.nodePortAddresses);
  }

  async #ensureJumps(withFirewall: boolean): Promise<void> {
    for (const jump of iptablesJumpChains) {
      if (jump.kubeletFirewall && !withFirewall) continue;
      await this.#ipt.ensureChain(jump.table, jump.dstChain);
      await this.#ipt.ensureRule("prepend", jump.table, jump.srcChain, jumpRuleArgs(jump));
    }
    if (withFirewall) await this.#ipt.ensureChain("filter", KUBE_FIREWALL);
  }

  /**
   * The nat chains to look for stale service chains in, or undefined to skip that this sync.
   * iptables-save of a large nat table takes a while (3-6 s at 10,000 services on nft), and stale
   * chains are harmless (nothing jumps to them), so large clusters look for them at most once per
   * syncPeriod, in the background: the sync after the scan deletes them.
   */
  async #existingNatChains(state: BackendSyncState): Promise<string[] | undefined> {
    const now = this.#clock.now();
    if (!this.#largeClusterMode) {
      const chains = await this.#listNatChains();
      if (chains !== undefined) this.#lastStaleChainScan = now;
      return chains;
    }
    if (this.#scannedNatChains !== undefined) {
      const chains = this.#scannedNatChains;
      this.#scannedNatChains = undefined;
      return chains;
    }
    if (!this.#scanning && now - this.#lastStaleChainScan >= this.#opts.syncPeriodMs) {
      this.#scanning = true;
      this.#lastStaleChainScan = now;
      void this.#listNatChains().then((chains) => {
        this.#scanning = false;
        if (chains === undefined) return;
        this.#scannedNatChains = chains;
        state.requestSync();
      });
    }
    return undefined;
  }

  async #listNatChains(): Promise<string[] | undefined> {
    try {
      return await this.#ipt.chainNames("nat");
    } catch (err) {
      log.error("Failed to list nat chains, stale chains are not deleted this sync", err, {
        ipFamily: this.family,
      });
      return undefined;
    }
  }

  /**
   * Upstream's iptables `Monitor`: checks that the empty KUBE-PROXY-CANARY chain still exists in
   * the mangle table and creates the canaries where missing. When the mangle canary was missing
   * (something flushed the tables: a firewall reload, an operator), reports it so that the
   * proxier forces a full sync and our rules come back.
   *
   * @returns whether a flush was detected.
   */
  async checkFlushed(): Promise<boolean> {
    try {
      const present = await this.#ipt.chainExists("mangle", KUBE_PROXY_CANARY);
      // A reload flushes the tables one after the other: recreating the nat and filter canaries
      // before the flush reaches them would hide it (and our rules would stay lost), so wait for
      // them to go too, as upstream's Monitor does.
      if (!present && this.#canaryCreated) await this.#waitForFlush();
      for (const table of ["mangle", "nat", "filter"] as const) {
        await this.#ipt.ensureChain(table, KUBE_PROXY_CANARY);
      }
      if (present || !this.#canaryCreated) {
        this.#canaryCreated = true;
        return false;
      }
      log.info("iptables canary missing, tables were flushed: forcing a full sync", {
        ipFamily: this.family,
      });
      return true;
    } catch (err) {
      log.error("Failed to check the iptables canary chain", err, { ipFamily: this.family });
      return false;
    }
  }

  /**
   * Polls every 100 ms, for at most 5 s, until the nat and filter canaries are gone too
   * (upstream's `iptablesFlushPollTime` and `iptablesFlushTimeout`).
   */
  async #waitForFlush(): Promise<void> {
    const deadline = this.#clock.now() + CANARY_FLUSH_TIMEOUT_MS;
    while (true) {
      const nat = await this.#ipt.chainExists("nat", KUBE_PROXY_CANARY);
      const filter = await this.#ipt.chainExists("filter", KUBE_PROXY_CANARY);
      if (!nat && !filter) return;
      if (this.#clock.now() >= deadline) {
        log.info("Inconsistent iptables state detected", { ipFamily: this.family });
        return;
      }
      await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, CANARY_FLUSH_POLL_MS));
    }
  }
}

/**
 * One backend per family that has an {@linkcode Iptables}, IPv4 first.
 *
 * @param iptables the iptables of each usable family.
 * @param opts the iptables settings (shared by the families).
 * @param deps clock and metrics.
 * @returns the backends.
 */
export function createIptablesBackends(
  iptables: Partial<Record<IPFamily, Iptables>>,
  opts: IptablesBackendOptions,
  deps: Omit<IptablesBackendDeps, "iptables"> = {},
): IptablesProxyBackend[] {
  const out: IptablesProxyBackend[] = [];
  for (const family of ["IPv4", "IPv6"] as const) {
    const ipt = iptables[family];
    if (ipt !== undefined) {
      out.push(new IptablesProxyBackend(family, opts, { ...deps, iptables: ipt }));
    }
  }
  return out;
}
