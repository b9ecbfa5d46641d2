/**
 * `networking.k8s.io/v1` ServiceCIDR objects, which say which ranges the cluster allocates
 * ClusterIPs from: the trimmed object, its converter, the handler contract, and
 * {@linkcode ServiceCIDRTracker}, which turns the objects into the cluster's list of service
 * CIDRs, as upstream's `OnServiceCIDRsChanged` receives it (nftables mode drops traffic to
 * ClusterIPs in those ranges that no Service holds).
 *
 * Old clusters do not serve the resource (404) and upstream's `system:node-proxier` role may not
 * grant it (403): the cache then reports it unavailable once and the CIDRs stay unknown, which
 * means "no drop rule", never an error.
 *
 * @module
 */

import { log } from "../config/log.ts";
import { canonicalCIDR } from "./ip.ts";

/** A ServiceCIDR, trimmed to what the proxy uses. */
export interface ServiceCIDR {
  readonly name: string;
  readonly resourceVersion: string;
  /** `spec.cidrs`, canonical; invalid entries dropped. */
  readonly cidrs: readonly string[];
}

/** Receives ServiceCIDR changes from the cache. */
export interface ServiceCIDRHandler {
  onServiceCIDRAdd(cidr: ServiceCIDR): void;
  onServiceCIDRUpdate(previous: ServiceCIDR, current: ServiceCIDR): void;
  onServiceCIDRDelete(cidr: ServiceCIDR): void;
  onServiceCIDRsSynced(): void;
  /** The API server does not serve the resource (404) or refuses it (403). */
  onServiceCIDRsUnavailable(): void;
}

/** The collection path of ServiceCIDRs. */
export const SERVICE_CIDRS_PATH = "/apis/networking.k8s.io/v1/servicecidrs";

/**
 * Converts a raw ServiceCIDR; undefined (with a warning) when it has no name.
 *
 * @param raw the API object.
 * @returns the trimmed object.
 * @example
 * ```ts
 * toServiceCIDR({ metadata: { name: "kubernetes" }, spec: { cidrs: ["10.96.0.0/12"] } });
 * ```
 */
export function toServiceCIDR(raw: unknown): ServiceCIDR | undefined {
  // deno-lint-ignore no-explicit-any
  const obj = raw as any;
  const name = obj?.metadata?.name;
  if (typeof name !== "string" || name === "") {
    log.warn("Ignoring a ServiceCIDR without a name");
    return undefined;
  }
  const specCIDRs: unknown[] = Array.isArray(obj?.spec?.cidrs) ? obj.spec.cidrs : [];
  const cidrs: string[] = [];
  for (const c of specCIDRs) {
    const canonical = typeof c === "string" ? canonicalCIDR(c) : undefined;
    if (canonical === undefined) {
      log.warn("Ignoring an invalid CIDR of a ServiceCIDR", { serviceCIDR: name, cidr: String(c) });
    } else cidrs.push(canonical);
  }
  const rv = obj?.metadata?.resourceVersion;
  return { name, resourceVersion: typeof rv === "string" ? rv : "", cidrs };
}

/**
 * Keeps the cluster's service CIDRs from ServiceCIDR events and reports each change: the sorted,
 * deduplicated CIDRs of every ServiceCIDR once the first list is in, or undefined while unknown
 * (before the first list, and when the resource is unavailable).
 *
 * @example
 * ```ts
 * cache.addServiceCIDRHandler(new ServiceCIDRTracker((cidrs) => backend.setServiceCIDRs(cidrs)));
 * ```
 */
export class ServiceCIDRTracker implements ServiceCIDRHandler {
  readonly #objects = new Map<string, ServiceCIDR>();
  readonly #onChange: (cidrs: readonly string[] | undefined) => void;
  #synced = false;
  #last: string | undefined = undefined;
  #unavailableLogged = false;

  /** @param onChange called with the new CIDRs whenever they change. */
  constructor(onChange: (cidrs: readonly string[] | undefined) => void) {
    this.#onChange = onChange;
  }

  /** The current CIDRs, or undefined while unknown. */
  get cidrs(): readonly string[] | undefined {
    if (!this.#synced) return undefined;
    const all = new Set<string>();
    for (const o of this.#objects.values()) for (const c of o.cidrs) all.add(c);
    return [...all].sort();
  }

  onServiceCIDRAdd(cidr: ServiceCIDR): void {
    this.#objects.set(cidr.name, cidr);
    this.#report();
  }

  onServiceCIDRUpdate(_previous: ServiceCIDR, current: ServiceCIDR): void {
    this.#objects.set(current.name, current);
    this.#report();
  }

  onServiceCIDRDelete(cidr: ServiceCIDR): void {
    this.#objects.delete(cidr.name);
    this.#report();
  }

  onServiceCIDRsSynced(): void {
    this.#synced = true;
    this.#report();
  }

  onServiceCIDRsUnavailable(): void {
    if (!this.#unavailableLogged) {
      this.#unavailableLogged = true;
      log.info(
        "ServiceCIDRs (networking.k8s.io/v1) are not available; traffic to unallocated " +
          "ClusterIPs is not dropped",
      );
    }
    this.#synced = false;
    this.#objects.clear();
    this.#report();
  }

  #report(): void {
    const cidrs = this.cidrs;
    const key = cidrs === undefined ? undefined : cidrs.join(",");
    if (key === this.#last) return;
    this.#last = key;
    this.#onChange(cidrs);
  }
}
