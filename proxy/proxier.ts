/**
 * The iptables Proxier: receives Service, EndpointSlice and Node changes from the watch cache and
 * keeps the kernel's `filter` and `nat` tables in line with them, for each enabled IP family.
 *
 * Lifecycle of a change (each step names its file):
 * 1. a handler (`onServiceUpdate`, ...) records it in the family's change trackers
 *    (`service_change_tracker.ts`, `endpoints_change_tracker.ts`) and, once both Services and
 *    EndpointSlices have synced, asks the runner (`runner.ts`) for a sync; handlers never sync;
 * 2. the runner calls {@linkcode Proxier.syncProxyRules} at most once per `minSyncPeriod`,
 *    merging requests, at least once per hour, and again within `syncPeriod` after a failure;
 * 3. a sync applies the pending changes to the service-port and endpoints maps, builds the rule
 *    set (`iptables/rules.ts`, pure), renders it (`iptables/render.ts`) and feeds it to one
 *    `iptables-restore --noflush` per family; a full sync (first one, after any failure, hourly,
 *    after a Node topology change) also ensures the jumps from the built-in chains and rewrites
 *    every service chain, a partial sync only those of services that changed;
 * 4. after a successful restore: health (`healthz.ts`), service health checks (`healthcheck.ts`),
 *    metrics (`metrics.ts`, including the network programming latency of every EndpointSlice
 *    change the sync applied) and UDP conntrack cleanup (`conntrack.ts`).
 *
 * A failed sync never stops the proxy: it is logged with the failing line of input, counted, the
 * next sync is a full one, and the runner retries.
 *
 * @module
 */

import type { EndpointSlice, IPFamily, Node, Protocol, Service } from "../cache/objects.ts";
import type { EndpointSliceHandler, NodeHandler, ServiceHandler } from "../cache/handlers.ts";
import { log } from "../config/log.ts";
import {
  applyEndpointsChanges,
  EndpointsChangeTracker,
  type EndpointsUpdateResult,
} from "./endpoints_change_tracker.ts";
import {
  applyServiceChanges,
  ServiceChangeTracker,
  type ServiceUpdateResult,
} from "./service_change_tracker.ts";
import { BoundedFrequencyRunner, type Clock, realClock } from "./runner.ts";
import {
  allowsLocalhostNodePorts,
  canonicalIP,
  cidrContains,
  ipFamilyOf,
  parseCIDRSloppy,
} from "./net.ts";
import type { FlowDestinations } from "./conntrack.ts";
import { ZONE_LABEL } from "./topology.ts";
import type { EndpointsMap, ServicePortMap } from "./types.ts";
import {
  iptablesJumpChains,
  jumpRuleArgs,
  KUBE_FIREWALL,
  KUBE_PROXY_CANARY,
} from "./iptables/chains.ts";
import { type Iptables, IptablesRestoreError } from "./iptables/iptables.ts";
import {
  buildRuleSet,
  type DnsIntercept,
  type LocalDetector,
  masqueradeMarkFor,
  type RuleSet,
} from "./iptables/rules.ts";
import { fixedChainFingerprints, restoreInputOf, unchangedFixedChains } from "./iptables/render.ts";

/** How to tell local pod traffic, as `detectLocalMode` and its settings. */
export interface LocalDetectorConfig {
  readonly mode: "ClusterCIDR" | "NodeCIDR" | "BridgeInterface" | "InterfaceNamePrefix";
  /** ClusterCIDR: `clusterCIDR`/`detectLocal.clusterCIDRs`, at most one per family is used. */
  readonly clusterCIDRs?: readonly string[];
  /** BridgeInterface: `detectLocal.bridgeInterface`. */
  readonly bridgeInterface?: string;
  /** InterfaceNamePrefix: `detectLocal.interfaceNamePrefix`. */
  readonly interfaceNamePrefix?: string;
}

/** The proxier's configuration (built by `proxierOptionsFromConfig()` in `proxier_options.ts`). */
export interface ProxierOptions {
  /** This node's name (`hostnameOverride` or the hostname). */
  readonly nodeName: string;
  /** Families to program, each with its `Iptables` in the dependencies. */
  readonly families: readonly IPFamily[];
  /** This node's primary IP per family ("" or absent if unknown). */
  readonly nodeIPs?: Partial<Record<IPFamily, string>>;
  /** `iptables.masqueradeBit`, default 14. */
  readonly masqueradeBit?: number;
  /** `iptables.masqueradeAll`. */
  readonly masqueradeAll?: boolean;
  /** `iptables.syncPeriod`: retry interval after a failure. */
  readonly syncPeriodMs: number;
  /** `iptables.minSyncPeriod`. */
  readonly minSyncPeriodMs: number;
  /** Interval of forced full syncs (upstream: 1 hour). */
  readonly fullSyncPeriodMs?: number;
  readonly localDetector: LocalDetectorConfig;
  /** `nodePortAddresses` as CIDRs of any family; empty = every local address. */
  readonly nodePortAddresses?: readonly string[];
  /** `iptables.localhostNodePorts` (default true; effective only for IPv4 and loopback-allowing nodePortAddresses). */
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
   * Keep each family's last successfully restored rule set for {@linkcode Proxier.lastRuleSet}
   * (tests, debugging). Off by default: at 10,000 services it holds ~85 MB between syncs.
   */
  readonly keepLastRuleSet?: boolean;
}

