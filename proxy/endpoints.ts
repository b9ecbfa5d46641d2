/**
 * Turns the EndpointSlices of one Service into endpoints per service port, as upstream's
 * `EndpointSliceCache` does: slice ports are matched to service ports by name and protocol (the
 * slice port carries the resolved number, so named targetPorts resolve through it), only the first
 * address of an endpoint is used, an `IP:port` seen in several slices is kept once (preferring a
 * non-terminating copy), and endpoints are sorted by their `IP:port` string, which fixes the rule
 * order and hence the load-balancing probabilities.
 *
 * @module
 */

import type { Endpoint, EndpointSlice, IPFamily } from "../cache/objects.ts";
import { canonicalIP, ipFamilyOf, joinHostPort } from "./net.ts";
import { type EndpointInfo, type EndpointsMap, servicePortKey } from "./types.ts";

/** Shared by every endpoint without hints (most of them): 200,000 empty arrays at 100,000. */
const NO_HINTS: readonly string[] = Object.freeze([]);

/**
 * An EndpointInfo that reads the conditions and hints from the cache's (immutable) Endpoint
 * instead of copying them: five fields instead of nine. Deno's V8 has no pointer compression, so
 * every field is 8 bytes: 64 instead of 96 bytes per endpoint and port (115,000 of them at 10,000
 * services x 10 endpoints).
 */
class SliceEndpointInfo implements EndpointInfo {
  readonly endpoint: string;
  readonly ip: string;
  readonly port: number;
  readonly isLocal: boolean;
  readonly #source: Endpoint;

  constructor(endpoint: string, ip: string, port: number, isLocal: boolean, source: Endpoint) {
    this.endpoint = endpoint;
    this.ip = ip;
    this.port = port;
    this.isLocal = isLocal;
    this.#source = source;
  }

  get ready(): boolean {
    return this.#source.ready;
  }

  get serving(): boolean {
    return this.#source.serving;
  }

  get terminating(): boolean {
    return this.#source.terminating;
  }

  get zoneHints(): readonly string[] {
    return this.#source.hints?.forZones ?? NO_HINTS;
  }

  get nodeHints(): readonly string[] {
    return this.#source.hints?.forNodes ?? NO_HINTS;
  }
}

/**
 * The endpoints of one Service's slices, per service port.
 *
 * @param slices the Service's EndpointSlices (any order; sorted by name here).
 * @param family the proxier's family; slices of another address type are ignored.
 * @param nodeName this node's name, to mark local endpoints.
 * @returns endpoints per `servicePortKey`, each list sorted by `endpoint`.
 * @example
 * ```ts
 * const map = endpointsFromSlices([slice1], "IPv4", "node1");
 * ```
 */
export function endpointsFromSlices(
  slices: Iterable<EndpointSlice>,
  family: IPFamily,
  nodeName: string,
): EndpointsMap {
  const sorted = [...slices].filter((s) => s.addressType === family && s.serviceName !== "");
  sorted.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const byPort = new Map<string, Map<string, EndpointInfo>>();
  for (const slice of sorted) {
    for (const port of slice.ports) {
      if (port.port === 0) continue;
      const key = servicePortKey({
        namespace: slice.namespace,
        name: slice.serviceName,
        port: port.name,
        protocol: port.protocol,
      });
      let set = byPort.get(key);
      if (set === undefined) byPort.set(key, set = new Map());
      for (const ep of slice.endpoints) {
        if (ep.addresses.length === 0) continue;
        const ip = canonicalIP(ep.addresses[0]);
        if (ip === undefined || ipFamilyOf(ip) !== family) continue;
        const endpoint = joinHostPort(ip, port.port);
        const existing = set.get(endpoint);
        if (existing !== undefined && !(existing.terminating && !ep.terminating)) continue;
        set.set(
          endpoint,
          new SliceEndpointInfo(
            endpoint,
            ip,
            port.port,
            nodeName !== "" && ep.nodeName === nodeName,
            ep,
          ),
        );
      }
    }
  }
  const out: EndpointsMap = new Map();
  for (const [key, set] of byPort) {
    const list = [...set.values()];
    list.sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0));
    out.set(key, list);
  }
  return out;
}

/**
 * Tells whether two endpoint maps are equal (same keys, same endpoints with the same state).
 *
 * @param a one map.
 * @param b another map.
 * @returns true when equal.
 * @example
 * ```ts
 * endpointsMapsEqual(new Map(), new Map()); // true
 * ```
 */
export function endpointsMapsEqual(a: EndpointsMap, b: EndpointsMap): boolean {
  if (a.size !== b.size) return false;
  for (const [key, x] of a) {
    const y = b.get(key);
    if (y === undefined || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) {
      const p = x[i], q = y[i];
      if (
        p.endpoint !== q.endpoint || p.isLocal !== q.isLocal || p.ready !== q.ready ||
        p.serving !== q.serving || p.terminating !== q.terminating ||
        p.zoneHints.join(",") !== q.zoneHints.join(",") ||
        p.nodeHints.join(",") !== q.nodeHints.join(",")
      ) return false;
    }
  }
  return true;
}
