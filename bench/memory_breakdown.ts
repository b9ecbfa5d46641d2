/**
 * Per-component memory of the proxy's long-lived state at cluster scale, in-process: the V8 heap
 * used and process RSS after forced GCs, step by step: the imports `main.ts` loads, the cache's
 * trimmed objects, the DNS view (`ClusterView`) fed from them, and the proxier's change trackers
 * and applied maps (what `Proxier` holds between syncs). The full sync's transient cost is in
 * `sync_memory.ts`.
 *
 *     deno run -A --v8-flags=--expose-gc bench/memory_breakdown.ts [--services=10000] [--endpoints=10]
 *
 * @module
 */

import { BenchFlags, writeBenchOutput } from "./flags.ts";
import { type MemoryStep, memoryTable, snapshotMemory } from "./sync_memory.ts";
import {
  generateSyntheticCluster,
  SYNTHETIC_NODE_NAME,
  trimSyntheticCluster,
} from "./synthetic.ts";

async function main(): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  const services = flags.number("services", 10000);
  const endpoints = flags.number("endpoints", 10);
  const steps: MemoryStep[] = [snapshotMemory("bench modules only")];
  // The modules main.ts loads (client-node, prom-client, dns-packet, yaml, commander, ...).
  await import("../main.ts");
  steps.push(snapshotMemory("+ main.ts's imports"));
  let raw: ReturnType<typeof generateSyntheticCluster> | undefined = generateSyntheticCluster({
    services,
    endpointsPerService: endpoints,
  });
  // As the cache gets them: each object parsed from JSON, then the cache's own converters.
  const { toEndpointSlice, toService } = await import("../cache/convert.ts");
  const { namespaces, node } = trimSyntheticCluster({ ...raw, services: [], endpointSlices: [] });
  const cluster = {
    namespaces,
    node,
    services: raw.services.map((o) => toService(JSON.parse(JSON.stringify(o)))!),
    endpointSlices: raw.endpointSlices.map((o) => toEndpointSlice(JSON.parse(JSON.stringify(o)))!),
  };
  raw = undefined;
  steps.push(snapshotMemory("+ Services + EndpointSlices through cache/convert.ts (the cache)"));
  const { ClusterView } = await import("../dns/cluster_view.ts");
  const view = new ClusterView();
  for (const ns of cluster.namespaces) view.onNamespaceAdd(ns);
  for (const svc of cluster.services) view.onServiceAdd(svc);
  for (const slice of cluster.endpointSlices) view.onEndpointSliceAdd(slice);
  steps.push(snapshotMemory("+ DNS ClusterView"));
  const { ServiceChangeTracker, applyServiceChanges } = await import(
    "../proxy/service_change_tracker.ts"
  );
  const { EndpointsChangeTracker, applyEndpointsChanges } = await import(
    "../proxy/endpoints_change_tracker.ts"
  );
  const serviceChanges = new ServiceChangeTracker("IPv4");
  const endpointChanges = new EndpointsChangeTracker("IPv4", SYNTHETIC_NODE_NAME);
  for (const svc of cluster.services) serviceChanges.update(undefined, svc);
  steps.push(snapshotMemory("+ proxier service change tracker, pending"));
  for (const slice of cluster.endpointSlices) endpointChanges.update(undefined, slice);
  steps.push(snapshotMemory("+ proxier endpoints change tracker, pending"));
  const servicesMap = new Map();
  const endpointsMap = new Map();
  applyServiceChanges(servicesMap, serviceChanges.checkout());
  applyEndpointsChanges(endpointsMap, endpointChanges.checkout());
  steps.push(snapshotMemory("+ proxier maps applied (trackers emptied)"));
  const md = memoryTable(services, endpoints, steps);
  await writeBenchOutput("memory_breakdown", { services, endpoints, steps }, md);
  console.log(md);
  if (view.serviceCount + servicesMap.size + endpointsMap.size < 0) console.log(cluster);
}

if (import.meta.main) await main();
