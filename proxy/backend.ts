/**
 * The interface between the backend-neutral {@linkcode Proxier} (`proxier.ts`) and a rule backend
 * (`iptables/backend.ts`, later `nftables/`): one {@linkcode ProxyBackend} per IP family.
 *
 * The proxier owns everything that does not depend on how rules look: the change trackers, the
 * sync runner, health, service health checks, conntrack cleanup, trigger times and the shared
 * metrics. On each sync it hands the backend the whole state of one family
 * ({@linkcode BackendSyncState}); the backend programs the kernel and reports what the shared
 * metrics need ({@linkcode BackendSyncResult}). Between syncs the proxier asks
 * {@linkcode ProxyBackend.checkFlushed} every `syncPeriod` whether someone removed our rules.
 *
 * A backend imports `types.ts`, `service_plan.ts` and this file, never `proxier.ts`; backends
 * never import each other. Backend-specific settings (masquerade bit, `--random-fully`, ...) and
 * metrics (restore failures, rule counts) are given to the backend when it is built.
 *
 * @module
 */

import type { IPFamily } from "../cache/objects.ts";
import type { EndpointsMap, ServicePortMap } from "./types.ts";

/**
 * How the proxier tells traffic from local pods (not masqueraded to the cluster IP, short-circuited
 * to the cluster-wide endpoints for external destinations) from other traffic, resolved for one
 * family. `None` is upstream's no-op detector (no CIDR for this family): no such rules are written.
 */
export type LocalDetector =
  | { readonly mode: "None" }
  | { readonly mode: "ClusterCIDR" | "NodeCIDR"; readonly cidr: string }
  | { readonly mode: "BridgeInterface"; readonly interfaceName: string }
  | { readonly mode: "InterfaceNamePrefix"; readonly interfacePrefix: string };

/** Our extension: redirect cluster-DNS service IPs on port 53 to the node-local responder. */
export interface DnsIntercept {
  /** DNS service IPs (of any family; each backend uses those of its family). */
  readonly serviceIPs: readonly string[];
  /** Local port the responder listens on. */
  readonly port: number;
}

/** This node as one family's backend sees it, derived by the proxier from its Node object. */
export interface NodeContext {
  /** This node's name (`hostnameOverride` or the hostname). */
  readonly name: string;
  /** The Node's labels (topology: `topology.kubernetes.io/zone`); empty before it is seen. */
  readonly labels: Readonly<Record<string, string>>;
  /** The node's primary IP of this family ("" when unknown). */
  readonly nodeIP: string;
  /**
   * `nodePortAddresses` of every family with `primary` resolved to the node IPs (upstream's
   * localhost-NodePort decision looks at all of them); empty = every local address.
   */
  readonly nodePortAddresses: readonly string[];
  /**
   * The local addresses of this family that NodePorts answer on when `nodePortAddresses`
   * restricts them (deduplicated, canonical); undefined when NodePorts match every local address.
   */
  readonly nodePortIPs?: readonly string[];
  /** The local-traffic detector of this family. */
  readonly localDetector: LocalDetector;
}

/** What the proxier hands a backend on each sync. */
export interface BackendSyncState {
  /**
   * Rewrite everything (first sync, after any failure or flush, after a Node change, hourly);
   * false: only the services in {@linkcode BackendSyncState.updatedServices} changed.
   */
  readonly full: boolean;
  /** Every service port of this family (read-only for the backend). */
  readonly services: ServicePortMap;
  /** Every service port's endpoints (read-only for the backend). */
  readonly endpoints: EndpointsMap;
  /**
   * Services (`namespace/name`) whose Service or EndpointSlices changed since the last successful
   * sync; a partial sync may rewrite only theirs. Meaningless when `full`.
   */
  readonly updatedServices: ReadonlySet<string>;
  readonly node: NodeContext;
  /** Asks for another sync soon (e.g. a backend's background scan finished). */
  readonly requestSync: () => void;
}

/** What a successful sync reports for the shared metrics. */
export interface BackendSyncResult {
  /**
   * Service ports whose traffic policy Local found no local endpoint, per policy
   * (`kubeproxy_sync_proxy_rules_no_local_endpoints_total`).
   */
  readonly noLocalEndpoints: { readonly internal: number; readonly external: number };
}

/** One family's rule backend, driven by the proxier. */
export interface ProxyBackend {
  readonly family: IPFamily;
  /**
   * Makes the kernel's rules match the state. Logs its own failures (with what the kernel
   * refused) and then throws: the proxier makes the next sync a full one and the runner retries.
   */
  sync(state: BackendSyncState): Promise<BackendSyncResult>;
  /**
   * Whether our rules were removed by someone else since the last check (a firewall reload, an
   * operator): the proxier then forces a full sync. Called every `syncPeriod`; logs its failures
   * and returns false on them.
   */
  checkFlushed(): Promise<boolean>;
}
