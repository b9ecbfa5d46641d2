/**
 * The backend-neutral Proxier: receives Service, EndpointSlice and Node changes from the watch
 * cache and keeps each enabled IP family's rules in line with them through that family's
 * {@linkcode ProxyBackend} (`backend.ts`; the iptables one is `iptables/backend.ts`).
 *
 * Lifecycle of a change (each step names its file; see README.md):
 * 1. a handler (`onServiceUpdate`, ...) records it in the family's change trackers
 *    (`service_change_tracker.ts`, `endpoints_change_tracker.ts`) and, once both Services and
 *    EndpointSlices have synced, asks the runner (`runner.ts`) for a sync; handlers never sync.
 *    Node events update this node's labels, pod CIDRs and addresses (`node_addresses.ts`);
 * 2. the runner calls {@linkcode Proxier.syncProxyRules} at most once per `minSyncPeriod`,
 *    merging requests, at least once per hour, and again within `syncPeriod` after a failure;
 * 3. a sync applies the pending changes to the service-port and endpoints maps and hands them,
 *    with this node's context, to the family's backend (`ProxyBackend.sync`), which decides each
 *    service port's policy with `service_plan.ts` and programs the kernel; a full sync (first
 *    one, after any failure or flush, hourly, after a Node change that alters rules) rewrites
 *    everything, a partial sync only the services that changed;
 * 4. after a successful sync: health (`healthz.ts`), service health checks (`healthcheck.ts`),
 *    metrics (`metrics.ts`, including the network programming latency of every EndpointSlice
 *    change the sync applied) and UDP conntrack cleanup (`conntrack.ts`);
 * 5. every `syncPeriod`, each backend is asked whether our rules were flushed
 *    (`ProxyBackend.checkFlushed`); if so, that family's next sync is a full one.
 *
 * A failed sync never stops the proxy: the backend logs it, the next sync is a full one, and the
 * runner retries.
 *
 * @module
 */

import type { EndpointSlice, IPFamily, Node, Protocol, Service } from "../cache/objects.ts";
import type { EndpointSliceHandler, NodeHandler, ServiceHandler } from "../cache/handlers.ts";
import { type Clock, realClock } from "../config/clock.ts";
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
import { BoundedFrequencyRunner } from "./runner.ts";
import { canonicalIP, cidrContains, cidrFamily, ipFamilyOf, parseCIDRSloppy } from "./net.ts";
import type { FlowDestinations } from "./conntrack.ts";
import { ZONE_LABEL } from "./topology.ts";
import type { EndpointsMap, ServicePortMap } from "./types.ts";
import type { LocalDetector, NodeContext, ProxyBackend } from "./backend.ts";
import { type NodeAddresses, nodeAddressesOf, sameNodeAddresses } from "./node_addresses.ts";

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
  /** The mode's `syncPeriod`: retry interval after a failure, and of the flush checks. */
  readonly syncPeriodMs: number;
  /** The mode's `minSyncPeriod`. */
  readonly minSyncPeriodMs: number;
  /** Interval of forced full syncs (upstream: 1 hour). */
  readonly fullSyncPeriodMs?: number;
  readonly localDetector: LocalDetectorConfig;
  /** `bindAddress`: when it is a specific IP, it is this node's IP of its family. */
  readonly bindAddress?: string;
  /**
   * `nodePortAddresses` as configured: CIDRs of any family, or `primary` (the node IPs, followed
   * from the Node object); empty = every local address.
   */
  readonly nodePortAddresses?: readonly string[];
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

/** The backend-neutral metrics the proxier records (a subset of `ProxyMetrics`). */
export interface ProxierMetrics {
  observeSyncDuration(family: IPFamily, seconds: number, opts: { full: boolean }): void;
  setLastSyncTimestamp(family: IPFamily, ms?: number): void;
  setLastQueuedTimestamp(family: IPFamily, ms?: number): void;
  setEndpointChangesPending(n: number): void;
  incEndpointChanges(n?: number): void;
  setServiceChangesPending(n: number): void;
  incServiceChanges(n?: number): void;
  setNoLocalEndpoints(family: IPFamily, policy: "internal" | "external", n: number): void;
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
  /** One backend per enabled family (`proxy/backends.ts` builds them from the mode). */
  readonly backends: readonly ProxyBackend[];
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

/** Per-family state: backend, trackers, applied maps, full-sync bookkeeping. */
class FamilyState {
  readonly family: IPFamily;
  readonly backend: ProxyBackend;
  readonly serviceChanges: ServiceChangeTracker;
  readonly endpointChanges: EndpointsChangeTracker;
  readonly services: ServicePortMap = new Map();
  readonly endpoints: EndpointsMap = new Map();
  needFullSync = true;
  lastFullSync = -Infinity;
  conntrack = emptyConntrackWork();
  /**
   * Upstream's `lastChangeTriggerTimes`: per service (`namespace/name`), the
   * `last-change-trigger-time` of each EndpointSlice change not yet applied by a successful sync.
   */
  lastChangeTriggerTimes = new Map<string, number[]>();