/** The health server calls the proxier makes (`ProxierHealthServer`). */
export interface ProxierHealth {
  queuedUpdate(family: IPFamily): void;
  updated(family: IPFamily): void;
  syncNode?(node: Node | undefined): void;
}

/** The service health-check server calls the proxier makes (`ServiceHealthServer`). */
export interface ServiceHealthSync {
  syncServices(services: Map<string, number>): Promise<void>;
  syncEndpoints(endpoints: Map<string, number>): void;
}

/** The conntrack calls the proxier makes (`Conntrack`). */
export interface ConntrackCleaner {
  clearEntriesForIP(ip: string, protocol: Protocol): Promise<number>;
  clearEntriesForPort(port: number, family: IPFamily, protocol: Protocol): Promise<number>;
  clearEntriesForNAT(origin: string, dest: string, protocol: Protocol): Promise<number>;
  clearEntriesForPortNAT(dest: string, port: number, protocol: Protocol): Promise<number>;
  /** The original destinations of a table's flows (`Conntrack.listFlowDestinations`). */
  listFlowDestinations?(family: IPFamily, protocol: Protocol): Promise<FlowDestinations>;
}

/** The metrics the proxier records (a subset of `ProxyMetrics`). */
export interface ProxierMetrics {
  observeSyncDuration(family: IPFamily, seconds: number, opts: { full: boolean }): void;
  setLastSyncTimestamp(family: IPFamily, ms?: number): void;
  setLastQueuedTimestamp(family: IPFamily, ms?: number): void;
  setEndpointChangesPending(n: number): void;
  incEndpointChanges(n?: number): void;
  setServiceChangesPending(n: number): void;
  incServiceChanges(n?: number): void;
  setNoLocalEndpoints(family: IPFamily, policy: "internal" | "external", n: number): void;
  incRestoreFailures(family: IPFamily, opts: { partial: boolean }): void;
  setIptablesRules(
    family: IPFamily,
    table: "filter" | "nat",
    counts: { total: number; last: number },
  ): void;
  observeConntrackCleanup(family: IPFamily, seconds: number, deleted: number): void;
  /**
   * `kubeproxy_network_programming_duration_seconds`: one observation per applied
   * EndpointSlice change, from its `last-change-trigger-time` to the end of the sync.
   */
  observeNetworkProgrammingLatency?(family: IPFamily, seconds: number): void;
}

/** What schedules syncs: `BoundedFrequencyRunner` or a test double. */
export interface SyncRunner {
  run(): void;
  start(): void;
  stop(): void;
}

/** Everything the proxier talks to, injected. */
export interface ProxierDeps {
  /** One `Iptables` per enabled family. */
  readonly iptables: Partial<Record<IPFamily, Iptables>>;
  readonly clock?: Clock;
  /** Builds the sync runner; a `BoundedFrequencyRunner` by default. */
  readonly createRunner?: (
    fn: () => Promise<void>,
    opts: { minIntervalMs: number; maxIntervalMs: number; retryIntervalMs: number; clock: Clock },
  ) => SyncRunner;
  readonly conntrack?: ConntrackCleaner;
  readonly health?: ProxierHealth;
  readonly serviceHealthServer?: ServiceHealthSync;
  readonly metrics?: ProxierMetrics;
  /** The node's local addresses (for `nodePortAddresses`); Deno.networkInterfaces() by default. */
  readonly localAddresses?: () => Promise<readonly string[]>;
}

/** How many `conntrack` cleanup commands run at once after a sync. */
const CONNTRACK_PARALLELISM = 8;

/** How often, and how long, a detected flush is polled until it reached every table. */
const CANARY_FLUSH_POLL_MS = 100;
const CANARY_FLUSH_TIMEOUT_MS = 5_000;

/** Upstream's `FullSyncPeriod`. */
export const FULL_SYNC_PERIOD_MS = 3600_000;

interface ConntrackWork {
  deletedUDPClusterIPs: Set<string>;
  /** `[serviceIP, endpointIP]` pairs, and `[nodePort, endpointIP]` for NodePorts. */
  staleNAT: [string, string][];
  staleNodePortNAT: [number, string][];
  /** Service IPs and NodePorts of UDP ports that gained their first endpoint. */
  newIPs: Set<string>;
  newNodePorts: Set<number>;
}

function emptyConntrackWork(): ConntrackWork {
  return {
    deletedUDPClusterIPs: new Set(),
    staleNAT: [],
    staleNodePortNAT: [],
    newIPs: new Set(),
    newNodePorts: new Set(),
  };
}

