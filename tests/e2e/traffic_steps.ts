/**
 * The Service-traffic steps both modes must pass, shared by `traffic_test.ts` (iptables mode) and
 * `nftables_test.ts`: ClusterIP spreading and source kept, session affinity, UDP, an endpoint
 * change, NodePort (masqueraded), externalTrafficPolicy Local (source kept, dropped where no local
 * endpoint), externalIPs, and cluster DNS through the intercept. They leave behind the Services
 * `spread` (10.96.1.1:80 over b-0..b-2) and `moving` (10.96.1.4:80, now on b-2), and a route from
 * the underlay client to 10.200.0.0/24 via node1, which later steps may use.
 *
 * @module
 */

import { assert, assertEquals } from "../assert.ts";
import { answeredBy, type SandboxCluster, seenSource } from "../sandbox/cluster.ts";
import { eventually } from "../sandbox/eventually.ts";
import { UNDERLAY_CLIENT_IP } from "../sandbox/sandbox.ts";
import type { SpreadPods } from "./sandbox_case.ts";

/** The pod that answered each request, or what failed. */
export function names(results: { ok: boolean; reply?: string }[]): string[] {
  return results.map((r) => answeredBy(r) ?? `(failed: ${JSON.stringify(r)})`);
}

/** Routes `cidr` from the underlay client via node1, then asks `target` twice (once it answers). */
export async function answersViaNode1(
  cluster: SandboxCluster,
  cidr: string,
  target: string,
): Promise<string[]> {
  const sb = cluster.sb;
  const route = await sb.exec(sb.clientNetns, [
    "ip",
    "route",
    "add",
    cidr,
    "via",
    sb.node("node1").ip,
  ]);
  assertEquals(route.code, 0, route.stderr);
  return names(
    await eventually(`${target} answers`, async () => {
      const r = await cluster.request(sb.clientNetns, "tcp", target, 2);
      return r.every((x) => x.ok) ? r : undefined;
    }, 10_000),
  );
}

/** Asks `target` from the underlay client `count` times, once every request is answered. */
function answersFromUnderlay(
  cluster: SandboxCluster,
  target: string,
  count: number,
  mode: "tcp" | "http" = "tcp",
) {
  return eventually(`${target} answers`, async () => {
    const r = await cluster.request(cluster.sb.clientNetns, mode, target, count);
    return r.every((x) => x.ok) ? r : undefined;
  }, 10_000);
}

/**
 * Runs the shared steps.
 *
 * @param cluster The sandbox cluster, its proxies running.
 * @param t The test context the steps are added to.
 * @param pods The pods of `addSpreadPods()`.
 * @param waitForRules Resolves once every proxy has programmed Service `default/<name>`.
 */
export async function serviceTrafficSteps(
  cluster: SandboxCluster,
  t: Deno.TestContext,
  pods: SpreadPods,
  waitForRules: (name: string) => Promise<void>,
): Promise<void> {
  const sb = cluster.sb;
  const { client, b0, b1, b2, local0 } = pods;
  const backends = [b0, b1, b2];
  const backendNames = backends.map((p) => p.name);

  await t.step("ClusterIP: traffic spreads over all endpoints on both nodes", async () => {
    await cluster.applyService("spread", {
      clusterIP: "10.96.1.1",
      ports: [{ port: 80, targetPort: 8080 }],
    }, backends);
    await waitForRules("spread");
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
    await waitForRules("sticky");
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
    await waitForRules("udp");
    const seen = names(await cluster.request(client.netns, "udp", "10.96.1.3:5353", 30));
    assert(seen.every((n) => backendNames.includes(n)), seen.join(","));
    assertEquals([...new Set(seen)].sort(), backendNames);
  });

  await t.step("an EndpointSlice change is followed within a sync", async () => {
    const svc = await cluster.applyService("moving", {
      clusterIP: "10.96.1.4",
      ports: [{ port: 80, targetPort: 8080 }],
    }, [b0]);
    await waitForRules("moving");
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
    await waitForRules("np");
    const node2 = sb.node("node2");
    const rs = await answersFromUnderlay(cluster, `${node2.ip}:30081`, 3, "http");
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
    await waitForRules("local");
    const [node1, node2] = sb.nodes;
    const rs = await answersFromUnderlay(cluster, `${node2.ip}:30082`, 3);
    assertEquals(names(rs), ["local-0", "local-0", "local-0"]);
    // The client's own address survives: no masquerade for Local.
    assertEquals([...new Set(rs.map(seenSource))], [UNDERLAY_CLIENT_IP]);
    // node1 has no local endpoint: it drops the traffic instead of forwarding it.
    const dropped = await cluster.request(sb.clientNetns, "tcp", `${node1.ip}:30082`, 2);
    assertEquals(dropped.map((r) => r.ok), [false, false], JSON.stringify(dropped));
  });

  await t.step("externalIPs: traffic routed to a node for an external IP is served", async () => {
    await cluster.applyService("ext", {
      clusterIP: "10.96.1.7",
      externalIPs: ["10.200.0.7"],
      ports: [{ port: 80, targetPort: 8080 }],
    }, [b1]);
    await waitForRules("ext");
    assertEquals(await answersViaNode1(cluster, "10.200.0.0/24", "10.200.0.7:80"), ["b-1", "b-1"]);
  });

  await t.step("DNS: Service names resolve through the cluster DNS IP", async () => {
    const answers = await cluster.resolve(client.netns, "spread.default.svc.cluster.local");
    assertEquals(answers, ["10.96.1.1"]);
    const missing = await cluster.dig(client.netns, "nope.default.svc.cluster.local");
    assertEquals(missing.status, "NXDOMAIN");
  });
}
