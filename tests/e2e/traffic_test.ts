/**
 * End-to-end: real TCP and UDP traffic from pod namespaces through the iptables rules that
 * `main.ts` writes in each sandbox node, against the API server fixture: the steps of
 * `traffic_steps.ts` (`nftables_test.ts` runs the same in nftables mode). One sandbox cluster is
 * shared by every step of this file; each step sets up its own Service.
 */

import { addSpreadPods, sandboxTest } from "./sandbox_case.ts";
import { serviceTrafficSteps } from "./traffic_steps.ts";

sandboxTest(
  "main.ts in two sandbox nodes forwards Service traffic as kube-proxy does",
  async (cluster, t) => {
    const pods = await addSpreadPods(cluster);
    await serviceTrafficSteps(cluster, t, pods, (name) => cluster.waitForServiceRules(name));
  },
);
