/**
 * Per-service health check servers on `healthCheckNodePort`, as upstream's `ServiceHealthServer`.
 *
 * A Service of type LoadBalancer with `externalTrafficPolicy: Local` gets a health check node port;
 * the cloud load balancer probes it on every node and sends traffic only to nodes that answer 200,
 * i.e. nodes with at least one ready local endpoint (and a healthy proxy). After every successful
 * sync the proxier calls {@linkcode ServiceHealthServer.syncServices} with the services that need
 * a server, then {@linkcode ServiceHealthServer.syncEndpoints} with their local endpoint counts.
 *
 * One HTTP listener is opened per service and listen address: all addresses when
 * `nodePortAddresses` is unset, else each local IP matching it. A listen failure closes that
 * service's listeners, is logged and reported as a `FailedToStartServiceHealthcheck` event, and is
 * retried on the next sync.
 *
 * @module
 */

import { log } from "../config/log.ts";
import { cidrContains } from "./net.ts";

/** An event about a Service, for the caller's event recorder. */
export interface ServiceEvent {
  /** `namespace/name` of the Service. */
  service: string;
  type: "Warning" | "Normal";
  reason: string;
  action: string;
  message: string;
}

/** Options of {@linkcode ServiceHealthServer}. */
export interface ServiceHealthServerOptions {
  /** This node's name, used in event messages. */
  hostname: string;
  /**
   * IPs to listen on (local IPs matching nodePortAddresses, see {@linkcode nodeAddressesFor});
   * empty or unset means all addresses.
   */
  addresses?: readonly string[];
  /** The proxy's health (`ProxierHealthServer.health().healthy`); healthy when unset. */
  proxyHealthy?: () => boolean;
  /** Receives `FailedToStartServiceHealthcheck` events. */
  onEvent?: (event: ServiceEvent) => void;
}

interface HealthCheckInstance {
  namespace: string;
  name: string;
  port: number;
  endpoints: number;
  servers: Deno.HttpServer<Deno.NetAddr>[];
}

const HEADERS = {
  "Content-Type": "application/json",
  "X-Content-Type-Options": "nosniff",
};

/**
 * The local IPs a health check server listens on for the given `nodePortAddresses`.
 *
 * @param nodePortAddresses CIDRs from the configuration (already per family or mixed).
 * @param interfaceAddresses The node's IPs; `Deno.networkInterfaces()` by default.
 * @returns Matching IPs, or [] (meaning "all addresses") when `nodePortAddresses` is empty or
 *   contains a match-all CIDR.
 * @example
 * ```ts
 * nodeAddressesFor(["192.168.0.0/24"], ["127.0.0.1", "192.168.0.2"]); // ["192.168.0.2"]
 * ```
 */
export function nodeAddressesFor(
  nodePortAddresses: readonly string[],
  interfaceAddresses?: readonly string[],
): string[] {
  if (nodePortAddresses.length === 0) return [];
  if (nodePortAddresses.some((c) => c === "0.0.0.0/0" || c === "::/0")) return [];
  const ips = interfaceAddresses ?? Deno.networkInterfaces().map((i) => i.address);
  const out: string[] = [];
  for (const ip of ips) {
    if (out.includes(ip)) continue;
    if (nodePortAddresses.some((cidr) => cidrContains(cidr, ip))) out.push(ip);
  }
  return out;
}

/**
 * Opens, answers and closes the health check node port servers.
 *
 * @example
 * ```ts
 * const hc = new ServiceHealthServer({ hostname: "node1", proxyHealthy: () => healthz.health().healthy });
 * await hc.syncServices(new Map([["ns1/svc1", 30000]]));
 * hc.syncEndpoints(new Map([["ns1/svc1", 2]]));
 * ```
 */
export class ServiceHealthServer {
  #opts: ServiceHealthServerOptions;
  #services = new Map<string, HealthCheckInstance>();

  /** @param opts Node name, addresses, proxy health and event sink. */
  constructor(opts: ServiceHealthServerOptions) {
    this.#opts = opts;
  }