  constructor(backend: ProxyBackend, nodeName: string) {
    this.family = backend.family;
    this.backend = backend;
    this.serviceChanges = new ServiceChangeTracker(backend.family);
    this.endpointChanges = new EndpointsChangeTracker(backend.family, nodeName);
  }
}

/** The proxier for all enabled families, each programmed by its backend. */
export class Proxier implements ServiceHandler, EndpointSliceHandler, NodeHandler {
  #opts: ProxierOptions;
  #deps: ProxierDeps;
  #clock: Clock;
  #families: FamilyState[] = [];
  #runner: SyncRunner;
  #servicesSynced = false;
  #endpointSlicesSynced = false;
  #node: Node | undefined;
  /** This node's IPs and resolved `nodePortAddresses`, followed from the Node object. */
  #addresses: NodeAddresses;
  #started = false;
  /** Trigger times before this are not measured (they predate this process). */
  #trackerStartTime: number;
  #flushCheckTimer: number | undefined;

  /**
   * @param opts the configuration.
   * @param deps backends, runner factory or clock, conntrack, health, metrics.
   * @throws {TypeError} When two backends are for the same family, or there is none.
   */
  constructor(opts: ProxierOptions, deps: ProxierDeps) {
    this.#opts = opts;
    this.#deps = deps;
    this.#clock = deps.clock ?? realClock;
    this.#trackerStartTime = this.#clock.now();
    this.#addresses = nodeAddressesOf(opts, undefined);
    if (deps.backends.length === 0) throw new TypeError("Cannot create proxier: no backend");
    for (const backend of deps.backends) {
      if (this.#families.some((f) => f.family === backend.family)) {
        throw new TypeError(`Cannot create proxier: two backends for family ${backend.family}`);
      }
      this.#families.push(new FamilyState(backend, opts.nodeName));
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
   * Starts the sync loop (upstream's `SyncLoop`): registers each family with the health server,
   * starts the runner, which syncs when initialized and at least hourly, and the flush checks.
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
    void this.checkFlushed();
    this.#scheduleFlushCheck();
  }

  /** Stops scheduling syncs (a sync in progress completes). */
  stop(): void {
    this.#runner.stop();
    if (this.#flushCheckTimer !== undefined) this.#clock.clearTimeout(this.#flushCheckTimer);
    this.#flushCheckTimer = undefined;
    this.#started = false;
  }

  #scheduleFlushCheck(): void {
    if (!this.#started || this.#opts.syncPeriodMs <= 0) return;
    this.#flushCheckTimer = this.#clock.setTimeout(() => {
      this.#flushCheckTimer = undefined;
      this.checkFlushed().finally(() => this.#scheduleFlushCheck());
    }, this.#opts.syncPeriodMs);
  }

  /**
   * Asks every backend whether our rules were flushed (every `syncPeriod` after
   * {@linkcode Proxier.start}); a flushed family's next sync is a full one, requested now.
   *
   * @returns whether a flush was detected in any family.
   */
  async checkFlushed(): Promise<boolean> {
    let flushed = false;
    for (const f of this.#families) {
      if (!(await f.backend.checkFlushed())) continue;
      f.needFullSync = true;
      flushed = true;
    }
    if (flushed && this.initialized) this.#runner.run();
    return flushed;
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
    this.#updateAddresses(undefined);
    this.#deps.health?.syncNode?.(undefined);
    for (const f of this.#families) f.needFullSync = true;
    this.#requestSyncIfInitialized();
  }

  /** @inheritdoc */
  onNodeSynced(): void {
    const nodeIPs = Object.values(this.#addresses.nodeIPs);
    if (nodeIPs.length > 0) {
      log.info("Successfully retrieved NodeIPs", { NodeIPs: nodeIPs });
      return;
    }
    log.warn(
      "Can't determine this node's IP, assuming loopback; if this is incorrect, please set " +
        "the --bind-address flag",
    );
  }

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
    // Topology labels feed the endpoint categorization, pod CIDRs the NodeCIDR detector and the
    // addresses NodePorts and source ranges: each changes every service's rules, so only a full
    // sync can apply them.
    const zoneChanged = (old?.labels[ZONE_LABEL] ?? "") !== (node.labels[ZONE_LABEL] ?? "");
    const cidrsChanged = (old?.podCIDRs ?? []).join(",") !== node.podCIDRs.join(",");
    const addressesChanged = this.#updateAddresses(node);
    if (old === undefined || zoneChanged || cidrsChanged || addressesChanged) {
      for (const f of this.#families) f.needFullSync = true;
      this.#requestSyncIfInitialized();
    }
  }

  /** Recomputes this node's addresses; true when they changed. */
  #updateAddresses(node: Node | undefined): boolean {
    const next = nodeAddressesOf(this.#opts, node);
    if (sameNodeAddresses(next, this.#addresses)) return false;
    this.#addresses = next;
    return true;
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
        "Not syncing rules until Services and Endpoints have been received from master",
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
    const node = await this.#nodeContext(f.family);
    // Below this point the trackers are drained: if anything fails, only a full sync can
    // recover the state needed, so assume failure until the backend succeeded.
    f.needFullSync = true;
    const svcResult = applyServiceChanges(f.services, f.serviceChanges.checkout());
    const epResult = applyEndpointsChanges(f.endpoints, f.endpointChanges.checkout());
    const triggerTimes = f.lastChangeTriggerTimes;
    f.lastChangeTriggerTimes = new Map();
    this.#recordConntrackWork(f, svcResult, epResult);
    let result;
    try {
      result = await f.backend.sync({
        full,
        services: f.services,
        endpoints: f.endpoints,
        updatedServices: new Set([...svcResult.updatedServices, ...epResult.updatedServices]),
        node,
        requestSync: () => {
          if (this.initialized) this.#runner.run();
        },
      });
    } catch (err) {
      // The backend logged it. The retry (a full sync) applies these changes: measure them when
      // it succeeds.
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
    const end = this.#clock.now();
    const m = this.#deps.metrics;
    if (m !== undefined) {
      m.observeSyncDuration(f.family, (end - start) / 1000, { full });
      m.setLastSyncTimestamp(f.family, end);
      m.setNoLocalEndpoints(f.family, "internal", result.noLocalEndpoints.internal);
      m.setNoLocalEndpoints(f.family, "external", result.noLocalEndpoints.external);
      m.setServiceChangesPending(0);
      m.setEndpointChangesPending(0);
      for (const times of triggerTimes.values()) {
        for (const t of times) m.observeNetworkProgrammingLatency?.(f.family, (end - t) / 1000);
      }
    }
    this.#deps.health?.updated(f.family);
    log.v(2).info("SyncProxyRules complete", {
      ipFamily: f.family,
      fullSync: full,
      elapsed: `${end - start}ms`,
    });
    await this.#cleanConntrack(f);
  }

  #fullSyncPeriod(): number {
    return this.#opts.fullSyncPeriodMs ?? FULL_SYNC_PERIOD_MS;
  }

  /** This node as the family's backend sees it now. */
  async #nodeContext(family: IPFamily): Promise<NodeContext> {
    const nodePortAddresses = this.#addresses.nodePortAddresses;
    const cidrs = nodePortCIDRs(nodePortAddresses, family);
    let nodePortIPs: string[] | undefined;
    if (cidrs.length > 0) {
      const local = await (this.#deps.localAddresses ?? defaultLocalAddresses)();
      // One address may sit on several interfaces; upstream's GetNodeIPs dedups them.
      const matching = new Set<string>();
      for (const ip of local) {
        const canonical = canonicalIP(ip);
        if (canonical !== undefined && cidrs.some((c) => cidrContains(c, canonical))) {
          matching.add(canonical);
        }
      }
      nodePortIPs = [...matching];
    }
    return {
      name: this.#opts.nodeName,
      labels: this.#node?.labels ?? {},
      nodeIP: this.#addresses.nodeIPs[family] ?? "",
      nodePortAddresses,
      nodePortIPs,
      localDetector: this.#localDetector(family),
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

/** `nodePortAddresses` CIDRs of one family; empty means every address. */
function nodePortCIDRs(nodePortAddresses: readonly string[], family: IPFamily): string[] {
  const out: string[] = [];
  for (const raw of nodePortAddresses) {
    const cidr = parseCIDRSloppy(raw);
    if (cidr === undefined || cidrFamily(cidr) !== family) continue;
    if (cidr.prefix === 0) return [];
    out.push(raw.trim());
  }
  return out;
}
