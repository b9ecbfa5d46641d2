/**
 * End-to-end: real TCP and UDP traffic from pod namespaces through the iptables rules that
 * `main.ts` writes in each sandbox node, against the API server fixture. One sandbox cluster is
 * shared by every step of this file; each step sets up its own Service.
 */

import { addSpreadPods, sandboxTest } from "./sandbox_case.ts";
import { assert, assertEquals } from "../assert.ts";
import { answeredBy, seenSource } from "../sandbox/cluster.ts";
import { eventually } from "../sandbox/eventually.ts";
import { UNDERLAY_CLIENT_IP } from "../sandbox/sandbox.ts";

function names(results: { ok: boolean; reply?: string }[]): string[] {
  return results.map((r) => answeredBy(r) ?? `(failed: ${JSON.stringify(r)})`);
}

sandboxTest(
  "main.ts in two sandbox nodes forwards Service traffic as kube-proxy does",
  async (cluster, t) => {
    const sb = cluster.sb;
    const { client, b0, b1, b2, local0 } = await addSpreadPods(cluster);
    const backends = [b0, b1, b2];
    const backendNames = backends.map((p) => p.name);

    await t.step("ClusterIP: traffic spreads over all endpoints on both nodes", async () => {
      await cluster.applyService("spread", {
        clusterIP: "10.96.1.1",
        ports: [{ port: 80, targetPort: 8080 }],
      }, backends);
      await cluster.waitForServiceRules("spread");
      const seen = names(await cluster.request(client.netns, "tcp", "10.96.1.1:80", 30));
      assert(seen.every((n) => backendNames.includes(n)), seen.join(","));
      assertEquals([...new Set(seen)].sort(), backendNames);
    });

    await t.step("ClusterIP: pod-to-pod traffic keeps the client's pod IP", async () => {
      const rs = await cluster.request(client.netns, "tcp", "10.96.1.1:80", 5);
      assertEquals([...new Set(rs.map(seenSource))], [client.ip]);
    });

    await t.step("session affinity ClientIP: one client sticks to one endpoint", async () => {
      await cluster.applyService("sticky", {
        clusterIP: "10.96.1.2",
        sessionAffinity: "ClientIP",
        ports: [{ port: 80, targetPort: 8080 }],
      }, backends);
      await cluster.waitForServiceRules("sticky");
      const seen = names(await cluster.request(client.netns, "tcp", "10.96.1.2:80", 12));
      assertEquals(seen.length, 12);
      assertEquals(new Set(seen).size, 1, seen.join(","));
      assert(backendNames.includes(seen[0]), seen[0]);
    });

    await t.step("UDP through a ClusterIP reaches the endpoints", async () => {
      await cluster.applyService("udp", {
        clusterIP: "10.96.1.3",
        ports: [{ port: 5353, targetPort: 8080, protocol: "UDP" }],
      }, backends);
      await cluster.waitForServiceRules("udp");
      const seen = names(await cluster.request(client.netns, "udp", "10.96.1.3:5353", 30));
      assert(seen.every((n) => backendNames.includes(n)), seen.join(","));
      assertEquals([...new Set(seen)].sort(), backendNames);
    });

    await t.step("an EndpointSlice change is followed within a sync", async () => {
      const svc = await cluster.applyService("moving", {
        clusterIP: "10.96.1.4",
        ports: [{ port: 80, targetPort: 8080 }],
      }, [b0]);
      await cluster.waitForServiceRules("moving");
      assertEquals(names(await cluster.request(client.netns, "tcp", "10.96.1.4:80", 3)), [
        "b-0",
        "b-0",
        "b-0",
      ]);
      await cluster.setEndpoints(svc, [b2]);
      // Bounded polling: the proxies sync at most every 200 ms (minSyncPeriod).
      const after = await eventually("traffic to move to b-2", async () => {
        const rs = names(await cluster.request(client.netns, "tcp", "10.96.1.4:80", 5));
        return rs.every((n) => n === "b-2") ? rs : undefined;
      }, 10_000);
      assertEquals(after.length, 5);
    });

    await t.step("NodePort from the underlay, served by a pod on the other node", async () => {
      await cluster.applyService("np", {
        clusterIP: "10.96.1.5",
        type: "NodePort",
        ports: [{ port: 80, targetPort: 8080, nodePort: 30081 }],
      }, [b0]);
      await cluster.waitForServiceRules("np");
      const node2 = sb.node("node2");
      const rs = await eventually("NodePort answers", async () => {
        const r = await cluster.request(sb.clientNetns, "http", `${node2.ip}:30081`, 3);
        return r.every((x) => x.ok) ? r : undefined;
      }, 10_000);
      assertEquals(names(rs), ["b-0", "b-0", "b-0"]);
      // externalTrafficPolicy Cluster: masqueraded to node2 so that the reply comes back.
      assertEquals([...new Set(rs.map(seenSource))], [node2.ip]);
    });

    await t.step("externalTrafficPolicy Local: only nodes with an endpoint answer", async () => {
      await cluster.applyService("local", {
        clusterIP: "10.96.1.6",
        type: "NodePort",
        externalTrafficPolicy: "Local",
        healthCheckNodePort: 32001,
        ports: [{ port: 80, targetPort: 8080, nodePort: 30082 }],
      }, [local0]);
      await cluster.waitForServiceRules("local");
      const [node1, node2] = sb.nodes;
      const rs = await eventually("NodePort on node2 answers", async () => {
        const r = await cluster.request(sb.clientNetns, "tcp", `${node2.ip}:30082`, 3);
        return r.every((x) => x.ok) ? r : undefined;
      }, 10_000);
      assertEquals(names(rs), ["local-0", "local-0", "local-0"]);
      // The client's own address survives: no masquerade for Local.
      assertEquals([...new Set(rs.map(seenSource))], [UNDERLAY_CLIENT_IP]);
      // node1 has no local endpoint: it drops the traffic instead of forwarding it.
      const dropped = await cluster.request(sb.clientNetns, "tcp", `${node1.ip}:30082`, 2);
      assertEquals(dropped.map((r) => r.ok), [false, false], JSON.stringify(dropped));
    });

    await t.step(
      "externalIPs: traffic routed to a node for an external IP is served",
      async () => {
        await cluster.applyService("ext", {
          clusterIP: "10.96.1.7",
          externalIPs: ["10.200.0.7"],
          ports: [{ port: 80, targetPort: 8080 }],
        }, [b1]);
        await cluster.waitForServiceRules("ext");
        const node1 = sb.node("node1");
        const route = await sb.exec(sb.clientNetns, [
          "ip",
          "route",
          "add",
          "10.200.0.0/24",
          "via",
          node1.ip,
        ]);
        assertEquals(route.code, 0, route.stderr);
        const rs = await eventually("external IP answers", async () => {
          const r = await cluster.request(sb.clientNetns, "tcp", "10.200.0.7:80", 2);
          return r.every((x) => x.ok) ? r : undefined;
        }, 10_000);
        assertEquals(names(rs), ["b-1", "b-1"]);
      },
    );

    await t.step("DNS: Service names resolve through the cluster DNS IP", async () => {
      const answers = await cluster.resolve(client.netns, "spread.default.svc.cluster.local");
      assertEquals(answers, ["10.96.1.1"]);
      const missing = await cluster.dig(client.netns, "nope.default.svc.cluster.local");
      assertEquals(missing.status, "NXDOMAIN");
    });
  },
);
