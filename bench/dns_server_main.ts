/**
 * The DNS responder alone, fed the synthetic cluster, for `dns_perf.ts`: builds a ClusterView from
 * the trimmed objects (plus `kube-system/kube-dns` and the `default` namespace that the perf-tests
 * query files name), starts `DnsServer` on 127.0.0.1, prints `PORT <n>` on stdout and serves
 * until SIGTERM or SIGINT. A separate process, so dnsperf measures the server and not the bench.
 *
 *     deno run -A bench/dns_server_main.ts --services=1000 --endpoints=10 [--answer-cache=10000]
 *
 * @module
 */

import { ClusterView } from "../dns/cluster_view.ts";
import { DnsServer } from "../dns/server.ts";
import { BenchFlags } from "./flags.ts";
import { generateSyntheticCluster, trimSyntheticCluster } from "./synthetic.ts";
import { perfTestsExtraObjects } from "./dns_zone.ts";

async function main(): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  const cluster = trimSyntheticCluster(generateSyntheticCluster({
    services: flags.number("services", 1000),
    endpointsPerService: flags.number("endpoints", 10),
  }));
  const extra = perfTestsExtraObjects();
  const view = new ClusterView({ watchNamespaces: true });
  for (const ns of [...cluster.namespaces, ...extra.namespaces]) view.onNamespaceAdd(ns);
  for (const svc of [...cluster.services, ...extra.services]) view.onServiceAdd(svc);
  for (const sl of [...cluster.endpointSlices, ...extra.endpointSlices]) {
    view.onEndpointSliceAdd(sl);
  }
  view.onNamespacesSynced();
  view.onServicesSynced();
  view.onEndpointSlicesSynced();
  const server = new DnsServer(view, {
    bindAddress: "127.0.0.1",
    port: flags.number("port", 0),
    clusterDomain: "cluster.local",
    ttl: 5,
    podRecords: "insecure",
    upstreamServers: ["127.0.0.1:9"],
    forwardTimeoutMs: 1000,
    maxConcurrentForwards: 100,
    tcpIdleTimeoutMs: 10000,
    answerCacheSize: flags.number("answer-cache", 10000),
  });
  await server.start();
  console.log(`PORT ${server.address.udpPort}`);
  const stop = () => {
    server.stop().finally(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}

if (import.meta.main) await main();
