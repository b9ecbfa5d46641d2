/**
 * The DNS responder's indexes over the watch cache, kept up to date by the cache's handlers.
 *
 * @module
 */

import type { EndpointSliceHandler, NamespaceHandler, ServiceHandler } from "../cache/handlers.ts";
import type {
  Endpoint,
  EndpointPort,
  EndpointSlice,
  Namespace,
  Service,
} from "../cache/objects.ts";
import { objectKey } from "../cache/objects.ts";
import { NO_SLICES, withoutSlice, withSlice } from "../cache/slice_list.ts";
import { parseIP } from "./ip.ts";

/** One endpoint address that DNS publishes (ready, or any with publishNotReadyAddresses). */
export interface EndpointRecord {
  /** Canonical address. */
  readonly ip: string;
  /** True for an IPv6 address. */
  readonly ipv6: boolean;
  /** The DNS label: `hostname` when set, else the dashed address (`10-1-2-3`, `fd00--1`). */
  readonly label: string;
  /** The ports of the slice the address came from (empty: no SRV for it). */
  readonly ports: readonly EndpointPort[];
}

/** A Service with its merged endpoints, as DNS reads it. */
export interface ServiceEntry {
  /** The trimmed Service. */
  readonly service: Service;
  /**
   * Published addresses across all slices of the service, in slice order, NOT de-duplicated
   * (SRV weights count duplicates, as CoreDNS does; answers de-duplicate).
   */
  readonly endpoints: readonly EndpointRecord[];
  /** `endpoints` grouped by label. */
  readonly byLabel: ReadonlyMap<string, readonly EndpointRecord[]>;
}

/** Options of a ClusterView. */
export interface ClusterViewOptions {
  /**
   * Whether Namespace objects are delivered (default true). With true, names in a namespace that
   * is not in the Namespace watch are NXDOMAIN, as in CoreDNS; with false, a namespace exists
   * while it holds a Service, and the view does not wait for a Namespace sync.
   */
  readonly watchNamespaces?: boolean;
  /** Clock for the SOA serial (Unix seconds of the last change); `Date.now` by default. */
  readonly now?: () => number;
}

const EMPTY_ENDPOINTS: readonly EndpointRecord[] = Object.freeze([]);

/**
 * An EndpointRecord that computes its dashed label on read instead of holding one string per
 * address (100,000 of them at 10,000 services x 10 endpoints).
 */
class PublishedEndpoint implements EndpointRecord {
  readonly ip: string;
  readonly ipv6: boolean;
  readonly ports: readonly EndpointPort[];
  /** Lowercased `hostname`, "" when unset. */
  readonly hostname: string;

  constructor(ip: string, ipv6: boolean, ports: readonly EndpointPort[], hostname: string) {
    this.ip = ip;
    this.ipv6 = ipv6;
    this.ports = ports;
    this.hostname = hostname;
  }

  get label(): string {
    return this.hostname !== "" ? this.hostname : dashedLabel(this.ip);
  }
}

/**
 * Calls `fn` for each address `service` publishes from `slices` (ready ones, or all with
 * publishNotReadyAddresses; FQDN slices and unparsable addresses skipped), in slice order.
 */
function forEachPublished(
  service: Service,
  slices: readonly EndpointSlice[],
  fn: (address: string, ipv6: boolean, ep: Endpoint, slice: EndpointSlice) => void,
): void {
  if (service.type === "ExternalName") return;
  for (const slice of slices) {
    if (slice.addressType === "FQDN") continue;
    for (const ep of slice.endpoints) {
      if (!ep.ready && !service.publishNotReadyAddresses) continue;
      for (const address of ep.addresses) {
        const bytes = parseIP(address);
        if (bytes !== undefined) fn(address, bytes.length === 16, ep, slice);
      }
    }
  }
}

/**
 * A ServiceEntry that keeps the service's (immutable, cache-owned) slices and builds its
 * endpoint records and by-label index on the first query that reads them: at 10,000 services x
 * 10 endpoints, records for every address cost megabytes that most services never need.
 */
class LazyServiceEntry implements ServiceEntry {
  readonly service: Service;
  readonly #slices: readonly EndpointSlice[];
  #endpoints: readonly EndpointRecord[] | undefined;
  #byLabel: Map<string, EndpointRecord[]> | undefined;

