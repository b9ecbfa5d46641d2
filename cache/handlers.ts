/**
 * The interfaces through which the watch cache tells its consumers (the proxier and the DNS
 * responder) what changed, in the shape of kube-proxy's `pkg/proxy/config` handlers.
 *
 * Handlers are called synchronously, in order per object, from the cache's event loop. A handler
 * must not do proxy or DNS work inline: it records the change and schedules (the proxier's
 * trackers + runner; the DNS indexes, which are cheap to update). A handler never throws; the
 * cache catches and logs a throw so that one bad consumer cannot stop the watch.
 *
 * On update, `previous` is the object the consumer was last given for that key, so a consumer
 * never has to keep its own copy to compute a diff.
 *
 * @module
 */

import type { EndpointSlice, Namespace, Node, Service } from "./objects.ts";

/** Receives Service changes. */
export interface ServiceHandler {
  onServiceAdd(service: Service): void;
  onServiceUpdate(previous: Service, current: Service): void;
  onServiceDelete(service: Service): void;
  /** Called once, after the first successful list of Services has been delivered. */
  onServicesSynced(): void;
}

/** Receives EndpointSlice changes. */
export interface EndpointSliceHandler {
  onEndpointSliceAdd(slice: EndpointSlice): void;
  onEndpointSliceUpdate(previous: EndpointSlice, current: EndpointSlice): void;
  onEndpointSliceDelete(slice: EndpointSlice): void;
  /** Called once, after the first successful list of EndpointSlices has been delivered. */
  onEndpointSlicesSynced(): void;
}

/** Receives changes of the node this proxy runs on. */
export interface NodeHandler {
  onNodeAdd(node: Node): void;
  onNodeUpdate(previous: Node, current: Node): void;
  onNodeDelete(node: Node): void;
  onNodeSynced(): void;
}

/** Receives Namespace changes (the DNS responder needs to know which namespaces exist). */
export interface NamespaceHandler {
  onNamespaceAdd(namespace: Namespace): void;
  onNamespaceDelete(namespace: Namespace): void;
  onNamespacesSynced(): void;
  /**
   * Called when the API server refuses to list or watch Namespaces (403: the ServiceAccount
   * lacks the permission, as with upstream's `system:node-proxier` ClusterRole). The handler
   * must then do without Namespace objects; the cache counts Namespaces as synced. Called again
   * on each new refusal; `onNamespacesSynced` (or add/delete) follows if the permission appears.
   */
  onNamespacesUnavailable?(): void;
}
