/**
 * `NftablesBackend`: one IP family's {@linkcode ProxyBackend} for nftables mode. Each sync builds
 * one {@linkcode Transaction} and applies it with one `nft -f -`:
 *
 * - full sync (the first, after a failure or a flush, when the node's settings or the service
 *   CIDRs change, and whenever the proxier asks): `add table` + `delete table` + `add table` and
 *   the whole table, so the kernel swaps the old table for the new one atomically and nothing
 *   stale survives; the live ClientIP affinity entries of the old table (read with one
 *   `nft list sets` before) are re-added, with the time they have left, to the new table's
 *   affinity sets of the same name and timeout;
 * - partial sync: only the chains and elements of the Services that changed; chains a service
 *   no longer uses are flushed now and deleted in a separate transaction at least one second
 *   later (on kernels before 6.2 a chain is still referenced for a moment after the map element
 *   pointing to it is deleted), as upstream does.
 *
 * @module
 */

import type { IPFamily } from "../../cache/objects.ts";
import { log } from "../../config/log.ts";
import type {
  BackendSyncResult,
  BackendSyncState,
  DnsIntercept,
  LocalDetector,
  NodeContext,
  ProxyBackend,
} from "../backend.ts";
import { isLoopback } from "../net.ts";
import { type PlanContext, planServicePort } from "../service_plan.ts";
import type { EndpointInfo } from "../types.ts";
import { ElementBook } from "./element_book.ts";
import { parseSetsListing } from "./listing.ts";
import { CHAINS, SETS } from "./names.ts";
import type { Nft } from "./nft.ts";
import { NftError } from "./nft.ts";
import {
  type AffinitySet,
  detectorMatches,
  type Element,
  familyWords,
  servicePortObjects,
  type StaticOptions,
  writeStaticRules,
} from "./rules.ts";
import type { SetState } from "./ruleset.ts";
import { type NftFamily, Transaction } from "./transaction.ts";

/** The nftables-mode metrics (`kubeproxy_sync_proxy_rules_nftables_*`, in `ProxyMetrics`). */
export interface NftablesMetrics {
  /** Counts a failed main transaction. */
  incNftablesSyncFailures(family: IPFamily): void;
  /** Counts a failed stale-chain deletion. */
  incNftablesCleanupFailures(family: IPFamily): void;
}

/** Settings of one family's backend. */
export interface NftablesBackendOptions {
  readonly family: IPFamily;
  readonly nft: Nft;
  /** `nftables.masqueradeBit`. */
  readonly masqueradeBit: number;
  /** `nftables.masqueradeAll`. */
  readonly masqueradeAll: boolean;
  readonly dnsIntercept?: DnsIntercept;
  readonly metrics?: NftablesMetrics;
  /** Milliseconds now (tests inject a clock). */
  readonly now?: () => number;
  /** Keep the text of the last transaction applied (`lastTransaction`; tests, debugging). */
  readonly keepLastTransaction?: boolean;
}

/** What one service port owns in the kernel, to undo it later. */
interface ServicePortRecord {
  readonly serviceKey: string;
  readonly chains: readonly string[];
  readonly affinitySets: readonly AffinitySet[];
  readonly elements: readonly Element[];
  readonly noLocal: { readonly internal: boolean; readonly external: boolean };
}

/** What one sync is building. */
interface SyncPass {
  readonly tx: Transaction;
  readonly full: boolean;
  readonly ctx: PlanContext;
  readonly ruleOpts: { readonly family: IPFamily; readonly localDetector: LocalDetector };
  /** Chains the written service ports use. */
  readonly activeChains: Set<string>;
  /** Chains service ports stopped using (flushed now, deleted later unless active again). */
  readonly unusedChains: string[];
  /** Affinity sets service ports stopped using (deleted now, after their chains' flush). */
  readonly unusedSets: AffinitySet[];
  /** On a full sync, the old table's affinity sets to carry over; undefined otherwise. */
  readonly live: LiveAffinity | undefined;
}

/** The kernel's sets as read before a full sync, and when. */
interface LiveAffinity {
  readonly sets: ReadonlyMap<string, SetState>;
  /** Milliseconds (the backend's clock) when they were read. */
  readonly readAt: number;
}

/** How long a flushed chain waits before it is deleted. */
const STALE_CHAIN_DELAY_MS = 1000;

const EMPTY: readonly EndpointInfo[] = [];