  constructor(service: Service, slices: readonly EndpointSlice[]) {
    this.service = service;
    this.#slices = slices;
  }

  get endpoints(): readonly EndpointRecord[] {
    if (this.#endpoints === undefined) {
      const out: EndpointRecord[] = [];
      forEachPublished(this.service, this.#slices, (address, ipv6, ep, slice) => {
        const hostname = ep.hostname === "" ? "" : ep.hostname.toLowerCase();
        out.push(new PublishedEndpoint(address, ipv6, slice.ports, hostname));
      });
      this.#endpoints = out.length === 0 ? EMPTY_ENDPOINTS : out;
    }
    return this.#endpoints;
  }

  get byLabel(): ReadonlyMap<string, readonly EndpointRecord[]> {
    if (this.#byLabel === undefined) {
      const byLabel = new Map<string, EndpointRecord[]>();
      for (const ep of this.endpoints) {
        const label = ep.label;
        const list = byLabel.get(label);
        if (list === undefined) byLabel.set(label, [ep]);
        else list.push(ep);
      }
      this.#byLabel = byLabel;
    }
    return this.#byLabel;
  }

  /** The published addresses, without building records. */
  publishedIPs(): Set<string> {
    const ips = new Set<string>();
    forEachPublished(this.service, this.#slices, (address) => ips.add(address));
    return ips;
  }
}

/**
 * The label CoreDNS gives an endpoint without a hostname: its address with `.` or `:` replaced
 * by `-`, and a `0` appended when that leaves a trailing `-` (`2001:db8::` -> `2001-db8--0`).
 *
 * @param ip A canonical address.
 * @returns The label.
 */
export function dashedLabel(ip: string): string {
  const dashed = ip.includes(":") ? ip.replaceAll(":", "-") : ip.replaceAll(".", "-");
  return dashed.endsWith("-") ? dashed + "0" : dashed;
}

/**
 * Indexes Services, EndpointSlices and Namespaces for the DNS responder: services by
 * namespace/name, published endpoints per service (slices merged, both families), a reverse
 * index from IP to names, and namespace existence. Every update touches only the service it
 * concerns; no query scans all services.
 *
 * Handlers only update maps: they never throw on a bad object (an unusable address is skipped).
 * `version` changes on every change that can change an answer, so answer caches can be dropped.
 */
export class ClusterView implements ServiceHandler, EndpointSliceHandler, NamespaceHandler {
  #services = new Map<string, Service>();
  /** Per service key, its slices (copy-on-write: entries keep them as snapshots). */
  #slices = new Map<string, readonly EndpointSlice[]>();
  #entries = new Map<string, LazyServiceEntry>();
  #clusterIPs = new Map<string, string>();
  /**
   * Endpoint address -> the key (or keys) of the services publishing it. Names are derived from
   * the entries on a PTR query rather than stored: one string or small array per address instead
   * of a Map and a name string per address.
   */
  #endpointIPs = new Map<string, string | string[]>();
  #namespaces = new Set<string>();
  #servicesPerNamespace = new Map<string, number>();
  #servicesSynced = false;
  #slicesSynced = false;
  #namespacesSynced = false;
  /** The cache reported Namespaces forbidden (403) and they have not been listed since. */
  #namespacesUnavailable = false;
  #watchNamespaces: boolean;
  #now: () => number;
  #version = 0;
  #serial: number;

  /**
   * Creates an empty view; the cache's handlers fill it.
   *
   * @param opts See ClusterViewOptions.
   */
  constructor(opts: ClusterViewOptions = {}) {
    this.#watchNamespaces = opts.watchNamespaces ?? true;
    this.#now = opts.now ?? Date.now;
    this.#serial = Math.floor(this.#now() / 1000);
  }

  /** Increases on every change that can change an answer. */
  get version(): number {
    return this.#version;
  }

  /** SOA serial: Unix seconds of the last change (kept increasing). */
  get serial(): number {
    return this.#serial;
  }

  /**
   * True once Services, EndpointSlices (and Namespaces, when watched and not reported
   * unavailable) have synced.
   */
  hasSynced(): boolean {
    return this.#servicesSynced && this.#slicesSynced &&
      (this.#namespacesSynced || !this.#namespacesWatched());
  }

  /** Whether namespace existence comes from Namespace objects (else: from Services). */
  #namespacesWatched(): boolean {
    return this.#watchNamespaces && !this.#namespacesUnavailable;
  }

