/**
 * End-to-end: the proxy process's lifecycle on a sandbox node. A restart must not break an open
 * connection (the rules stay in the kernel while no proxy runs, and the new process takes them
 * over), and `--cleanup` must leave no KUBE- chain in any table of either backend.
 */

import { sandboxTest } from "./sandbox_case.ts";
import { assert, assertEquals } from "../assert.ts";
import { answeredBy, type SandboxCluster } from "../sandbox/cluster.ts";
import { eventually } from "../sandbox/eventually.ts";
import type { ClientResult } from "../sandbox/pod_client.ts";
import { repoPath } from "../sandbox/sandbox.ts";

/** Every table of both backends and both families in `netns`, as iptables-save prints them. */
async function saveAll(cluster: SandboxCluster, netns: string): Promise<string> {
  const outs = await Promise.all(
    ["iptables-nft-save", "iptables-legacy-save", "ip6tables-nft-save", "ip6tables-legacy-save"]
      .map((cmd) => cluster.sb.exec(netns, [cmd])),
  );
  return outs.map((o) => o.stdout).join("\n");
}

sandboxTest(
  "main.ts restarts without breaking connections and --cleanup removes every KUBE- chain",
  async (cluster, t) => {
    const sb = cluster.sb;
    const node1 = sb.node("node1");
    const proxy = cluster.proxy("node1");
    const [web, db] = await cluster.addPods([
      { name: "web", node: "node1" },
      { name: "db", node: "node2" },
    ]);
    await cluster.applyService("db", {
      clusterIP: "10.96.2.1",
      ports: [{ port: 5432, targetPort: 8080 }],
    }, [db]);
    await cluster.waitForServiceRules("db");

    await t.step("a proxy restart does not break an open TCP connection", async () => {
      const session = sb.startProcess(web.netns, [
        Deno.execPath(),
        "run",
        "-A",
        repoPath("tests/sandbox/pod_client.ts"),
        "session",
        "10.96.2.1",
        "5432",
      ], { label: "session web->db", stdin: true });
      const replies = async (from: number) => {
        const line = await session.waitForLine(/^\{/, 10_000, from);
        return JSON.parse(line) as ClientResult;
      };
      try {
        assertEquals(await replies(0), { ok: true, reply: "connected" });
        let from = session.lines.length;
        const send = async (text: string) => {
          await session.writeLine(text);
          const r = await replies(from);
          from = session.lines.length;
          return r;
        };
        const first = await send("before");
        assertEquals(answeredBy(first), "db", JSON.stringify(first));
        const clientPort = first.reply!.split(" ")[1];

        const status = await proxy.stop();
        assert(status !== undefined);
        const during = await send("during");
        assertEquals(during.reply, `db ${clientPort} during`);

        proxy.launch();
        // The new process is up once its health endpoint answers (the old one is gone).
        await eventually("the restarted proxy's /healthz", async () => {
          const [r] = await cluster.request(node1.netns, "http", "127.0.0.1:10256/healthz");
          return r.ok ? r : undefined;
        }, 30_000);
        await proxy.waitForRules(/"default\/db(:[^ "]*)? cluster IP"/, 10_000);
        const after = await send("after");
        assertEquals(after.reply, `db ${clientPort} after`, JSON.stringify(after));
        // New connections work too, through the rules the new process owns.
        const fresh = await cluster.request(web.netns, "tcp", "10.96.2.1:5432", 3);
        assertEquals(fresh.map(answeredBy), ["db", "db", "db"]);
      } finally {
        await sb.stopProcess(session);
      }
    });

    await t.step("--cleanup leaves no KUBE- chain, and a second run is harmless", async () => {
      await proxy.stop();
      assert((await saveAll(cluster, node1.netns)).includes("KUBE-"), "rules existed before");
      for (let i = 0; i < 2; i++) {
        const res = await proxy.cleanup();
        assertEquals(res.code, 0, `--cleanup run ${i + 1}: ${res.stderr}`);
      }
      const left = (await saveAll(cluster, node1.netns)).split("\n").filter((l) =>
        l.includes("KUBE-")
      );
      assertEquals(left, []);
    });
  },
);
