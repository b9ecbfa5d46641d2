/**
 * Test fixtures of the proxier's own model (`types.ts`) and configuration, shared by the tests
 * beside the code in proxy/.
 *
 * @module
 */

import { loadOptions, type Options } from "../config/options.ts";
import type { IPFamily } from "../cache/objects.ts";
import type { ProxierMetrics } from "./proxier.ts";
import type { EndpointInfo, ServicePortInfo } from "./types.ts";

/**
 * A TCP ClusterIP service port `ns1/svc1:p80` on 172.30.1.1:80, changed by `change`.
 *
 * @param change fields to override.
 */
export function servicePortInfo(change: Partial<ServicePortInfo> = {}): ServicePortInfo {
  return {
    portName: { namespace: "ns1", name: "svc1", port: "p80", protocol: "TCP" },
    nameString: "ns1/svc1:p80",
    serviceKey: "ns1/svc1",
    protocol: "tcp",
    family: "IPv4",
    clusterIP: "172.30.1.1",
    port: 80,
    nodePort: 0,
    externalIPs: [],
    loadBalancerVIPs: [],
    loadBalancerSourceRanges: [],
    stickyMaxAgeSeconds: 0,
    externalPolicyLocal: false,
    internalPolicyLocal: false,
    healthCheckNodePort: 0,
    ...change,
  };
}

/**
 * A ready, remote endpoint `ip:80`, changed by `change`.
 *
 * @param ip its address.
 * @param change fields to override.
 */
export function endpointInfo(ip: string, change: Partial<EndpointInfo> = {}): EndpointInfo {
  return {
    endpoint: `${ip}:80`,
    ip,
    port: 80,
    isLocal: false,
    ready: true,
    serving: true,
    terminating: false,
    zoneHints: [],
    nodeHints: [],
    ...change,
  };
}

/**
 * The options as loaded from these flags, with no `--config` file and hostname `node-1`.
 *
 * @param args command-line flags.
 */
export async function configOf(...args: string[]): Promise<Options> {
  return await loadOptions(args, {
    readTextFile: () => Promise.reject(new Deno.errors.NotFound("no file")),
    hostname: () => "node-1",
    configureLogging: () => {},
  });
}

/** {@linkcode ProxierMetrics} that record nothing: tests extend it with what they observe. */
export class NoProxierMetrics implements ProxierMetrics {
  /** @inheritdoc */
  observeSyncDuration(_family: IPFamily, _seconds: number, _opts: { full: boolean }): void {}
  /** @inheritdoc */
  setLastSyncTimestamp(_family: IPFamily, _ms?: number): void {}
  /** @inheritdoc */
  setLastQueuedTimestamp(_family: IPFamily, _ms?: number): void {}
  /** @inheritdoc */
  setEndpointChangesPending(_n: number): void {}
  /** @inheritdoc */
  incEndpointChanges(_n?: number): void {}
  /** @inheritdoc */
  setServiceChangesPending(_n: number): void {}
  /** @inheritdoc */
  incServiceChanges(_n?: number): void {}
  /** @inheritdoc */
  setNoLocalEndpoints(_family: IPFamily, _policy: "internal" | "external", _n: number): void {}
  /** @inheritdoc */
  observeConntrackCleanup(_family: IPFamily, _seconds: number, _deleted: number): void {}
  /** @inheritdoc */
  observeNetworkProgrammingLatency(_family: IPFamily, _seconds: number): void {}
}
