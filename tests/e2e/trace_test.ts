/**
 * End-to-end, iptables mode: the trace scenario of `trace_flows.ts` (ClusterIP, NodePort,
 * LoadBalancer source ranges, a Service without endpoints, externalTrafficPolicy Local) on sandbox
 * nodes whose proxies run in iptables mode; `main.ts trace` reads `iptables-save` and must agree
 * with where real traffic goes.
 */

import { IPTABLES_TEXTS, traceAgreesWithTraffic } from "./trace_flows.ts";
import { sandboxTest } from "./sandbox_case.ts";

sandboxTest(
  "kube-proxy trace agrees with where real traffic goes on sandbox nodes",
  (cluster, t) => traceAgreesWithTraffic(cluster, t, IPTABLES_TEXTS),
);
