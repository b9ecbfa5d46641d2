/**
 * End-to-end, nftables mode: `main.ts` with `mode: nftables` in each sandbox node, real TCP and
 * UDP traffic from pod namespaces and from the underlay client, against the API server fixture:
 * ClusterIP, session affinity, UDP, an endpoint change, NodePort, externalTrafficPolicy Local,
 * externalIPs, LoadBalancer with source ranges, cluster DNS through the intercept, a restart
 * that keeps an open connection, a switch to iptables mode and back on a live node (each leaves
 * no rule of the other), and `--cleanup`.
 */

import { assert, assertEquals } from "../assert.ts";
import { answeredBy, SandboxCluster, seenSource } from "../sandbox/cluster.ts";
import { makeEndpointSlice, makeService } from "../sandbox/cluster_objects.ts";
import { runCommand } from "../sandbox/command.ts";
import { eventually } from "../sandbox/eventually.ts";
import type { NetnsProcess } from "../sandbox/netns_process.ts";
import { renderNodeConfig, saveRules } from "../sandbox/proxy_node.ts";
import { repoPath, type SandboxNode, UNDERLAY_CLIENT_IP } from "../sandbox/sandbox.ts";

const root = Deno.uid() === 0;

function names(results: { ok: boolean; reply?: string }[]): string[] {
  return results.map((r) => answeredBy(r) ?? `(failed: ${JSON.stringify(r)})`);
}

/** One node's kube-proxy, in either mode. */
class ModeProxy {
  process: NetnsProcess | undefined;
  readonly #cluster: SandboxCluster;
  readonly node: SandboxNode;
  readonly #dir: string;

  constructor(cluster: SandboxCluster, node: SandboxNode, dir: string) {
    this.#cluster = cluster;
    this.node = node;
    this.#dir = dir;
  }

  async argv(mode: "iptables" | "nftables", ...extra: string[]): Promise<string[]> {
    const kubeconfig = `${this.#dir}/${this.node.name}-kubeconfig`;
    const config = `${this.#dir}/${this.node.name}-${mode}.yaml`;
    await Deno.writeTextFile(kubeconfig, this.#cluster.api.kubeconfig());
    await Deno.writeTextFile(config, renderNodeConfig(this.node, kubeconfig, "200ms", mode));
    return [Deno.execPath(), "run", "-A", repoPath("main.ts"), "--config", config, ...extra];
  }

  async start(mode: "iptables" | "nftables"): Promise<void> {
    this.process = this.#cluster.sb.startProcess(this.node.netns, await this.argv(mode), {
      label: `kube-proxy ${this.node.name} (${mode})`,
    });
  }

  async stop(): Promise<void> {
    if (this.process !== undefined) await this.#cluster.sb.stopProcess(this.process);
    this.process = undefined;
  }

  /** `nft list table <family> kube-proxy`, or "" when there is none. */
  async nftTable(family: "ip" | "ip6" = "ip"): Promise<string> {
    const r = await runCommand(["nft", "list", "table", family, "kube-proxy"], {
      netns: this.node.netns,
      check: false,
    });
    return r.code === 0 ? r.stdout : "";
  }

  /** Every iptables rule of ours (both backends, nat, filter and mangle). */
  async kubeIptablesRules(): Promise<string[]> {
    const tables = await Promise.all([
      saveRules(this.node.netns, "nat"),
      saveRules(this.node.netns, "filter"),
      ...["iptables-nft-save", "iptables-legacy-save"].map(async (bin) =>
        (await runCommand([bin, "-t", "mangle"], { netns: this.node.netns, check: false })).stdout
      ),
    ]);
    return tables.join("\n").split("\n").filter((l) => l.includes("KUBE-"));
  }

  /** Waits until the kernel holds `pattern` in this mode's rules. */
  async waitFor(mode: "iptables" | "nftables", pattern: RegExp, what: string): Promise<void> {
    await eventually(`${this.node.name}: ${what}`, async () => {
      if (this.process?.exitStatus) {
        throw new Error(`kube-proxy exited:\n${this.process.tail(30)}`);
      }
      const text = mode === "nftables"
        ? await this.nftTable()
        : (await this.kubeIptablesRules()).join("\n");
      return pattern.test(text) ? true : undefined;
    }, 30_000);
  }
}

