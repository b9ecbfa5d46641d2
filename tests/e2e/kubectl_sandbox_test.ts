/**
 * End-to-end: the sandbox driven with the real `kubectl` from the host's own namespace, through
 * the kubeconfig the sandbox writes (`cluster.kubeconfigPath`, the loopback relay to its API
 * server). Applying a Service that selects `app=db` makes the EndpointSlice controller list the db
 * pods and a pod reach them through the allocated ClusterIP; deleting it makes its rules go.
 * Run it as root, serialized with the other namespace tests:
 *
 *     flock /tmp/kp-netns.lock deno test -A --no-check=remote tests/e2e/kubectl_sandbox_test.ts
 */

import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { answeredBy, SandboxCluster } from "../sandbox/cluster.ts";
import { eventually } from "../sandbox/eventually.ts";
import { DB_SERVICE_YAML } from "../sandbox/explore.ts";
import { hasKubectl, kubectl } from "../sandbox/kubectl.ts";

const root = Deno.uid() === 0;

Deno.test({
  name:
    "kubectl apply of a selector Service makes a pod reach it; kubectl delete removes its rules",
  ignore: !root || !(await hasKubectl()),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cluster = await SandboxCluster.start({ mode: "iptables" });
    try {
      for (const proxy of cluster.proxies.values()) {
        assertStringIncludes(await Deno.readTextFile(proxy.configPath), "\nmode: iptables\n");
      }
      const [web] = await cluster.addPods([
        { name: "web", node: "node1" },
        { name: "db-0", node: "node2" },
        { name: "db-1", node: "node1" },
      ]);
      const kc = cluster.kubeconfigPath;
      const got = await kubectl(kc, ["get", "nodes,pods,svc,endpointslices", "-A", "-o", "wide"]);
      for (const text of ["node/node1", "node/node2", "pod/db-0", "10.244."]) {
        assertStringIncludes(got.stdout, text);
      }

      const applied = await kubectl(kc, ["apply", "-f", "-"], { stdin: DB_SERVICE_YAML });
      assertStringIncludes(applied.stdout, "service/db created");
      const again = await kubectl(kc, ["apply", "-f", "-"], { stdin: DB_SERVICE_YAML });
      assertStringIncludes(again.stdout, "service/db unchanged");
      const ip = (await kubectl(kc, ["get", "svc", "db", "-o", "jsonpath={.spec.clusterIP}"]))
        .stdout.trim();
      assert(/^10\.96\.\d+\.\d+$/.test(ip), `allocated ClusterIP ${ip}`);

      await cluster.waitForServiceRules("db");
      const slices = await kubectl(kc, [
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=db",
        "-o",
        "jsonpath={.items[*].endpoints[*].targetRef.name}",
      ]);
      assertEquals(slices.stdout.trim().split(" ").sort(), ["db-0", "db-1"]);
      const seen = await eventually("web to reach both db pods", async () => {
        const rs = await cluster.request(web.netns, "tcp", `${ip}:5432`, 12);
        const names = new Set(rs.map(answeredBy));
        return names.size === 2 && names.has("db-0") && names.has("db-1") ? names : undefined;
      }, 20_000);
      assertEquals([...seen].sort(), ["db-0", "db-1"]);

      const rules = await cluster.proxy("node1").rules();
      const chain = rules.match(
        /-A KUBE-SERVICES .*"default\/db:pg cluster IP".* -j (KUBE-SVC-[A-Z0-9]+)/,
      )?.[1];
      assert(chain, `node1 has a KUBE-SVC chain for default/db:\n${rules}`);

      const deleted = await kubectl(kc, ["delete", "svc", "db"]);
      assertStringIncludes(deleted.stdout, 'service "db" deleted');
      for (const proxy of cluster.proxies.values()) {
        await eventually(`${chain} to go from ${proxy.node.name}`, async () => {
          const now = await proxy.rules();
          return !now.includes(chain) && !now.includes('"default/db:pg') ? true : undefined;
        }, 20_000);
      }
      const after = await kubectl(kc, [
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=db",
        "-o",
        "name",
      ]);
      assertEquals(after.stdout.trim(), "", "the controller deleted the Service's slice");
      const rs = await cluster.request(web.netns, "tcp", `${ip}:5432`, 1);
      assert(!rs[0].ok, "nothing answers the deleted Service's IP");
    } finally {
      await cluster.teardown();
    }
  },
});