/** Per-family state: trackers, applied maps, full-sync bookkeeping. */
class FamilyState {
  readonly family: IPFamily;
  readonly iptables: Iptables;
  readonly serviceChanges: ServiceChangeTracker;
  readonly endpointChanges: EndpointsChangeTracker;
  readonly services: ServicePortMap = new Map();
  readonly endpoints: EndpointsMap = new Map();
  needFullSync = true;
  lastFullSync = -Infinity;
  /** When stale chains were last looked for (throttled in large clusters). */
  lastStaleChainCleanup = -Infinity;
  /** Large clusters: a background `iptables-save -t nat` is running. */
  scanningNatChains = false;
  /** Large clusters: nat chains the last background scan found, for the next sync. */
  scannedNatChains: string[] | undefined;
  /** The canary chains were created once (so a missing one afterwards means a flush). */
  canaryCreated = false;
  /** Whether the last successful sync dropped comments (a large cluster). */
  largeClusterMode = false;
  /** Only with `keepLastRuleSet`. */
  lastRuleSet: RuleSet | undefined;
  /**
   * Fingerprints of the fixed chains (KUBE-SERVICES, KUBE-NODEPORTS, the filter chains, ...) as
   * the last successful restore wrote them (`fixedChainFingerprints`); undefined after a failure.
   */
  fixedChains: Map<string, string> | undefined;
  conntrack = emptyConntrackWork();
  /**
   * Upstream's `lastChangeTriggerTimes`: per service (`namespace/name`), the
   * `last-change-trigger-time` of each EndpointSlice change not yet applied by a successful sync.
   */
  lastChangeTriggerTimes = new Map<string, number[]>();

  constructor(family: IPFamily, iptables: Iptables, nodeName: string) {
    this.family = family;
    this.iptables = iptables;
    this.serviceChanges = new ServiceChangeTracker(family);
    this.endpointChanges = new EndpointsChangeTracker(family, nodeName);
  }
}

/** The iptables proxier for all enabled families. */
export class Proxier implements ServiceHandler, EndpointSliceHandler, NodeHandler {
  #opts: ProxierOptions;
  #deps: ProxierDeps;
  #clock: Clock;
  #families: FamilyState[] = [];
  #runner: SyncRunner;
  #servicesSynced = false;
  #endpointSlicesSynced = false;
  #node: Node | undefined;
  #started = false;
  /** Trigger times before this are not measured (they predate this process). */
  #trackerStartTime: number;
  #canaryTimer: number | undefined;

  /**
   * @param opts the configuration.
   * @param deps iptables per family, runner factory or clock, conntrack, health, metrics.
   * @throws {TypeError} When an enabled family has no `Iptables`.
   */
  constructor(opts: ProxierOptions, deps: ProxierDeps) {
    this.#opts = opts;
    this.#deps = deps;
    this.#clock = deps.clock ?? realClock;
    this.#trackerStartTime = this.#clock.now();
    for (const family of opts.families) {
      const ipt = deps.iptables[family];
      if (ipt === undefined) {
        throw new TypeError(`Cannot create proxier: no iptables for family ${family}`);
      }
      this.#families.push(new FamilyState(family, ipt, opts.nodeName));
    }
    const runnerOpts = {
      minIntervalMs: opts.minSyncPeriodMs,
      maxIntervalMs: Math.max(opts.fullSyncPeriodMs ?? FULL_SYNC_PERIOD_MS, opts.minSyncPeriodMs),
      retryIntervalMs: opts.syncPeriodMs,
      clock: this.#clock,
    };
    const fn = () => this.syncProxyRules();
    this.#runner = deps.createRunner?.(fn, runnerOpts) ??
      new BoundedFrequencyRunner("sync-runner", fn, runnerOpts);
  }

  /** Whether both Services and EndpointSlices have been received (syncs happen only then). */
  get initialized(): boolean {
    return this.#servicesSynced && this.#endpointSlicesSynced;
  }

  /**
   * The rule set of the last successful sync of a family (for tests and debugging): only with
   * the `keepLastRuleSet` option, undefined otherwise.
   */
  lastRuleSet(family: IPFamily): RuleSet | undefined {
    return this.#families.find((f) => f.family === family)?.lastRuleSet;
  }

