/**
 * End-to-end, nftables mode: `main.ts` with `mode: nftables` in each sandbox node, real TCP and
 * UDP traffic from pod namespaces and from the underlay client, against the API server fixture:
 * the steps of `traffic_steps.ts` (ClusterIP, session affinity, UDP, an endpoint change,
 * NodePort, externalTrafficPolicy Local, externalIPs, cluster DNS through the intercept), then an
 * undefined ClusterIP port rejected, LoadBalancer with source ranges, a restart
 * that keeps an open connection and ClientIP affinity, a switch to iptables mode and back on a live node (each leaves
 * no rule of the other), and `--cleanup`.
 */

import { addSpreadPods, sandboxTest } from "./sandbox_case.ts";
import { answersViaNode1, names, serviceTrafficSteps } from "./traffic_steps.ts";
import { parseSetsListing } from "../../proxy/nftables/listing.ts";
import { assert, assertEquals } from "../assert.ts";
import type { SandboxCluster } from "../sandbox/cluster.ts";
import { makeEndpointSlice, makeService } from "../sandbox/cluster_objects.ts";
import { runCommand } from "../sandbox/command.ts";
import { eventually } from "../sandbox/eventually.ts";
import type { NetnsProcess } from "../sandbox/netns_process.ts";
import { renderNodeConfig, saveRules } from "../sandbox/proxy_node.ts";
import { repoPath, type SandboxNode, UNDERLAY_CLIENT_IP } from "../sandbox/sandbox.ts";

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

sandboxTest(
  "main.ts in nftables mode forwards Service traffic, survives restarts and mode switches",
  async (cluster, t) => {
    const sb = cluster.sb;
    const dir = await sb.makeTempDir();
    const proxies = sb.nodes.map((n) => new ModeProxy(cluster, n, dir));
    const [p1, p2] = proxies;
    for (const p of proxies) await p.start("nftables");
    const pods = await addSpreadPods(cluster);
    const { client, b0, b1 } = pods;
    await serviceTrafficSteps(cluster, t, pods, async (name) => {
      const chain = new RegExp(`service-[A-Z2-7]{8}-default/${name}/`);
      for (const p of proxies) await p.waitFor("nftables", chain, `${name}'s chain`);
    });
    const waitNft = async (key: string) => {
      for (const p of proxies) {
        await p.waitFor("nftables", new RegExp(key.replaceAll(".", "\\.")), `element ${key}`);
      }
    };

    await t.step("ClusterIP: an undefined port is rejected at once", async () => {
      const [r] = await cluster.request(client.netns, "tcp", "10.96.1.1:81", 1);
      assert(!r.ok && /refused/i.test(r.error ?? ""), JSON.stringify(r));
    });

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
        assertEquals(await answersViaNode1(cluster, "10.201.0.0/24", "10.201.0.8:80"), [
          "b-1",
          "b-1",
        ]);
        svc.spec.loadBalancerSourceRanges = ["192.0.2.0/24"];
        await cluster.api.apply(svc);
        await waitNft("192.0.2.0/24");
        const blocked = await cluster.request(sb.clientNetns, "tcp", "10.201.0.8:80", 2);
        assertEquals(blocked.map((r) => r.ok), [false, false], JSON.stringify(blocked));
      },
    );

    await t.step(
      "a restart keeps an open connection, ClientIP affinity, and rebuilds nothing it breaks",
      async () => {
        const [stuckTo] = names(await cluster.request(client.netns, "tcp", "10.96.1.2:80", 1));
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
          // The client's entry in sticky's affinity set came over into the new table, before
          // any new traffic, and the client still reaches the same endpoint.
          const sets = parseSetsListing(await p1.nftTable(), "ip").sets;
          const carried = [...sets].filter(([name, set]) =>
            name.startsWith("affinity-") && (set.elements.get(client.ip)?.expiresSeconds ?? 0) > 0
          );
          assertEquals(carried.length, 1, "the client's affinity entry survived the restart");
          const after = names(await cluster.request(client.netns, "tcp", "10.96.1.2:80", 6));
          assertEquals(after, Array(6).fill(stuckTo), "sticky across the restart");
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
        // The service map's element, not the same key in the no-endpoint map (Service synced
        // before its EndpointSlice).
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
  },
  { cluster: { startProxies: false } },
);
