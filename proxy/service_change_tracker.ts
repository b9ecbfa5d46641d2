/**
 * ServiceChangeTracker carries state about uncommitted changes to an arbitrary number of
 * Services, keyed by their namespace and name, for one IP family.
 *
 * Handlers call {@linkcode ServiceChangeTracker.update} with the previous and current object; it
 * records `{previous, current}` service ports per Service and only answers "is a sync needed?".
 * A change that is undone before the next sync (add then delete, or an update that changes nothing
 * the proxier reads) leaves nothing pending. The proxier takes the pending changes with
 * {@linkcode ServiceChangeTracker.checkout} and applies them with {@linkcode applyServiceChanges}.
 *
 * @module
 */

import type { IPFamily, Service } from "../cache/objects.ts";
import { servicePortMapsEqual, servicePortsFromService } from "./service_port.ts";
import type { ServicePortMap } from "./types.ts";

/**
 * The `previous` of an added and the `current` of a deleted Service: one shared empty map, not two
 * new ones per Service in a first sync. Never mutated (ServiceChange maps are only read).
 */
const NO_PORTS: ServicePortMap = new Map();

/** The previous (last applied) and current service ports of one Service. */
export interface ServiceChange {
  readonly previous: ServicePortMap;
  readonly current: ServicePortMap;
}

/** Records Service changes between syncs. */
export class ServiceChangeTracker {
  #family: IPFamily;
  #items = new Map<string, ServiceChange>();

  /** @param family the proxier's IP family; ports of the other family are invisible. */
  constructor(family: IPFamily) {
    this.#family = family;
  }

  /**
   * Records a change of one Service: add (`previous` undefined), update, or delete (`current`
   * undefined).
   *
   * @param previous the object before the change.
   * @param current the object after the change.
   * @returns true when any change is pending (a sync is needed).
   */
  update(previous: Service | undefined, current: Service | undefined): boolean {
    const obj = current ?? previous;
    if (obj === undefined) return this.#items.size > 0;
    const key = `${obj.namespace}/${obj.name}`;
    const item = this.#items.get(key);
    const before = item?.previous ??
      (previous === undefined ? NO_PORTS : servicePortsFromService(previous, this.#family));
    const after: ServicePortMap = current === undefined
      ? NO_PORTS
      : servicePortsFromService(current, this.#family);
    if (servicePortMapsEqual(before, after)) this.#items.delete(key);
    else this.#items.set(key, { previous: before, current: after });
    return this.#items.size > 0;
  }

  /** Number of Services with pending changes. */
  get pending(): number {
    return this.#items.size;
  }

  /**
   * Takes the pending changes, leaving none.
   *
   * @returns `{previous, current}` per `namespace/name`.
   */
  checkout(): Map<string, ServiceChange> {
    const out = this.#items;
    this.#items = new Map();
    return out;
  }
}

/** What applying Service changes did, as upstream's `UpdateServiceMapResult`. */
export interface ServiceUpdateResult {
  /** `namespace/name` of every Service whose ports changed. */
  readonly updatedServices: Set<string>;
  /** Cluster IPs of UDP service ports that went away (their conntrack entries are stale). */
  readonly deletedUDPClusterIPs: Set<string>;
}

/**
 * Applies checked-out changes to the proxier's service port map.
 *
 * @param map the map to update in place.
 * @param changes from {@linkcode ServiceChangeTracker.checkout}.
 * @returns which Services changed and which UDP cluster IPs were removed.
 */
export function applyServiceChanges(
  map: ServicePortMap,
  changes: Map<string, ServiceChange>,
): ServiceUpdateResult {
  const updatedServices = new Set<string>();
  const deletedUDPClusterIPs = new Set<string>();
  for (const [key, change] of changes) {
    updatedServices.add(key);
    for (const [portKey, info] of change.previous) {
      if (change.current.has(portKey)) continue;
      map.delete(portKey);
      if (info.protocol === "udp") deletedUDPClusterIPs.add(info.clusterIP);
    }
    for (const [portKey, info] of change.current) map.set(portKey, info);
  }
  // A cluster IP still used by a UDP port (e.g. the same Service re-added) is not stale.
  for (const info of map.values()) {
    if (info.protocol === "udp") deletedUDPClusterIPs.delete(info.clusterIP);
  }
  return { updatedServices, deletedUDPClusterIPs };
}