  /**
   * Starts the sync loop (upstream's `SyncLoop`): registers each family with the health server
   * and starts the runner, which syncs when initialized and at least hourly.
   */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    // As upstream's SyncLoop: register each family with the health server (in case no sync
    // ever succeeds) and synthesize a "last queued" time while the informers sync.
    const now = this.#clock.now();
    for (const f of this.#families) {
      this.#deps.health?.updated(f.family);
      this.#deps.metrics?.setLastQueuedTimestamp(f.family, now);
    }
    this.#runner.start();
    if (this.initialized) this.#runner.run();
    void this.checkCanaries();
    this.#scheduleCanaryCheck();
  }

  /** Stops scheduling syncs (a sync in progress completes). */
  stop(): void {
    this.#runner.stop();
    if (this.#canaryTimer !== undefined) this.#clock.clearTimeout(this.#canaryTimer);
    this.#canaryTimer = undefined;
    this.#started = false;
  }

  /**
   * Upstream's iptables `Monitor`: every `syncPeriod`, check that the empty KUBE-PROXY-CANARY
   * chain still exists in the mangle table. If something flushed the tables (a firewall reload,
   * an operator), recreate the canaries and force a full sync so our rules come back.
   */
  #scheduleCanaryCheck(): void {
    if (!this.#started || this.#opts.syncPeriodMs <= 0) return;
    this.#canaryTimer = this.#clock.setTimeout(() => {
      this.#canaryTimer = undefined;
      this.checkCanaries().finally(() => this.#scheduleCanaryCheck());
    }, this.#opts.syncPeriodMs);
  }

  /**
   * Creates the canary chains where missing; when the mangle canary was missing (the tables were
   * flushed), forces a full sync. Called periodically after {@linkcode Proxier.start}; failures
   * are logged.
   *
   * @returns whether a flush was detected in any family.
   */
  async checkCanaries(): Promise<boolean> {
    let flushed = false;
    for (const f of this.#families) {
      try {
        const present = await f.iptables.chainExists("mangle", KUBE_PROXY_CANARY);
        // A reload flushes the tables one after the other: recreating the nat and filter canaries
        // before the flush reaches them would hide it (and our rules would stay lost), so wait
        // for them to go too, as upstream's Monitor does.
        if (!present && f.canaryCreated) await this.#waitForFlush(f);
        for (const table of ["mangle", "nat", "filter"] as const) {
          await f.iptables.ensureChain(table, KUBE_PROXY_CANARY);
        }
        if (present || !f.canaryCreated) {
          f.canaryCreated = true;
          continue;
        }
        log.info("iptables canary missing, tables were flushed: forcing a full sync", {
          ipFamily: f.family,
        });
        f.needFullSync = true;
        flushed = true;
      } catch (err) {
        log.error("Failed to check the iptables canary chain", err, { ipFamily: f.family });
      }
    }
    if (flushed && this.initialized) this.#runner.run();
    return flushed;
  }

  /**
   * Polls every 100 ms, for at most 5 s, until the nat and filter canaries are gone too (upstream's
   * `iptablesFlushPollTime` and `iptablesFlushTimeout`).
   */
  async #waitForFlush(f: FamilyState): Promise<void> {
    const deadline = this.#clock.now() + CANARY_FLUSH_TIMEOUT_MS;
    while (true) {
      const nat = await f.iptables.chainExists("nat", KUBE_PROXY_CANARY);
      const filter = await f.iptables.chainExists("filter", KUBE_PROXY_CANARY);
      if (!nat && !filter) return;
      if (this.#clock.now() >= deadline) {
        log.info("Inconsistent iptables state detected", { ipFamily: f.family });
        return;
      }
      await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, CANARY_FLUSH_POLL_MS));
    }
  }

  // ---- ServiceHandler ----

  /** @inheritdoc */
  onServiceAdd(service: Service): void {
    this.#onServiceChange(undefined, service);
  }

  /** @inheritdoc */
  onServiceUpdate(previous: Service, current: Service): void {
    this.#onServiceChange(previous, current);
  }

  /** @inheritdoc */
  onServiceDelete(service: Service): void {
    this.#onServiceChange(service, undefined);
  }

  /** @inheritdoc */
  onServicesSynced(): void {
    this.#servicesSynced = true;
    this.#requestSyncIfInitialized();
  }

  // ---- EndpointSliceHandler ----

  /** @inheritdoc */
  onEndpointSliceAdd(slice: EndpointSlice): void {
    this.#onSliceChange(undefined, slice);
  }

  /** @inheritdoc */
  onEndpointSliceUpdate(previous: EndpointSlice, current: EndpointSlice): void {
    this.#onSliceChange(previous, current);
  }

  /** @inheritdoc */
  onEndpointSliceDelete(slice: EndpointSlice): void {
    this.#onSliceChange(slice, undefined);
  }

  /** @inheritdoc */
  onEndpointSlicesSynced(): void {
    this.#endpointSlicesSynced = true;
    this.#requestSyncIfInitialized();
  }

  // ---- NodeHandler ----

  /** @inheritdoc */
  onNodeAdd(node: Node): void {
    this.#onNodeChange(node);
  }

  /** @inheritdoc */
  onNodeUpdate(_previous: Node, current: Node): void {
    this.#onNodeChange(current);
  }

  /** @inheritdoc */
  onNodeDelete(node: Node): void {
    if (node.name !== this.#opts.nodeName) return;
    // As upstream, forget the topology labels and rewrite every service (a partial sync would
    // leave the unchanged services categorized by the old zone). Keep the pod CIDRs: upstream's
    // NodeCIDR detector is fixed once made, and dropping it would write the changed services
    // without their masquerade rule.
    const old = this.#node;
    this.#node = old === undefined ? undefined : { ...old, labels: {} };
    this.#deps.health?.syncNode?.(undefined);
    for (const f of this.#families) f.needFullSync = true;
    this.#requestSyncIfInitialized();
  }

  /** @inheritdoc */
  onNodeSynced(): void {}

  #onServiceChange(previous: Service | undefined, current: Service | undefined): void {
    let pending = false;
    for (const f of this.#families) {
      if (f.serviceChanges.update(previous, current)) pending = true;
    }
    const m = this.#deps.metrics;
    if (m !== undefined) {
      m.incServiceChanges();
      m.setServiceChangesPending(Math.max(...this.#families.map((f) => f.serviceChanges.pending)));
    }
    if (pending) this.#requestSyncIfInitialized();
  }

  #onSliceChange(previous: EndpointSlice | undefined, current: EndpointSlice | undefined): void {
    let pending = false;
    for (const f of this.#families) {
      const changed = f.endpointChanges.update(previous, current);
      if (changed) pending = true;
      this.#recordTriggerTime(f, previous, current, changed);
    }
    const m = this.#deps.metrics;
    if (m !== undefined) {
      m.incEndpointChanges();
      m.setEndpointChangesPending(
        Math.max(...this.#families.map((f) => f.endpointChanges.pending)),
      );
    }
    if (pending) this.#requestSyncIfInitialized();
  }

  /**
   * Remembers when the change behind a slice event that left changes pending happened, as
   * upstream's `EndpointsChangeTracker` does: a deletion forgets the service's times (the annotation of a
   * deleted slice dates from its last update, not from the deletion); trigger times from before
   * this proxier started are ignored (they would measure the proxy's downtime, not the change's).
   */
  #recordTriggerTime(
    f: FamilyState,
    previous: EndpointSlice | undefined,
    current: EndpointSlice | undefined,
    changed: boolean,
  ): void {
    const slice = current ?? previous;
    if (slice === undefined || slice.addressType !== f.family || slice.serviceName === "") return;
    const key = `${slice.namespace}/${slice.serviceName}`;
    if (current === undefined) {
      f.lastChangeTriggerTimes.delete(key);
      return;
    }
    if (!changed) return;
    const t = current.lastChangeTriggerTime;
    if (t === undefined || t <= this.#trackerStartTime) return;
    // NOTE: the tracker says whether any change is pending, not whether this event changed
    // anything (upstream asks the slice cache). An unchanged trigger time is the same change seen
    // again (a relist after a watch reset): measuring it would report the time since then.
    if (previous?.lastChangeTriggerTime === t) return;
    const times = f.lastChangeTriggerTimes.get(key);
    if (times === undefined) f.lastChangeTriggerTimes.set(key, [t]);
    else times.push(t);
  }

  #onNodeChange(node: Node): void {
    if (node.name !== this.#opts.nodeName) return;
    const old = this.#node;
    this.#node = node;
    this.#deps.health?.syncNode?.(node);
    // Topology labels feed categorizeEndpoints and pod CIDRs the NodeCIDR detector: both change
    // every service's rules, so only a full sync can apply them.
    const zoneChanged = (old?.labels[ZONE_LABEL] ?? "") !== (node.labels[ZONE_LABEL] ?? "");
    const cidrsChanged = (old?.podCIDRs ?? []).join(",") !== node.podCIDRs.join(",");
    if (old === undefined || zoneChanged || cidrsChanged) {
      for (const f of this.#families) f.needFullSync = true;
      this.#requestSyncIfInitialized();
    }
  }

  #requestSyncIfInitialized(): void {
    if (!this.initialized) return;
    const now = this.#clock.now();
    for (const f of this.#families) {
      this.#deps.health?.queuedUpdate(f.family);
      this.#deps.metrics?.setLastQueuedTimestamp(f.family, now);
    }
    this.#runner.run();
  }

  /**
   * Syncs every family's rules with the tracked state. The runner calls this; tests may too.
   *
   * @throws {Error} When any family's sync failed (after trying all of them), so the runner
   *   retries; the failed family's next sync is a full one.
   */
  async syncProxyRules(): Promise<void> {
    if (!this.initialized) {
      log.v(2).info(
        "Not syncing iptables until Services and Endpoints have been received from master",
      );
      return;
    }
    let firstError: unknown;
    for (const f of this.#families) {
      try {
        await this.#syncFamily(f);
      } catch (err) {
        firstError ??= err;
      }
    }
    await this.#syncServiceHealth();
    if (firstError !== undefined) throw firstError;
  }

  async #syncFamily(f: FamilyState): Promise<void> {
    const start = this.#clock.now();
    const full = f.needFullSync || start - f.lastFullSync >= this.#fullSyncPeriod();
    // Below this point the trackers are drained: if anything fails, only a full sync can
    // recover the state needed, so assume failure until the restore succeeded.
    f.needFullSync = true;
    const svcResult = applyServiceChanges(f.services, f.serviceChanges.checkout());
    const epResult = applyEndpointsChanges(f.endpoints, f.endpointChanges.checkout());
    const triggerTimes = f.lastChangeTriggerTimes;
    f.lastChangeTriggerTimes = new Map();
    this.#recordConntrackWork(f, svcResult, epResult);
    log.v(2).info("Syncing iptables rules", { ipFamily: f.family, fullSync: full });
    let ruleSet: RuleSet;
    let fixedChains: Map<string, string>;
    try {
      if (full) await this.#ensureJumps(f);
      // iptables-save of a large nat table takes a while (3-6 s at 10,000 services on nft), and
      // stale chains are harmless (nothing jumps to them), so large clusters look for them at
      // most once per syncPeriod, in the background: the sync after the scan deletes them.
      let existingNatChains: string[] | undefined;
      if (!f.largeClusterMode) {
        existingNatChains = await this.#existingNatChains(f);
        if (existingNatChains !== undefined) f.lastStaleChainCleanup = start;
      } else if (f.scannedNatChains !== undefined) {
        existingNatChains = f.scannedNatChains;
        f.scannedNatChains = undefined;
      } else if (
        !f.scanningNatChains && start - f.lastStaleChainCleanup >= this.#opts.syncPeriodMs
      ) {
        this.#scanNatChains(f, start);
      }
      let updatedServices: Set<string> | undefined;
      if (!full) {
        updatedServices = new Set([...svcResult.updatedServices, ...epResult.updatedServices]);
      }
      ruleSet = buildRuleSet(
        { services: f.services, endpoints: f.endpoints },
        await this.#ruleSetOptions(f, updatedServices, existingNatChains),
      );
      fixedChains = fixedChainFingerprints(ruleSet);
      // A partial sync leaves out the fixed chains whose lines the kernel already has (as the
      // last successful restore wrote them): on nft, rewriting a 10,000-rule KUBE-SERVICES costs
      // seconds. A full sync writes them all, as upstream.
      const omitChains = !full && f.fixedChains !== undefined
        ? unchangedFixedChains(fixedChains, f.fixedChains)
        : undefined;
      await f.iptables.restore(restoreInputOf(ruleSet, omitChains ? { omitChains } : {}), {
        noflush: true,
      });
    } catch (err) {
      f.fixedChains = undefined;
      if (err instanceof IptablesRestoreError) {
        // The failing line and the three lines on each side show what the kernel refused.
        log.error("Failed to execute iptables-restore", err, {
          ipFamily: f.family,
          fullSync: full,
          ...(err.line !== undefined ? { line: err.line } : {}),
          ...(err.context ? { rules: err.context } : {}),
        });
        this.#deps.metrics?.incRestoreFailures(f.family, { partial: !full });
      } else {
        log.error("Failed to sync iptables rules", err, { ipFamily: f.family, fullSync: full });
      }
      // The retry (a full sync) applies these changes: measure them when it succeeds.
      for (const [key, times] of triggerTimes) {
        f.lastChangeTriggerTimes.set(key, [...times, ...(f.lastChangeTriggerTimes.get(key) ?? [])]);
      }
      this.#deps.metrics?.observeSyncDuration(
        f.family,
        (this.#clock.now() - start) / 1000,
        { full },
      );
      throw err;
    }
    f.needFullSync = false;
    if (full) f.lastFullSync = start;
    f.fixedChains = fixedChains;
    f.largeClusterMode = ruleSet.largeClusterMode;
    if (this.#opts.keepLastRuleSet) f.lastRuleSet = ruleSet;
    const end = this.#clock.now();
    const m = this.#deps.metrics;
    if (m !== undefined) {
      m.observeSyncDuration(f.family, (end - start) / 1000, { full });
      m.setLastSyncTimestamp(f.family, end);
      m.setIptablesRules(f.family, "filter", {
        total: ruleSet.counts.filter,
        last: ruleSet.counts.filter,
      });
      m.setIptablesRules(f.family, "nat", {
        total: ruleSet.counts.natTotal,
        last: ruleSet.counts.nat,
      });
      m.setNoLocalEndpoints(f.family, "internal", ruleSet.noLocalEndpoints.internal);
      m.setNoLocalEndpoints(f.family, "external", ruleSet.noLocalEndpoints.external);
      m.setServiceChangesPending(0);
      m.setEndpointChangesPending(0);
      for (const times of triggerTimes.values()) {
        for (const t of times) m.observeNetworkProgrammingLatency?.(f.family, (end - t) / 1000);
      }
    }
    this.#deps.health?.updated(f.family);
    log.v(2).info("SyncProxyRules complete", {
      ipFamily: f.family,
      elapsed: `${end - start}ms`,
      natRules: ruleSet.counts.nat,
      filterRules: ruleSet.counts.filter,
      deletedChains: ruleSet.deletedChains.length,
    });
    await this.#cleanConntrack(f);
  }

  #fullSyncPeriod(): number {
    return this.#opts.fullSyncPeriodMs ?? FULL_SYNC_PERIOD_MS;
  }

  #localhostNodePorts(family: IPFamily): boolean {
    if (family !== "IPv4" || !(this.#opts.localhostNodePorts ?? true)) return false;
    return allowsLocalhostNodePorts(this.#opts.nodePortAddresses ?? []);
  }

  /** nodePortAddresses of one family; empty means every address. */
  #nodePortCIDRs(family: IPFamily): string[] {
    const out: string[] = [];
    for (const raw of this.#opts.nodePortAddresses ?? []) {
      const cidr = parseCIDRSloppy(raw);
      if (cidr === undefined || cidr.family !== family) continue;
      if (cidr.prefix === 0) return [];
      out.push(raw.trim());
    }
    return out;
  }

  async #ensureJumps(f: FamilyState): Promise<void> {
    const withFirewall = this.#localhostNodePorts(f.family);
    for (const jump of iptablesJumpChains) {
      if (jump.kubeletFirewall && !withFirewall) continue;
      await f.iptables.ensureChain(jump.table, jump.dstChain);
      await f.iptables.ensureRule("prepend", jump.table, jump.srcChain, jumpRuleArgs(jump));
    }
    if (withFirewall) await f.iptables.ensureChain("filter", KUBE_FIREWALL);
  }

  /** Lists the nat chains without holding up the sync, then asks for a sync that uses them. */
  #scanNatChains(f: FamilyState, start: number): void {
    f.scanningNatChains = true;
    f.lastStaleChainCleanup = start;
    void this.#existingNatChains(f).then((chains) => {
      f.scanningNatChains = false;
      if (chains === undefined) return;
      f.scannedNatChains = chains;
      if (this.initialized) this.#runner.run();
    });
  }

  async #existingNatChains(f: FamilyState): Promise<string[] | undefined> {
    try {
      return await f.iptables.chainNames("nat");
    } catch (err) {
      log.error("Failed to list nat chains, stale chains are not deleted this sync", err, {
        ipFamily: f.family,
      });
      return undefined;
    }
  }

  async #ruleSetOptions(
    f: FamilyState,
    updatedServices: Set<string> | undefined,
    existingNatChains: string[] | undefined,
  ) {
    const family = f.family;
    const nodePortCIDRs = this.#nodePortCIDRs(family);
    let nodePortIPs: string[] | undefined;
    if (nodePortCIDRs.length > 0) {
      const local = await (this.#deps.localAddresses ?? defaultLocalAddresses)();
      // One address may sit on several interfaces; upstream's GetNodeIPs dedups them.
      const matching = new Set<string>();
      for (const ip of local) {
        const canonical = canonicalIP(ip);
        if (canonical === undefined || !nodePortCIDRs.some((c) => cidrContains(c, canonical))) {
          continue;
        }
        matching.add(canonical);
      }
      nodePortIPs = [...matching];
    }
    return {
      family,
      masqueradeMark: masqueradeMarkFor(this.#opts.masqueradeBit ?? 14),
      masqueradeAll: this.#opts.masqueradeAll ?? false,
      randomFully: this.#opts.randomFully ?? false,
      localDetector: this.#localDetector(family),
      nodePortIPs,
      localhostNodePorts: this.#localhostNodePorts(family),
      nodeIP: this.#opts.nodeIPs?.[family] ?? "",
      nodeName: this.#opts.nodeName,
      nodeLabels: this.#node?.labels ?? {},
      tcpBeLiberal: this.#opts.tcpBeLiberal ?? false,
      dnsIntercept: this.#opts.dnsIntercept,
      updatedServices,
      existingNatChains,
      deferServiceRules: true,
    };
  }

  #localDetector(family: IPFamily): LocalDetector {
    const d = this.#opts.localDetector;
    switch (d.mode) {
      case "ClusterCIDR":
      case "NodeCIDR": {
        const cidrs = d.mode === "ClusterCIDR" ? d.clusterCIDRs ?? [] : this.#node?.podCIDRs ?? [];
        const cidr = cidrs.find((c) => ipFamilyOf(c) === family);
        return cidr === undefined ? { mode: "None" } : { mode: d.mode, cidr };
      }
      case "BridgeInterface":
        return d.bridgeInterface
          ? { mode: "BridgeInterface", interfaceName: d.bridgeInterface }
          : { mode: "None" };
      case "InterfaceNamePrefix":
        return d.interfaceNamePrefix
          ? { mode: "InterfaceNamePrefix", interfacePrefix: d.interfaceNamePrefix }
          : { mode: "None" };
    }
  }

  /** Remembers the UDP conntrack entries a change made stale, to delete after a good sync. */
  #recordConntrackWork(
    f: FamilyState,
    svcResult: ServiceUpdateResult,
    epResult: EndpointsUpdateResult,
  ): void {
    const w = f.conntrack;
    for (const ip of svcResult.deletedUDPClusterIPs) w.deletedUDPClusterIPs.add(ip);
    for (const stale of epResult.staleEndpoints) {
      const svc = f.services.get(stale.servicePortKey);
      if (svc === undefined) continue; // the whole service went away: cleared by its cluster IP
      for (const ip of [svc.clusterIP, ...svc.externalIPs, ...svc.loadBalancerVIPs]) {
        w.staleNAT.push([ip, stale.endpoint.ip]);
      }
      if (svc.nodePort !== 0) w.staleNodePortNAT.push([svc.nodePort, stale.endpoint.ip]);
    }
    for (const key of epResult.newlyActiveUDPServices) {
      const svc = f.services.get(key);
      if (svc === undefined) continue;
      for (const ip of [svc.clusterIP, ...svc.externalIPs, ...svc.loadBalancerVIPs]) {
        w.newIPs.add(ip);
      }
      if (svc.nodePort !== 0) w.newNodePorts.add(svc.nodePort);
    }
  }

  /**
   * Deletes the conntrack entries that would keep UDP clients talking to endpoints that are gone
   * (or to the REJECT of a service that had none), as upstream does after each sync: UDP has no
   * connection end, so such entries would otherwise live on as long as traffic flows.
   */
  async #cleanConntrack(f: FamilyState): Promise<void> {
    const ct = this.#deps.conntrack;
    const w = f.conntrack;
    f.conntrack = emptyConntrackWork();
    if (ct === undefined) return;
    // Each job names the original destination IP or port its delete matches on.
    const all: { ip?: string; port?: number; run: () => Promise<number> }[] = [];
    for (const ip of w.deletedUDPClusterIPs) {
      all.push({ ip, run: () => ct.clearEntriesForIP(ip, "UDP") });
    }
    for (const ip of w.newIPs) all.push({ ip, run: () => ct.clearEntriesForIP(ip, "UDP") });
    for (const port of w.newNodePorts) {
      all.push({ port, run: () => ct.clearEntriesForPort(port, f.family, "UDP") });
    }
    for (const [origin, dest] of w.staleNAT) {
      all.push({ ip: origin, run: () => ct.clearEntriesForNAT(origin, dest, "UDP") });
    }
    for (const [port, dest] of w.staleNodePortNAT) {
      all.push({ port, run: () => ct.clearEntriesForPortNAT(dest, port, "UDP") });
    }
    if (all.length === 0) return;
    const start = this.#clock.now();
    let selected = all;
    if (all.length > CONNTRACK_PARALLELISM && ct.listFlowDestinations !== undefined) {
      // Many deletes (a first sync has one per UDP service): list the table once and run only
      // those that can match a flow. Flows created after the listing went through the new rules.
      try {
        const flows = await ct.listFlowDestinations(f.family, "UDP");
        selected = all.filter((j) =>
          j.ip !== undefined ? flows.ips.has(canonicalIP(j.ip) ?? j.ip) : flows.ports.has(j.port!)
        );
      } catch (err) {
        log.error("Failed to list UDP conntrack entries, deleting without a listing", err, {
          ipFamily: f.family,
        });
      }
    }
    const jobs = selected.map((j) => j.run);
    let deleted = 0;
    // Each job is one `conntrack` process: a first sync of 10,000 services has hundreds of newly
    // active UDP services, which one at a time would hold up the next sync for seconds.
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        try {
          const n = await job(); // not `deleted += await job()`: that reads `deleted` first
          deleted += n;
        } catch (err) {
          log.error("Failed to delete stale UDP conntrack entries", err, { ipFamily: f.family });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONNTRACK_PARALLELISM, jobs.length) }, worker));
    this.#deps.metrics?.observeConntrackCleanup(
      f.family,
      (this.#clock.now() - start) / 1000,
      deleted,
    );
  }

  /**
   * Health-check node ports of services with externalTrafficPolicy Local, and their number of
   * ready local endpoints (the larger count over families, so dual-stack pods count once).
   */
  async #syncServiceHealth(): Promise<void> {
    const server = this.#deps.serviceHealthServer;
    if (server === undefined) return;
    const ports = new Map<string, number>();
    const local = new Map<string, number>();
    for (const f of this.#families) {
      for (const svc of f.services.values()) {
        if (svc.healthCheckNodePort !== 0) ports.set(svc.serviceKey, svc.healthCheckNodePort);
      }
      const perService = new Map<string, Set<string>>();
      for (const [key, eps] of f.endpoints) {
        const svc = f.services.get(key);
        if (svc === undefined) continue;
        for (const ep of eps) {
          if (!ep.isLocal || !ep.ready) continue;
          let set = perService.get(svc.serviceKey);
          if (set === undefined) perService.set(svc.serviceKey, set = new Set());
          set.add(ep.ip);
        }
      }
      for (const [key, set] of perService) local.set(key, Math.max(local.get(key) ?? 0, set.size));
    }
    try {
      await server.syncServices(ports);
      server.syncEndpoints(local);
    } catch (err) {
      log.error("Failed to sync service health checks", err);
    }
  }
}

function defaultLocalAddresses(): Promise<readonly string[]> {
  try {
    return Promise.resolve(Deno.networkInterfaces().map((i) => i.address));
  } catch (err) {
    log.error("Failed to list local addresses for nodePortAddresses", err);
    return Promise.resolve([]);
  }
}
