/**
 * End-to-end: `main.ts trace` run inside sandbox nodes against the rules the real proxies wrote,
 * compared with where real traffic goes. For each kind of Service the trace's verdict, endpoints
 * and masquerading must agree with what pods and the underlay client see: ClusterIP spreading,
 * NodePort masquerading, LoadBalancer source ranges (allowed and refused sources), a Service
 * without endpoints (REJECT), and externalTrafficPolicy Local seen from a node without a local
 * endpoint (DROP) and from one with it (source kept). One sandbox cluster serves every step.
 */

import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { answeredBy, SandboxCluster, seenSource } from "../sandbox/cluster.ts";
import { makeEndpointSlice, makeService, type ServiceOptions } from "../sandbox/cluster_objects.ts";
import type { ApiObject } from "../sandbox/api_server.ts";
import { eventually } from "../sandbox/eventually.ts";
import { repoPath, type SandboxPod, UNDERLAY_CLIENT_IP } from "../sandbox/sandbox.ts";
import { EXIT_DELIVERED, EXIT_DROPPED, EXIT_REJECTED } from "../../proxy/trace/trace_result.ts";
import type { TraceReport } from "../../proxy/trace/render.ts";

const root = Deno.uid() === 0;

/** Runs `main.ts trace` in a node's namespace with the node's kubeconfig and name. */
async function traceOn(
  cluster: SandboxCluster,
  nodeName: string,
  args: string[],
): Promise<{ code: number; report: TraceReport; text: string }> {
  const node = cluster.sb.node(nodeName);
  const proxy = cluster.proxy(nodeName);
  const base = [
    Deno.execPath(),
    "run",
    "-A",
    repoPath("main.ts"),
    "trace",
    "--kubeconfig",
    proxy.kubeconfigPath,
    "--hostname-override",
    nodeName,
    ...args,
  ];
  const json = await cluster.sb.exec(node.netns, [...base, "-o", "json"]);
  assert(json.stdout.startsWith("{"), `trace printed no report: ${json.stderr}`);
  const text = await cluster.sb.exec(node.netns, base);
  assertEquals(text.code, json.code, text.stderr);
  return { code: json.code, report: JSON.parse(json.stdout), text: text.stdout };
}

/** Two TCP requests from the underlay client, once both are answered (the rules may lag). */
function answersFromClient(cluster: SandboxCluster, target: string) {
  return eventually(`${target} answers the underlay client`, async () => {
    const r = await cluster.request(cluster.sb.clientNetns, "tcp", target, 2);
    return r.every((x) => x.ok) ? r : undefined;
  }, 10_000);
}

function ipsOf(report: TraceReport): string[] {
  return report.trace.endpoints.map((e) => e.destination.split(":")[0]).sort();
}