/**
 * One family's nftables backend.
 *
 * @example
 * ```ts
 * const backend = new NftablesBackend({ family: "IPv4", nft, masqueradeBit: 14, masqueradeAll: false });
 * await backend.sync(state);
 * ```
 */
export class NftablesBackend implements ProxyBackend {
  /** The backend's IP family. */
  readonly family: IPFamily;
  readonly #opts: NftablesBackendOptions;
  readonly #nftFamily: NftFamily;
  readonly #now: () => number;
  readonly #book = new ElementBook();
  readonly #records = new Map<string, ServicePortRecord>();
  /** Flushed chains waiting for deletion, with the time they went stale. */
  readonly #stale = new Map<string, number>();
  #serviceCIDRs: readonly string[] | undefined;
  /** The settings the last full sync was built with; a change forces a full sync. */
  #builtWith = "";
  #needFull = true;
  #noLocal = { internal: 0, external: 0 };
  #loggedLoopback = false;
  #lastTransaction = "";
  /** The proxier's sync request, from the last sync (for changes that come from elsewhere). */
  #requestSync: (() => void) | undefined;

  /** @param opts the family's settings. */
  constructor(opts: NftablesBackendOptions) {
    this.#opts = opts;
    this.family = opts.family;
    this.#nftFamily = opts.family === "IPv6" ? "ip6" : "ip";
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Sets the cluster's service CIDRs (from ServiceCIDR objects, any family); undefined when
   * unknown. The next sync is a full one when they change.
   *
   * @param cidrs the CIDRs, or undefined.
   */
  setServiceCIDRs(cidrs: readonly string[] | undefined): void {
    const v6 = this.family === "IPv6";
    const mine = cidrs?.filter((c) => c.includes(":") === v6);
    // No CIDR of this family is the same as unknown: no drop rule either way.
    this.#serviceCIDRs = mine === undefined || mine.length === 0 ? undefined : mine;
    this.#requestSync?.();
  }

  /** The text of the last transaction applied, with `keepLastTransaction` ("" otherwise). */
  get lastTransaction(): string {
    return this.#lastTransaction;
  }

  /** Chains waiting to be deleted. */
  get staleChains(): readonly string[] {
    return [...this.#stale.keys()];
  }

  /** {@inheritDoc ProxyBackend.sync} */
  async sync(state: BackendSyncState): Promise<BackendSyncResult> {
    const start = this.#now();
    this.#requestSync = state.requestSync;
    if (!await this.#deleteStaleChains(start)) this.#needFull = true;
    const staticOpts = this.#staticOptions(state.node);
    const builtWith = JSON.stringify([staticOpts, state.node.localDetector, state.node.nodeIP]);
    const full = state.full || this.#needFull || builtWith !== this.#builtWith;
    const tx = new Transaction(this.#nftFamily);
    if (full) {
      // Swapping the whole table in one transaction: packets see the old table or the new one.
      tx.addTable().deleteTable().addTable();
      writeStaticRules(tx, staticOpts);
      this.#book.reset();
      this.#records.clear();
      this.#stale.clear();
      this.#noLocal = { internal: 0, external: 0 };
    }
    const pass: SyncPass = {
      tx,
      full,
      ctx: {
        nodeName: state.node.name,
        nodeLabels: state.node.labels,
        nodeIP: state.node.nodeIP,
        hasLocalDetector: detectorMatches(state.node.localDetector, familyWords(this.family)) !==
          undefined,
        masqueradeAll: this.#opts.masqueradeAll,
      },
      ruleOpts: { family: this.family, localDetector: state.node.localDetector },
      activeChains: new Set(),
      unusedChains: [],
      unusedSets: [],
      live: full && hasAffinity(state) ? await this.#readLiveSets() : undefined,
    };
    // Services that changed (all of them on a full sync), in key order.
    const keys: string[] = [];
    for (const [key, sp] of state.services) {
      if (full || state.updatedServices.has(sp.serviceKey)) keys.push(key);
    }
    keys.sort();
    for (const key of keys) {
      if (!this.#writeServicePort(pass, key, state)) {
        // An affinity set's timeout cannot change in place: rebuild the table.
        return this.sync({ ...state, full: true });
      }
    }
    if (!full) {
      // Service ports that are gone.
      for (const [key, rec] of this.#records) {
        if (state.updatedServices.has(rec.serviceKey) && !state.services.has(key)) {
          this.#forget(pass, key, rec, []);
          this.#records.delete(key);
        }
      }
    }
    this.#book.writeChanges(tx);
    for (const chain of pass.unusedChains) {
      if (pass.activeChains.has(chain)) continue;
      tx.flushChain(chain);
      this.#stale.set(chain, start);
    }
    for (const chain of pass.activeChains) this.#stale.delete(chain);
    for (const set of pass.unusedSets) tx.deleteSet(set.name, false);

    try {
      await this.#opts.nft.run(tx);
    } catch (err) {
      this.#failed(err, full, tx);
      throw err;
    }
    if (this.#opts.keepLastTransaction) this.#lastTransaction = tx.render();
    if (full) this.#builtWith = builtWith;
    this.#needFull = false;
    if (this.#stale.size > 0) {
      const timer = setTimeout(state.requestSync, STALE_CHAIN_DELAY_MS + 10);
      Deno.unrefTimer(timer);
    }
    log.v(2).info("SyncProxyRules complete", {
      ipFamily: this.family,
      fullSync: full,
      operations: tx.size,
      elapsed: `${this.#now() - start}ms`,
    });
    return { noLocalEndpoints: { ...this.#noLocal } };
  }

  /** {@inheritDoc ProxyBackend.checkFlushed} */
  async checkFlushed(): Promise<boolean> {
    if (this.#builtWith === "") return false;
    try {
      const listing = await this.#opts.nft.listChain(this.#nftFamily, CHAINS.services);
      const flushed = listing === undefined || !listing.includes(`vmap @${SETS.serviceIPs}`);
      if (flushed) {
        log.info("The kube-proxy nftables table was deleted or flushed; rebuilding it", {
          ipFamily: this.family,
        });
        this.#needFull = true;
      }
      return flushed;
    } catch (err) {
      log.error("Cannot check the kube-proxy nftables table", err, { ipFamily: this.family });
      return false;
    }
  }

  /**
   * Writes one service port's chains, affinity sets and elements into the pass's transaction
   * and records what it owns; false when an affinity timeout changed (only a full sync can).
   */
  #writeServicePort(pass: SyncPass, key: string, state: BackendSyncState): boolean {
    const sp = state.services.get(key)!;
    const plan = planServicePort(sp, state.endpoints.get(key) ?? EMPTY, pass.ctx);
    const objs = servicePortObjects(plan, pass.ruleOpts);
    const old = this.#records.get(key);
    if (!pass.full && old !== undefined && !sameTimeouts(old.affinitySets, objs.affinitySets)) {
      return false;
    }
    const tx = pass.tx;
    for (const set of objs.affinitySets) {
      tx.addSet({
        name: set.name,
        type: familyWords(this.family).addr,
        flags: ["dynamic", "timeout"],
        timeoutSeconds: set.timeoutSeconds,
      });
      if (pass.live !== undefined) carryAffinity(tx, pass.live, set, this.#now());
    }
    // Every chain exists before any rule jumps to it.
    for (const [chain] of objs.chains) {
      tx.addChain(chain);
      pass.activeChains.add(chain);
    }
    for (const [chain, rules] of objs.chains) {
      if (!pass.full) tx.flushChain(chain);
      for (const rule of rules) tx.addRule(chain, rule);
    }
    this.#forget(pass, key, old, objs.affinitySets);
    for (const e of objs.elements) this.#book.add(key, e);
    const noLocal = plan.noLocalEndpoints;
    this.#records.set(key, {
      serviceKey: sp.serviceKey,
      chains: objs.chains.map(([c]) => c),
      affinitySets: objs.affinitySets,
      elements: objs.elements,
      noLocal,
    });
    if (noLocal.internal) this.#noLocal.internal++;
    if (noLocal.external) this.#noLocal.external++;
    return true;
  }

  /** Undoes what `old` owned and the service port no longer uses (chains, elements, sets). */
  #forget(
    pass: SyncPass,
    key: string,
    old: ServicePortRecord | undefined,
    nextSets: readonly AffinitySet[],
  ): void {
    if (old === undefined) return;
    for (const e of old.elements) this.#book.remove(key, e);
    for (const c of old.chains) if (!pass.activeChains.has(c)) pass.unusedChains.push(c);
    for (const s of old.affinitySets) {
      if (!nextSets.some((n) => n.name === s.name)) pass.unusedSets.push(s);
    }
    if (old.noLocal.internal) this.#noLocal.internal--;
    if (old.noLocal.external) this.#noLocal.external--;
  }

  /**
   * The kernel's sets of this family's table (one `nft list sets`), before a full sync replaces
   * it; undefined (affinity entries start over) when they cannot be read.
   */
  async #readLiveSets(): Promise<LiveAffinity | undefined> {
    try {
      const listing = await this.#opts.nft.listSets(this.#nftFamily);
      return { sets: parseSetsListing(listing, this.#nftFamily).sets, readAt: this.#now() };
    } catch (err) {
      log.error("Cannot read the ClientIP affinity entries; they start over", err, {
        ipFamily: this.family,
      });
      return undefined;
    }
  }

  /** Deletes chains stale for long enough, in their own transaction; false when that failed. */
  async #deleteStaleChains(now: number): Promise<boolean> {
    const due = [...this.#stale].filter(([, t]) => now - t >= STALE_CHAIN_DELAY_MS).map(([c]) => c)
      .sort();
    if (due.length === 0) return true;
    const tx = new Transaction(this.#nftFamily);
    for (const c of due) tx.deleteChain(c);
    try {
      await this.#opts.nft.run(tx);
      for (const c of due) this.#stale.delete(c);
      log.v(2).info("Deleting stale nftables chains", {
        ipFamily: this.family,
        numChains: due.length,
      });
      return true;
    } catch (err) {
      this.#opts.metrics?.incNftablesCleanupFailures(this.family);
      this.#stale.clear();
      log.error("Cannot delete stale nftables chains", err, this.#errorFields(err));
      return false;
    }
  }

  #failed(err: unknown, full: boolean, tx: Transaction): void {
    this.#needFull = true;
    this.#stale.clear();
    this.#opts.metrics?.incNftablesSyncFailures(this.family);
    log.error("nftables sync failed", err, { ...this.#errorFields(err), fullSync: full });
    log.v(4).info("Failed nftables transaction", { transaction: tx.render() });
  }

  #errorFields(err: unknown): Record<string, unknown> {
    return err instanceof NftError && err.line > 0
      ? { ipFamily: this.family, line: err.line, context: err.context }
      : { ipFamily: this.family };
  }

  /** The skeleton's settings, with nftables mode's NodePort addresses. */
  #staticOptions(node: NodeContext): StaticOptions {
    return {
      family: this.family,
      masqueradeAll: this.#opts.masqueradeAll,
      localDetector: node.localDetector,
      masqueradeBit: this.#opts.masqueradeBit,
      nodePortIPs: this.#nodePortIPs(node),
      serviceCIDRs: this.#serviceCIDRs,
      dnsIntercept: this.#opts.dnsIntercept,
    };
  }

  /**
   * NodePort addresses as upstream's nftables mode: `nodePortAddresses` when set, else the
   * node's primary IP (every local address when it is unknown); loopback never (no localhost
   * NodePorts in this mode).
   */
  #nodePortIPs(node: NodeContext): readonly string[] | undefined {
    const ips = node.nodePortIPs ?? (node.nodeIP === "" ? undefined : [node.nodeIP]);
    if (ips === undefined) return undefined;
    const kept = ips.filter((ip) => !isLoopback(ip));
    if (kept.length < ips.length && !this.#loggedLoopback) {
      this.#loggedLoopback = true;
      log.error(
        "--nodeport-addresses includes localhost but localhost NodePorts are not supported",
        undefined,
        { ipFamily: this.family },
      );
    }
    return kept;
  }
}

function hasAffinity(state: BackendSyncState): boolean {
  for (const sp of state.services.values()) if (sp.stickyMaxAgeSeconds > 0) return true;
  return false;
}

/**
 * Re-adds the live entries of the old table's set of the same name, when its timeout is the
 * same, with the time they have left less the time since they were read.
 */
function carryAffinity(tx: Transaction, live: LiveAffinity, set: AffinitySet, now: number): void {
  const old = live.sets.get(set.name);
  if (old === undefined || old.timeoutSeconds !== set.timeoutSeconds) return;
  const spent = Math.ceil((now - live.readAt) / 1000);
  for (const [key, e] of old.elements) {
    const left = Math.min((e.expiresSeconds ?? 0) - spent, set.timeoutSeconds);
    if (left >= 1) tx.addTimedElement(set.name, key, set.timeoutSeconds, left);
  }
}

function sameTimeouts(a: readonly AffinitySet[], b: readonly AffinitySet[]): boolean {
  const t = new Map(a.map((s) => [s.name, s.timeoutSeconds]));
  return b.every((s) => !t.has(s.name) || t.get(s.name) === s.timeoutSeconds);
}