  /**
   * Whether names in a namespace can exist.
   *
   * @param namespace Lowercased namespace name.
   */
  namespaceExists(namespace: string): boolean {
    if (this.#namespacesWatched()) return this.#namespaces.has(namespace);
    return (this.#servicesPerNamespace.get(namespace) ?? 0) > 0;
  }

  /**
   * The service `namespace/name` with its endpoints.
   *
   * @param namespace Lowercased namespace.
   * @param name Lowercased service name.
   */
  service(namespace: string, name: string): ServiceEntry | undefined {
    return this.#entries.get(`${namespace}/${name}`);
  }

  /**
   * Names for a PTR answer, relative to the cluster zone: the service name when `ip` is a
   * ClusterIP (`web.default.svc`), else one name per (service, endpoint label) publishing the
   * address (`web-0.web.default.svc`), de-duplicated.
   *
   * @param ip A canonical address.
   */
  namesForIP(ip: string): readonly string[] {
    const svc = this.#clusterIPs.get(ip);
    if (svc !== undefined) return [svc];
    const owners = this.#endpointIPs.get(ip);
    if (owners === undefined) return [];
    const names: string[] = [];
    for (const key of typeof owners === "string" ? [owners] : owners) {
      const entry = this.#entries.get(key);
      if (entry === undefined) continue;
      const suffix = `.${entry.service.name}.${entry.service.namespace}.svc`;
      for (const ep of entry.endpoints) {
        if (ep.ip !== ip) continue;
        const name = ep.label + suffix;
        if (!names.includes(name)) names.push(name);
      }
    }
    return names;
  }

  /** Number of services indexed. */
  get serviceCount(): number {
    return this.#entries.size;
  }

  // ServiceHandler

  /** Records a new Service. */
  onServiceAdd(service: Service): void {
    this.#setService(service);
  }

  /** Records a changed Service. */
  onServiceUpdate(previous: Service, current: Service): void {
    if (objectKey(previous) !== objectKey(current)) this.#deleteService(previous);
    this.#setService(current);
  }

  /** Forgets a Service. */
  onServiceDelete(service: Service): void {
    this.#deleteService(service);
  }

  /** Marks Services synced. */
  onServicesSynced(): void {
    this.#servicesSynced = true;
    this.#changed();
  }

  // EndpointSliceHandler

  /** Records a new EndpointSlice. */
  onEndpointSliceAdd(slice: EndpointSlice): void {
    this.#setSlice(slice);
  }

  /** Records a changed EndpointSlice. */
  onEndpointSliceUpdate(previous: EndpointSlice, current: EndpointSlice): void {
    if (
      previous.serviceName !== current.serviceName || previous.namespace !== current.namespace ||
      previous.name !== current.name
    ) {
      this.#deleteSlice(previous);
    }
    this.#setSlice(current);
  }

  /** Forgets an EndpointSlice. */
  onEndpointSliceDelete(slice: EndpointSlice): void {
    this.#deleteSlice(slice);
  }

  /** Marks EndpointSlices synced. */
  onEndpointSlicesSynced(): void {
    this.#slicesSynced = true;
    this.#changed();
  }

  // NamespaceHandler

  /** Records a Namespace. */
  onNamespaceAdd(namespace: Namespace): void {
    this.#namespaces.add(namespace.name);
    this.#changed();
  }

  /** Forgets a Namespace. */
  onNamespaceDelete(namespace: Namespace): void {
    this.#namespaces.delete(namespace.name);
    this.#changed();
  }

  /** Marks Namespaces synced (and available again, if they had been reported unavailable). */
  onNamespacesSynced(): void {
    this.#namespacesSynced = true;
    this.#namespacesUnavailable = false;
    this.#changed();
  }

  /**
   * Namespaces cannot be listed (403): from now on, as with `watchNamespaces: false`, a
   * namespace exists while it holds a Service, and the view does not wait for Namespaces.
   */
  onNamespacesUnavailable(): void {
    if (this.#namespacesUnavailable) return;
    this.#namespacesUnavailable = true;
    this.#changed();
  }

  #setService(service: Service): void {
    const key = objectKey(service);
    if (!this.#services.has(key)) {
      this.#servicesPerNamespace.set(
        service.namespace,
        (this.#servicesPerNamespace.get(service.namespace) ?? 0) + 1,
      );
    }
    this.#services.set(key, service);
    this.#rebuild(key);
  }

  #deleteService(service: Service): void {
    const key = objectKey(service);
    if (!this.#services.delete(key)) return;
    const n = (this.#servicesPerNamespace.get(service.namespace) ?? 1) - 1;
    if (n <= 0) this.#servicesPerNamespace.delete(service.namespace);
    else this.#servicesPerNamespace.set(service.namespace, n);
    this.#rebuild(key);
  }

  #setSlice(slice: EndpointSlice): void {
    if (slice.serviceName === "") return;
    const key = `${slice.namespace}/${slice.serviceName}`;
    this.#slices.set(key, withSlice(this.#slices.get(key), slice));
    this.#rebuild(key);
  }

  #deleteSlice(slice: EndpointSlice): void {
    if (slice.serviceName === "") return;
    const key = `${slice.namespace}/${slice.serviceName}`;
    const slices = this.#slices.get(key);
    if (slices === undefined) return;
    const rest = withoutSlice(slices, slice.name);
    if (rest === slices) return;
    if (rest.length === 0) this.#slices.delete(key);
    else this.#slices.set(key, rest);
    this.#rebuild(key);
  }

  /** Recomputes the entry and the reverse index of one service. */
  #rebuild(key: string): void {
    const old = this.#entries.get(key);
    const service = this.#services.get(key);
    let entry: LazyServiceEntry | undefined;
    if (service !== undefined) {
      entry = new LazyServiceEntry(service, this.#slices.get(key) ?? NO_SLICES);
      this.#entries.set(key, entry);
    } else {
      this.#entries.delete(key);
    }
    this.#reindex(key, old, entry);
    this.#changed();
  }

  /**
   * Moves one service's reverse-index entries from `old` to `next`.
   *
   * NOTE: addresses present before and after are updated in place, never deleted and re-added:
   * V8 Maps with ~100k keys get very slow under delete/insert churn of the same keys (measured
   * 2 ms per 10-endpoint slice update at 10k services before this).
   */
  #reindex(
    key: string,
    old: LazyServiceEntry | undefined,
    next: LazyServiceEntry | undefined,
  ): void {
    const oldName = old && `${old.service.name}.${old.service.namespace}.svc`;
    const nextName = next && `${next.service.name}.${next.service.namespace}.svc`;
    if (old !== undefined) {
      for (const ip of old.service.clusterIPs) {
        if (next?.service.clusterIPs.includes(ip)) continue;
        if (this.#clusterIPs.get(ip) === oldName) this.#clusterIPs.delete(ip);
      }
    }
    if (next !== undefined) {
      for (const ip of next.service.clusterIPs) {
        const owner = this.#clusterIPs.get(ip);
        if (owner === undefined || owner === oldName) this.#clusterIPs.set(ip, nextName!);
      }
    }
    const nextIPs = next?.publishedIPs() ?? new Set<string>();
    for (const ip of old?.publishedIPs() ?? []) {
      if (nextIPs.has(ip)) continue;
      const owners = this.#endpointIPs.get(ip);
      if (owners === undefined) continue;
      if (owners === key) this.#endpointIPs.delete(ip);
      else if (typeof owners !== "string") {
        const i = owners.indexOf(key);
        if (i < 0) continue;
        owners.splice(i, 1);
        if (owners.length === 1) this.#endpointIPs.set(ip, owners[0]);
      }
    }
    for (const ip of nextIPs) {
      const owners = this.#endpointIPs.get(ip);
      if (owners === undefined) this.#endpointIPs.set(ip, key);
      else if (typeof owners === "string") {
        if (owners !== key) this.#endpointIPs.set(ip, [owners, key]);
      } else if (!owners.includes(key)) owners.push(key);
    }
  }

  #changed(): void {
    this.#version++;
    const now = Math.floor(this.#now() / 1000);
    this.#serial = now > this.#serial ? now : this.#serial;
  }
}
