/**
 * End-to-end, nftables mode: the trace scenario of `trace_flows.ts` (ClusterIP, NodePort,
 * LoadBalancer source ranges, a Service without endpoints, externalTrafficPolicy Local) on sandbox
 * nodes whose proxies run in nftables mode; `main.ts trace` detects the `kube-proxy` table and
 * reads it with `nft list table`, and must agree with where real traffic goes.
 */

import { NFTABLES_TEXTS, traceAgreesWithTraffic } from "./trace_flows.ts";
import { sandboxTest } from "./sandbox_case.ts";

sandboxTest(
  "kube-proxy trace agrees with where real traffic goes on nftables-mode sandbox nodes",
  (cluster, t) => traceAgreesWithTraffic(cluster, t, NFTABLES_TEXTS),
  { cluster: { mode: "nftables" } },
);