Deno.test({
  name: "kube-proxy trace agrees with where real traffic goes on sandbox nodes",
  ignore: !root,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cluster = await SandboxCluster.start();
    try {
      const sb = cluster.sb;
      const [client, b0, b1, b2, local0] = await cluster.addPods([
        { name: "client", node: "node1" },
        { name: "b-0", node: "node1" },
        { name: "b-1", node: "node2" },
        { name: "b-2", node: "node2" },
        { name: "local-0", node: "node2" },
      ]);
      const byName = new Map([b0, b1, b2, local0].map((p) => [p.name, p.ip]));
      const [node1, node2] = sb.nodes;
      const apply = async (
        name: string,
        opts: ServiceOptions,
        pods: SandboxPod[],
        edit?: (svc: ApiObject) => void,
      ) => {
        const svc = makeService(name, opts);
        edit?.(svc);
        await cluster.api.apply(svc);
        await cluster.api.apply(makeEndpointSlice(svc, pods));
      };

      await t.step(
        "ClusterIP: the trace's endpoints and shares are where connections go",
        async () => {
          await apply(
            "spread",
            { clusterIP: "10.96.2.1", ports: [{ port: 80, targetPort: 8080 }] },
            [b0, b1, b2],
          );
          await cluster.waitForServiceRules("spread");
          const tr = await traceOn(cluster, "node1", [
            "--from",
            client.ip,
            "--to",
            "10.96.2.1:80/tcp",
          ]);
          assertEquals(tr.code, EXIT_DELIVERED, tr.text);
          assertEquals(ipsOf(tr.report), [b0.ip, b1.ip, b2.ip].sort());
          for (const e of tr.report.trace.endpoints) {
            assert(Math.abs(e.share - 1 / 3) < 1e-6, tr.text);
          }
          assertStringIncludes(tr.text, "default/spread cluster IP");
          const seen = (await cluster.request(client.netns, "tcp", "10.96.2.1:80", 30)).map(
            answeredBy,
          );
          assertEquals(
            [...new Set(seen.map((n) => byName.get(n!)))].sort(),
            ipsOf(tr.report),
          );
          // Pod to pod: neither the trace nor the endpoint sees a masquerade.
          assertEquals(tr.report.trace.endpoints.map((e) => e.masqueraded), [false, false, false]);
          const sources = (await cluster.request(client.netns, "tcp", "10.96.2.1:80", 3)).map(
            seenSource,
          );
          assertEquals([...new Set(sources)], [client.ip]);
          // By name, through the API server: the same answer.
          const named = await traceOn(cluster, "node1", [
            "--from",
            client.ip,
            "--to",
            "spread.default:80",
          ]);
          assertEquals(ipsOf(named.report), ipsOf(tr.report));
        },
      );

      await t.step("NodePort from the underlay: masqueraded as the trace says", async () => {
        await apply("np", {
          clusterIP: "10.96.2.2",
          type: "NodePort",
          ports: [{ port: 80, targetPort: 8080, nodePort: 30091 }],
        }, [b0]);
        await cluster.waitForServiceRules("np");
        const tr = await traceOn(cluster, "node2", [
          "--from",
          UNDERLAY_CLIENT_IP,
          "--to",
          `${node2.ip}:30091`,
        ]);
        assertEquals(tr.code, EXIT_DELIVERED, tr.text);
        assertEquals(ipsOf(tr.report), [b0.ip]);
        assertEquals(tr.report.trace.endpoints[0].masqueraded, true);
        assertStringIncludes(tr.text, "externalTrafficPolicy Cluster");
        const rs = await answersFromClient(cluster, `${node2.ip}:30091`);
        assertEquals(rs.map(answeredBy), ["b-0", "b-0"]);
        assertEquals([...new Set(rs.map(seenSource))], [node2.ip]);
      });

      await t.step(
        "LoadBalancer source ranges: the trace accepts and drops whom the kernel does",
        async () => {
          await apply(
            "lb",
            {
              clusterIP: "10.96.2.3",
              type: "LoadBalancer",
              ports: [{ port: 80, targetPort: 8080, nodePort: 30092 }],
            },
            [b1],
            (svc) => {
              svc.spec.loadBalancerSourceRanges = [`${UNDERLAY_CLIENT_IP}/32`];
              svc.status = { loadBalancer: { ingress: [{ ip: "10.201.0.3" }] } };
            },
          );
          await cluster.waitForServiceRules("lb");
          const route = await sb.exec(sb.clientNetns, [
            "ip",
            "route",
            "add",
            "10.201.0.0/24",
            "via",
            node1.ip,
          ]);
          assertEquals(route.code, 0, route.stderr);
          const allowed = await traceOn(cluster, "node1", [
            "--from",
            UNDERLAY_CLIENT_IP,
            "--to",
            "10.201.0.3:80",
          ]);
          assertEquals(allowed.code, EXIT_DELIVERED, allowed.text);
          assertEquals(ipsOf(allowed.report), [b1.ip]);
          const rs = await answersFromClient(cluster, "10.201.0.3:80");
          assertEquals(rs.map(answeredBy), ["b-1", "b-1"]);
          // A pod on node1 is not in the source ranges.
          const refused = await traceOn(cluster, "node1", [
            "--from",
            client.ip,
            "--to",
            "10.201.0.3:80",
          ]);
          assertEquals(refused.code, EXIT_DROPPED, refused.text);
          assertStringIncludes(refused.text, "KUBE-PROXY-FIREWALL");
          const dropped = await cluster.request(client.netns, "tcp", "10.201.0.3:80", 2);
          assertEquals(dropped.map((r) => r.ok), [false, false], JSON.stringify(dropped));
        },
      );

      await t.step(
        "a Service without endpoints: the trace says REJECT and connections are refused",
        async () => {
          await apply(
            "empty",
            { clusterIP: "10.96.2.4", ports: [{ port: 80, targetPort: 8080 }] },
            [],
          );
          for (const p of cluster.proxies.values()) {
            await p.waitForRules(/"default\/empty has no endpoints"/, 30_000);
          }
          const tr = await traceOn(cluster, "node1", [
            "--from",
            client.ip,
            "--to",
            "10.96.2.4:80",
            "--explain",
          ]);
          assertEquals(tr.code, EXIT_REJECTED, tr.text);
          assertEquals(tr.report.trace.outcome, "rejected");
          assertStringIncludes(tr.text, "no endpoints at all");
          const rs = await cluster.request(client.netns, "tcp", "10.96.2.4:80", 2);
          assertEquals(
            rs.map((r) => r.ok),
            [false, false],
            JSON.stringify(rs),
          );
          assert(rs.every((r) => /refused/i.test(r.error ?? "")), JSON.stringify(rs));
        },
      );

      await t.step(
        "externalTrafficPolicy Local: DROP on a node without a local endpoint, source kept on the other",
        async () => {
          await apply("local", {
            clusterIP: "10.96.2.5",
            type: "NodePort",
            externalTrafficPolicy: "Local",
            ports: [{ port: 80, targetPort: 8080, nodePort: 30093 }],
          }, [local0]);
          await cluster.waitForServiceRules("local");
          const without = await traceOn(cluster, "node1", [
            "--from",
            UNDERLAY_CLIENT_IP,
            "--to",
            `${node1.ip}:30093`,
            "--explain",
          ]);
          assertEquals(without.code, EXIT_DROPPED, without.text);
          assertStringIncludes(without.text, "has no local endpoints");
          assertStringIncludes(without.text, "not on this node (node1)");
          const dropped = await cluster.request(sb.clientNetns, "tcp", `${node1.ip}:30093`, 2);
          assertEquals(dropped.map((r) => r.ok), [false, false], JSON.stringify(dropped));

          const withLocal = await traceOn(cluster, "node2", [
            "--from",
            UNDERLAY_CLIENT_IP,
            "--to",
            `${node2.ip}:30093`,
          ]);
          assertEquals(withLocal.code, EXIT_DELIVERED, withLocal.text);
          assertEquals(ipsOf(withLocal.report), [local0.ip]);
          assertEquals(withLocal.report.trace.endpoints[0].masqueraded, false);
          assertStringIncludes(withLocal.text, "traffic policy Local");
          const rs = await answersFromClient(cluster, `${node2.ip}:30093`);
          assertEquals(rs.map(answeredBy), ["local-0", "local-0"]);
          assertEquals([...new Set(rs.map(seenSource))], [UNDERLAY_CLIENT_IP]);
        },
      );
    } finally {
      await cluster.teardown();
    }
  },
});
