/**
 * The names of the DNS benchmark, for both servers: the objects the perf-tests query files need
 * beyond the synthetic cluster (`kube-dns.kube-system`, the `default` namespace), the four query
 * mixes of kubernetes/perf-tests `dns/` (one service, NXDOMAIN, pod IP, 20 services), and an NSD
 * zone file with the same cluster.local records our responder answers from the cache.
 *
 * @module
 */

import type { EndpointSlice, Namespace, Service } from "../cache/objects.ts";
import type { TrimmedCluster } from "./synthetic.ts";
import { makeService } from "../tests/fixtures.ts";

/** Cluster IP of `kube-system/kube-dns` in the benchmark. */
export const KUBE_DNS_IP = "10.96.0.2";

/** The extra objects: the `default` and `kube-system` namespaces and the kube-dns service. */
export function perfTestsExtraObjects(): {
  namespaces: Namespace[];
  services: Service[];
  endpointSlices: EndpointSlice[];
} {
  const kubeDns = makeService("kube-system", "kube-dns", (svc) => {
    svc.clusterIPs = [KUBE_DNS_IP];
    svc.ports = [
      { name: "dns", protocol: "UDP", port: 53, targetPort: 53, nodePort: 0 },
      { name: "dns-tcp", protocol: "TCP", port: 53, targetPort: 53, nodePort: 0 },
    ];
  });
  return {
    namespaces: [
      { name: "default", resourceVersion: "1" },
      { name: "kube-system", resourceVersion: "1" },
    ],
    services: [kubeDns],
    endpointSlices: [],
  };
}

/** The four query mixes, as dnsperf data files (name type per line). */
export function queryMixes(cluster: TrimmedCluster): Record<string, string> {
  const twenty = cluster.services.filter((s) => !s.headless).slice(0, 20)
    .map((s) => `${s.name}.${s.namespace}.svc.cluster.local A`);
  return {
    "service": "kube-dns.kube-system.svc.cluster.local A\n",
    "nx-domain": "no-such-thing.default.svc.cluster.local A\n",
    "pod-ip": "1-2-3-4.default.pod.cluster.local A\n",
    "multiple-svc": twenty.join("\n") + "\n",
  };
}

/**
 * An NSD zone file for cluster.local with the A records of every service (cluster IP, or the
 * ready endpoints of a headless one), the pod record the pod-ip mix asks for, SOA and NS.
 */
export function renderNsdZone(cluster: TrimmedCluster): string {
  const lines = [
    "$ORIGIN cluster.local.",
    "$TTL 5",
    "@ IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5",
    "@ IN NS ns.dns.cluster.local.",
    "ns.dns IN A 127.0.0.1",
    `kube-dns.kube-system.svc IN A ${KUBE_DNS_IP}`,
    "1-2-3-4.default.pod IN A 1.2.3.4",
  ];
  const slicesBy = new Map<string, EndpointSlice[]>();
  for (const s of cluster.endpointSlices) {
    const k = `${s.namespace}/${s.serviceName}`;
    slicesBy.set(k, [...(slicesBy.get(k) ?? []), s]);
  }
  for (const svc of cluster.services) {
    const owner = `${svc.name}.${svc.namespace}.svc`;
    if (!svc.headless) {
      for (const ip of svc.clusterIPs) lines.push(`${owner} IN A ${ip}`);
      continue;
    }
    for (const sl of slicesBy.get(`${svc.namespace}/${svc.name}`) ?? []) {
      for (const ep of sl.endpoints) {
        if (ep.ready) lines.push(`${owner} IN A ${ep.addresses[0]}`);
      }
    }
  }
  return lines.join("\n") + "\n";
}