  /** The services with open listeners and their ports (for tests and logs). */
  listening(): Map<string, number> {
    return new Map([...this.#services].map(([k, v]) => [k, v.port]));
  }

  /**
   * Makes the set of servers match `services`: closes servers of services that are gone or whose
   * port changed, opens servers for new ones. Never throws; listen failures are reported.
   *
   * @param services `namespace/name` → healthCheckNodePort.
   */
  async syncServices(services: Map<string, number>): Promise<void> {
    for (const [key, hc] of [...this.#services]) {
      if (services.get(key) === hc.port) continue;
      log.v(2).info("Closing healthcheck", { service: key, port: hc.port });
      this.#services.delete(key);
      await closeAll(hc.servers);
    }
    for (const [key, port] of services) {
      if (this.#services.has(key)) continue;
      const slash = key.indexOf("/");
      const hc: HealthCheckInstance = {
        namespace: key.slice(0, slash),
        name: key.slice(slash + 1),
        port,
        endpoints: 0,
        servers: [],
      };
      try {
        this.#listenAll(hc);
      } catch (err) {
        await closeAll(hc.servers);
        const reason = err instanceof Error ? err.message : String(err);
        const message = `node ${this.#opts.hostname} failed to start healthcheck "${key}" ` +
          `on port ${port}: ${reason}`;
        log.error("Failed to start healthcheck", err, {
          node: this.#opts.hostname,
          service: key,
          port,
        });
        this.#opts.onEvent?.({
          service: key,
          type: "Warning",
          reason: "FailedToStartServiceHealthcheck",
          action: "Listen",
          message,
        });
        continue;
      }
      log.v(2).info("Opening healthcheck", { service: key, port });
      this.#services.set(key, hc);
    }
  }

  /**
   * Sets the number of ready local endpoints of each service; services not in the map get 0.
   *
   * @param endpoints `namespace/name` → distinct ready local endpoint IPs.
   */
  syncEndpoints(endpoints: Map<string, number>): void {
    for (const [key, hc] of this.#services) hc.endpoints = endpoints.get(key) ?? 0;
  }

  /** Closes every listener. */
  async stop(): Promise<void> {
    const all = [...this.#services.values()];
    this.#services.clear();
    for (const hc of all) await closeAll(hc.servers);
  }

  #listenAll(hc: HealthCheckInstance): void {
    const handler = () => this.#answer(hc);
    const addresses = this.#opts.addresses ?? [];
    if (addresses.length === 0) {
      // As Go's listener on 0.0.0.0, accept on every IPv4 and IPv6 address; a node without IPv6
      // falls back to IPv4 only.
      try {
        hc.servers.push(serve("::", hc.port, handler));
      } catch (err) {
        if (err instanceof Deno.errors.AddrInUse) throw err;
        hc.servers.push(serve("0.0.0.0", hc.port, handler));
      }
      return;
    }
    for (const ip of addresses) hc.servers.push(serve(ip, hc.port, handler));
  }

  #answer(hc: HealthCheckInstance): Response {
    const healthy = this.#opts.proxyHealthy?.() ?? true;
    const body = {
      service: { namespace: hc.namespace, name: hc.name },
      localEndpoints: hc.endpoints,
      serviceProxyHealthy: healthy,
    };
    return new Response(JSON.stringify(body, null, "\t"), {
      status: hc.endpoints !== 0 && healthy ? 200 : 503,
      headers: { ...HEADERS, "X-Load-Balancing-Endpoint-Weight": String(hc.endpoints) },
    });
  }
}

function serve(
  hostname: string,
  port: number,
  handler: () => Response,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname, port, onListen: () => {} }, handler);
}

async function closeAll(servers: Deno.HttpServer<Deno.NetAddr>[]): Promise<void> {
  for (const s of servers) {
    try {
      await s.shutdown();
    } catch {
      // Already closed.
    }
  }
  servers.length = 0;
}