Deno.test({
  name: "main.ts in nftables mode forwards Service traffic, survives restarts and mode switches",
  ignore: !root,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cluster = await SandboxCluster.start({ startProxies: false });
    try {
      const sb = cluster.sb;
      const dir = await sb.makeTempDir();
      const proxies = sb.nodes.map((n) => new ModeProxy(cluster, n, dir));
      const [p1, p2] = proxies;
      for (const p of proxies) await p.start("nftables");
      const [client, b0, b1, b2, local0] = await cluster.addPods([
        { name: "client", node: "node1" },
        { name: "b-0", node: "node1" },
        { name: "b-1", node: "node2" },
        { name: "b-2", node: "node2" },
        { name: "local-0", node: "node2" },
      ]);
      const backends = [b0, b1, b2];
      const backendNames = backends.map((p) => p.name);
      /** Routes `cidr` from the underlay client via node1, then asks `target` twice. */
      const answersViaNode1 = async (cidr: string, target: string): Promise<string[]> => {
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
      };
      /**
       * Waits until every proxy's table has `key`; a bare service key (`IP . proto . port`,
       * `proto . port`) must lead to the service's own chains: the same key also appears in the
       * no-endpoint maps (REJECT/DROP) while the Service is known but its EndpointSlice is not.
       */
      const waitNft = async (key: string) => {
        const escaped = key.replaceAll(".", "\\.");
        const toService = key.includes(":") || key.includes("/")
          ? escaped
          : `${escaped}( comment "[^"]*")? : goto (service|external|firewall)-`;
        for (const p of proxies) {
          await p.waitFor("nftables", new RegExp(toService), `element ${key}`);
        }
      };

      await t.step("ClusterIP: TCP spreads over all endpoints on both nodes", async () => {
        await cluster.applyService("spread", {
          clusterIP: "10.96.1.1",
          ports: [{ port: 80, targetPort: 8080 }],
        }, backends);
        await waitNft("10.96.1.1 . tcp . 80");
        const seen = names(await cluster.request(client.netns, "tcp", "10.96.1.1:80", 30));
        assert(seen.every((n) => backendNames.includes(n)), seen.join(","));
        assertEquals([...new Set(seen)].sort(), backendNames);
        const rs = await cluster.request(client.netns, "tcp", "10.96.1.1:80", 5);
        assertEquals([...new Set(rs.map(seenSource))], [client.ip], "pod traffic keeps its IP");
      });

      await t.step("ClusterIP: an undefined port is rejected at once", async () => {
        const [r] = await cluster.request(client.netns, "tcp", "10.96.1.1:81", 1);
        assert(!r.ok && /refused/i.test(r.error ?? ""), JSON.stringify(r));
      });

      await t.step("session affinity ClientIP: one client sticks to one endpoint", async () => {
        await cluster.applyService("sticky", {
          clusterIP: "10.96.1.2",
          sessionAffinity: "ClientIP",
          ports: [{ port: 80, targetPort: 8080 }],
        }, backends);
        await waitNft("10.96.1.2 . tcp . 80");
        const seen = names(await cluster.request(client.netns, "tcp", "10.96.1.2:80", 12));
        assertEquals(new Set(seen).size, 1, seen.join(","));
        assert(backendNames.includes(seen[0]), seen[0]);
      });

      await t.step("UDP through a ClusterIP reaches the endpoints", async () => {
        await cluster.applyService("udp", {
          clusterIP: "10.96.1.3",
          ports: [{ port: 5353, targetPort: 8080, protocol: "UDP" }],
        }, backends);
        await waitNft("10.96.1.3 . udp . 5353");
        const seen = names(await cluster.request(client.netns, "udp", "10.96.1.3:5353", 30));
        assert(seen.every((n) => backendNames.includes(n)), seen.join(","));
        assertEquals([...new Set(seen)].sort(), backendNames);
      });

      await t.step("an EndpointSlice change is followed within a sync", async () => {
        const svc = await cluster.applyService("moving", {
          clusterIP: "10.96.1.4",
          ports: [{ port: 80, targetPort: 8080 }],
        }, [b0]);
        await waitNft("10.96.1.4 . tcp . 80");
        assertEquals(names(await cluster.request(client.netns, "tcp", "10.96.1.4:80", 3)), [
          "b-0",
          "b-0",
          "b-0",
        ]);
        await cluster.setEndpoints(svc, [b2]);
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
        await waitNft("tcp . 30081");
        const node2 = sb.node("node2");
        const rs = await eventually("NodePort answers", async () => {
          const r = await cluster.request(sb.clientNetns, "tcp", `${node2.ip}:30081`, 3);
          return r.every((x) => x.ok) ? r : undefined;
        }, 10_000);
        assertEquals(names(rs), ["b-0", "b-0", "b-0"]);
        assertEquals([...new Set(rs.map(seenSource))], [node2.ip], "masqueraded (eTP Cluster)");
      });

      await t.step("externalTrafficPolicy Local: only nodes with an endpoint answer", async () => {
        await cluster.applyService("local", {
          clusterIP: "10.96.1.6",
          type: "NodePort",
          externalTrafficPolicy: "Local",
          healthCheckNodePort: 32001,
          ports: [{ port: 80, targetPort: 8080, nodePort: 30082 }],
        }, [local0]);
        await waitNft("tcp . 30082");
        const [node1, node2] = sb.nodes;
        const rs = await eventually("NodePort on node2 answers", async () => {
          const r = await cluster.request(sb.clientNetns, "tcp", `${node2.ip}:30082`, 3);
          return r.every((x) => x.ok) ? r : undefined;
        }, 10_000);
        assertEquals(names(rs), ["local-0", "local-0", "local-0"]);
        assertEquals([...new Set(rs.map(seenSource))], [UNDERLAY_CLIENT_IP], "source kept");
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
          await waitNft("10.200.0.7 . tcp . 80");
          assertEquals(await answersViaNode1("10.200.0.0/24", "10.200.0.7:80"), ["b-1", "b-1"]);
        },
      );

      await t.step(
        "LoadBalancer with source ranges: allowed client in, others dropped",
        async () => {
          const svc = makeService("lb", {
            clusterIP: "10.96.1.8",
            type: "LoadBalancer",
            ports: [{ port: 80, targetPort: 8080, nodePort: 30083 }],
          });
          svc.spec.loadBalancerSourceRanges = [`${UNDERLAY_CLIENT_IP}/32`];
          svc.status = { loadBalancer: { ingress: [{ ip: "10.201.0.8", ipMode: "VIP" }] } };
          await cluster.api.apply(svc);
          await cluster.api.apply(makeEndpointSlice(svc, [b1]));
          await waitNft("10.201.0.8 . tcp . 80 : goto firewall-");
          assertEquals(await answersViaNode1("10.201.0.0/24", "10.201.0.8:80"), ["b-1", "b-1"]);
          svc.spec.loadBalancerSourceRanges = ["192.0.2.0/24"];
          await cluster.api.apply(svc);
          await waitNft("192.0.2.0/24");
          const blocked = await cluster.request(sb.clientNetns, "tcp", "10.201.0.8:80", 2);
          assertEquals(blocked.map((r) => r.ok), [false, false], JSON.stringify(blocked));
        },
      );

      await t.step("cluster DNS answers through the intercept", async () => {
        const answers = await cluster.resolve(client.netns, "spread.default.svc.cluster.local");
        assertEquals(answers, ["10.96.1.1"]);
      });

      await t.step(
        "a restart keeps an open connection and rebuilds nothing it breaks",
        async () => {
          const session = sb.startProcess(client.netns, [
            Deno.execPath(),
            "run",
            "-A",
            repoPath("tests/sandbox/pod_client.ts"),
            "session",
            "10.96.1.4",
            "80",
          ], { label: "session client", stdin: true });
          try {
            await session.writeLine("before");
            const first = await session.waitForLine(/before/, 10_000);
            await p1.stop();
            await p1.start("nftables");
            // The new process has synced (its full sync swapped the table) once it shows a
            // Service created after the restart.
            await cluster.applyService("after-restart", {
              clusterIP: "10.96.1.9",
              ports: [{ port: 80, targetPort: 8080 }],
            }, [b0]);
            await p1.waitFor(
              "nftables",
              /10\.96\.1\.9 \. tcp \. 80 : goto service-/,
              "a sync after the restart",
            );
            const from = session.lines.length;
            await session.writeLine("after");
            const second = await session.waitForLine(/after/, 10_000, from);
            const source = (line: string) => JSON.parse(line).reply.split(" ")[1];
            assertEquals(source(second), source(first), "same connection, same client port");
          } finally {
            await sb.stopProcess(session);
          }
        },
      );

      await t.step(
        "switch node1 to iptables mode and back: no rule of the other mode stays",
        async () => {
          await p1.stop();
          await p1.start("iptables");
          await p1.waitFor(
            "iptables",
            /"default\/spread cluster IP"/,
            "iptables rules",
          );
          await eventually("the nftables table to go", async () => {
            return (await p1.nftTable("ip")) === "" && (await p1.nftTable("ip6")) === ""
              ? true
              : undefined;
          }, 30_000);
          assertEquals(names(await cluster.request(client.netns, "tcp", "10.96.1.4:80", 2)), [
            "b-2",
            "b-2",
          ]);
          await p1.stop();
          await p1.start("nftables");
          await p1.waitFor(
            "nftables",
            /10\.96\.1\.4 \. tcp \. 80 : goto service-/,
            "nftables rules again",
          );
          await eventually("iptables mode's rules to go", async () => {
            const left = await p1.kubeIptablesRules();
            return left.length === 0 ? true : undefined;
          }, 30_000);
          assertEquals(names(await cluster.request(client.netns, "tcp", "10.96.1.4:80", 2)), [
            "b-2",
            "b-2",
          ]);
        },
      );

      await t.step("--cleanup removes both modes' rules", async () => {
        await p2.stop();
        const r = await sb.exec(p2.node.netns, await p2.argv("nftables", "--cleanup"));
        assertEquals(r.code, 0, r.stderr);
        assertEquals(await p2.nftTable("ip"), "");
        assertEquals(await p2.nftTable("ip6"), "");
        assertEquals(await p2.kubeIptablesRules(), []);
      });
    } finally {
      await cluster.teardown();
    }
  },
});
