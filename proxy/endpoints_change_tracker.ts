/**
 * EndpointsChangeTracker carries state about uncommitted changes to EndpointSlices, grouped by the
 * Service they belong to (`namespace/name`), for one IP family.
 *
 * It keeps every slice it was given (a per-Service slice cache, since endpoints of a service port
 * come from all its slices) and, per Service, the endpoints last handed out by
 * {@linkcode EndpointsChangeTracker.checkout}. {@linkcode EndpointsChangeTracker.update} answers
 * "is a sync needed?" by comparing the Service's endpoints now with those last handed out, so a
 * slice added and deleted between two syncs leaves nothing pending.
 *
 * @module
 */

import type { EndpointSlice, IPFamily } from "../cache/objects.ts";
import { NO_SLICES, withoutSlice, withSlice } from "../cache/slice_list.ts";
import { endpointsFromSlices, endpointsMapsEqual } from "./endpoints.ts";
import type { EndpointInfo, EndpointsMap } from "./types.ts";

/** The `previous` of a Service's first endpoints: shared, never mutated (changes are only read). */
const NO_ENDPOINTS: EndpointsMap = new Map();

/** The previous (last applied) and current endpoints of one Service. */
export interface EndpointsChange {
  readonly previous: EndpointsMap;
  readonly current: EndpointsMap;
}

/** Records EndpointSlice changes between syncs. */
export class EndpointsChangeTracker {
  #family: IPFamily;
  #nodeName: string;
  /** Per service key, its slices of this family (copy-on-write lists). */
  #slices = new Map<string, readonly EndpointSlice[]>();
  #applied = new Map<string, EndpointsMap>();
  #pending = new Map<string, EndpointsMap>();

  /**
   * @param family the proxier's IP family; slices of another address type are ignored.
   * @param nodeName this node's name, to tell local endpoints.
   */
  constructor(family: IPFamily, nodeName: string) {
    this.#family = family;
    this.#nodeName = nodeName;
  }

  /**
   * Records a change of one EndpointSlice: add (`previous` undefined), update, or delete
   * (`current` undefined).
   *
   * @param previous the slice before the change.
   * @param current the slice after the change.
   * @returns true when any change is pending (a sync is needed).
   */
  update(previous: EndpointSlice | undefined, current: EndpointSlice | undefined): boolean {
    const slice = current ?? previous;
    if (slice === undefined || slice.addressType !== this.#family || slice.serviceName === "") {
      return this.#pending.size > 0;
    }
    const serviceKey = `${slice.namespace}/${slice.serviceName}`;
    // A slice whose service label changed is removed from its old Service.
    if (
      previous !== undefined && current !== undefined &&
      previous.serviceName !== current.serviceName && previous.serviceName !== ""
    ) {
      this.update(previous, undefined);
    }
    let slices = this.#slices.get(serviceKey);
    if (current === undefined) {
      if (slices !== undefined) slices = withoutSlice(slices, slice.name);
      if (slices?.length === 0) this.#slices.delete(serviceKey);
      else if (slices !== undefined) this.#slices.set(serviceKey, slices);
    } else {
      this.#slices.set(serviceKey, slices = withSlice(slices, current));
    }
    const now = endpointsFromSlices(slices ?? NO_SLICES, this.#family, this.#nodeName);
    const applied = this.#applied.get(serviceKey) ?? NO_ENDPOINTS;
    if (endpointsMapsEqual(applied, now)) this.#pending.delete(serviceKey);
    else this.#pending.set(serviceKey, now);
    return this.#pending.size > 0;
  }

  /** Number of Services with pending endpoint changes. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Takes the pending changes, leaving none; the current endpoints become the applied ones.
   *
   * @returns `{previous, current}` per Service `namespace/name`.
   */
  checkout(): Map<string, EndpointsChange> {
    const out = new Map<string, EndpointsChange>();
    for (const [key, current] of this.#pending) {
      out.set(key, { previous: this.#applied.get(key) ?? NO_ENDPOINTS, current });
      if (current.size === 0) this.#applied.delete(key);
      else this.#applied.set(key, current);
    }
    this.#pending = new Map();
    return out;
  }
}

/** One endpoint that stopped serving a UDP service port. */
export interface StaleEndpoint {
  /** The service port key (`servicePortKey`). */
  readonly servicePortKey: string;
  readonly endpoint: EndpointInfo;
}

/** What applying endpoint changes did, as upstream's `UpdateEndpointsMapResult`. */
export interface EndpointsUpdateResult {
  /** `namespace/name` of every Service whose endpoints changed. */
  readonly updatedServices: Set<string>;
  /** UDP endpoints that were ready and are now removed or no longer ready (terminating too). */
  readonly staleEndpoints: StaleEndpoint[];
  /** UDP service ports that went from no usable endpoint to at least one. */
  readonly newlyActiveUDPServices: Set<string>;
  /** Whether any changed Service has a UDP port (conntrack cleanup needed after the sync). */
  readonly conntrackCleanupRequired: boolean;
}

function usable(ep: EndpointInfo): boolean {
  return ep.ready || (ep.serving && ep.terminating);
}

/**
 * Applies checked-out changes to the proxier's endpoints map.
 *
 * @param map the map to update in place.
 * @param changes from {@linkcode EndpointsChangeTracker.checkout}.
 * @returns which Services changed, and the UDP conntrack work the change implies.
 */
export function applyEndpointsChanges(
  map: EndpointsMap,
  changes: Map<string, EndpointsChange>,
): EndpointsUpdateResult {
  const updatedServices = new Set<string>();
  const staleEndpoints: StaleEndpoint[] = [];
  const newlyActiveUDPServices = new Set<string>();
  let conntrackCleanupRequired = false;
  for (const [serviceKey, change] of changes) {
    updatedServices.add(serviceKey);
    for (const key of change.previous.keys()) map.delete(key);
    for (const [key, eps] of change.current) map.set(key, eps);
    const keys = new Set([...change.previous.keys(), ...change.current.keys()]);
    for (const key of keys) {
      if (!key.endsWith(" UDP")) continue;
      conntrackCleanupRequired = true;
      const previous = change.previous.get(key) ?? [];
      const current = change.current.get(key) ?? [];
      // As upstream's detectStaleConntrackEntries: only a ready endpoint had traffic worth
      // clearing, and it is stale unless it is still there and still ready. Ready -> serving +
      // terminating counts as stale, so its UDP flows move on even while fallback may still
      // send new flows to it.
      const stillReady = new Set(current.filter((ep) => ep.ready).map((ep) => ep.endpoint));
      for (const ep of previous) {
        if (ep.ready && !stillReady.has(ep.endpoint)) {
          staleEndpoints.push({ servicePortKey: key, endpoint: ep });
        }
      }
      if (!previous.some(usable) && current.some(usable)) newlyActiveUDPServices.add(key);
    }
  }
  return { updatedServices, staleEndpoints, newlyActiveUDPServices, conntrackCleanupRequired };
}
