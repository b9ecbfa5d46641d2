/**
 * Start-up of the cluster DNS responder: builds the `ClusterView` and the `ClientFilter`,
 * registers them on the watch cache, and starts the `DnsServer`. A disabled responder (no
 * `ClusterDNSConfiguration` document) and a failed bind are logged, never fatal: the proxy's job
 * does not depend on DNS.
 *
 * @module
 */

import type {
  EndpointSliceHandler,
  NamespaceHandler,
  NodeHandler,
  ServiceHandler,
} from "../cache/handlers.ts";
import { splitCIDRList } from "../config/ip.ts";
import { log } from "../config/log.ts";
import type { ClusterDNSConfiguration, KubeProxyConfiguration } from "../config/types.ts";
import { ClientFilter } from "./client_filter.ts";
import { ClusterView } from "./cluster_view.ts";
import type { DnsMetrics } from "./metrics.ts";
import { DnsServer } from "./server.ts";

/** The part of the watch cache the responder registers on (`cache/cache.ts` `ClusterCache`). */
export interface DnsHandlerRegistry {
  /** Registers a Service handler (before the cache starts). */
  addServiceHandler(handler: ServiceHandler): void;
  /** Registers an EndpointSlice handler (before the cache starts). */
  addEndpointSliceHandler(handler: EndpointSliceHandler): void;
  /** Registers a Namespace handler (before the cache starts). */
  addNamespaceHandler(handler: NamespaceHandler): void;
  /** Registers a handler of this proxy's Node (before the cache starts). */
  addNodeHandler(handler: NodeHandler): void;
}

/**
 * Starts the cluster DNS responder the DNS document asks for.
 *
 * @param cache Where the view and the client filter follow Services, slices, Namespaces and Node.
 * @param config The proxy's configuration (its `clusterCIDR` are the pods allowed to ask).
 * @param dns The DNS document.
 * @param metrics Where the server records its queries.
 * @returns The started server, or `undefined` when DNS is disabled or the server could not bind
 *   (both logged).
 */
export async function startDnsResponder(
  cache: DnsHandlerRegistry,
  config: KubeProxyConfiguration,
  dns: ClusterDNSConfiguration,
  metrics: DnsMetrics,
): Promise<DnsServer | undefined> {
  if (!dns.enabled) {
    log.info(
      "Cluster DNS responder disabled, no DNS port opened; to turn it on, add a document " +
        "'apiVersion: dns.kubeproxy.config/v1alpha1, kind: ClusterDNSConfiguration' to the " +
        "--config file (see config/README.md)",
    );
    return undefined;
  }
  const view = new ClusterView();
  cache.addServiceHandler(view);
  cache.addEndpointSliceHandler(view);
  cache.addNamespaceHandler(view);
  // Only this cluster's clients are answered: pod CIDRs (the Node's follow its events), node
  // addresses, loopback and `allowedClients`.
  const clients = new ClientFilter({
    clusterCIDRs: splitCIDRList(config.clusterCIDR),
    allowedClients: dns.allowedClients,
  });
  cache.addNodeHandler(clients);
  if (config.clusterCIDR === "" && dns.allowedClients.length === 0) {
    log.warn(
      "Cluster DNS answers only this Node's podCIDRs, its addresses and loopback: set " +
        "clusterCIDR or the DNS document's allowedClients if pods get addresses elsewhere",
    );
  }
  const server = new DnsServer(view, {
    bindAddress: dns.bindAddress,
    port: dns.port,
    clusterDomain: dns.clusterDomain,
    ttl: dns.ttl,
    podRecords: dns.podRecords,
    upstreamServers: dns.upstreamServers,
    forwardTimeoutMs: dns.forwardTimeout,
    maxConcurrentForwards: dns.maxConcurrentForwards,
    tcpIdleTimeoutMs: dns.tcpIdleTimeout,
    nsAddresses: dns.serviceIPs.length > 0 ? dns.serviceIPs : undefined,
    metrics,
    clients,
  });
  try {
    await server.start();
    return server;
  } catch (err) {
    // Not fatal: the proxy's job does not depend on it. No interception without a responder.
    log.error("Failed to start the cluster DNS responder, continuing without it", err, {
      address: `${dns.bindAddress}:${dns.port}`,
    });
    return undefined;
  }
}
