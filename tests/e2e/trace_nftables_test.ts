/**
 * End-to-end, nftables mode: the trace scenario of `trace_flows.ts` (ClusterIP, NodePort,
 * LoadBalancer source ranges, a Service without endpoints, externalTrafficPolicy Local) on sandbox
 * nodes whose proxies run in nftables mode; `main.ts trace` detects the `kube-proxy` table and
 * reads it with `nft list table`, and must agree with where real traffic goes.
 */

import { NFTABLES_TEXTS, traceAgreesWithTraffic } from "./trace_flows.ts";

Deno.test({
  name: "kube-proxy trace agrees with where real traffic goes on nftables-mode sandbox nodes",
  ignore: Deno.uid() !== 0,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) => traceAgreesWithTraffic(t, "nftables", NFTABLES_TEXTS),
});
