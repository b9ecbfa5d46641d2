import { assert, assertEquals } from "../assert.ts";
import { runCommand } from "./command.ts";
import { Sandbox } from "./sandbox.ts";
import { listSandboxNamespaces, removeLeftovers, stateDir, writeState } from "./sandbox_state.ts";

const root = Deno.uid() === 0;

Deno.test({
  name: "Sandbox.create() routes pod traffic between nodes and teardown() removes it all",
  ignore: !root,
  async fn() {
    const sb = await Sandbox.create();
    try {
      const web = await sb.addPod("web", "node1");
      const db = await sb.addPod("db", "node2");
      assertEquals([web.ip, db.ip], ["10.244.1.2", "10.244.2.2"]);
      await sb.startPodServer(db);
      const tcp = await sb.request(web.netns, "tcp", `${db.ip}:8080`);
      // No proxy, no NAT: the server sees the web pod's own address.
      assert(tcp[0].ok, tcp[0].error);
      assert(tcp[0].reply!.startsWith(`db ${web.ip}:`), tcp[0].reply);
      const udp = await sb.request(sb.clientNetns, "udp", `${sb.node("node2").ip}:8080`);
      // Nothing listens on the node itself: the request must fail, not reach the pod.
      assertEquals(udp[0].ok, false);
      const sysctl = await sb.exec(sb.node("node1").netns, [
        "cat",
        "/proc/sys/net/bridge/bridge-nf-call-iptables",
        "/proc/sys/net/ipv4/ip_forward",
      ]);
      assertEquals(sysctl.stdout.split("\n").filter(Boolean), ["1", "1"]);
      await sb.deletePod("db");
      assert(!(await listSandboxNamespaces()).some((n) => n.endsWith("-pod-db")));
    } finally {
      await sb.teardown();
    }
    const left = (await listSandboxNamespaces()).filter((n) => n.includes(sb.runId));
    assertEquals(left, []);
  },
});

Deno.test({
  name: "removeLeftovers() deletes namespaces of a dead run and keeps live ones",
  ignore: !root,
  async fn() {
    const dead = `kpsbx-dead${crypto.randomUUID().slice(0, 4)}-node1`;
    const orphan = `kpsbx-orph${crypto.randomUUID().slice(0, 4)}-node1`;
    const runId = dead.split("-")[1];
    await runCommand(["ip", "netns", "add", dead]);
    await runCommand(["ip", "netns", "add", orphan]);
    // A pid that cannot exist (above pid_max) stands for a run that was killed.
    writeState({ runId, pid: 4194304 + 1, namespaces: [dead], dirs: [], pids: [] });
    const live = await Sandbox.create();
    try {
      const removed = await removeLeftovers();
      const now = await listSandboxNamespaces();
      assert(!now.includes(dead) && !now.includes(orphan), now.join(","));
      assert(removed.length === 0 || !removed.some((n) => n.includes(live.runId)));
      assert(now.includes(live.node("node1").netns), "the live run's namespaces stay");
      let files: string[] = [];
      try {
        files = [...Deno.readDirSync(stateDir())].map((e) => e.name);
      } catch {
        // No directory: nothing left.
      }
      assert(!files.includes(`${runId}.json`));
    } finally {
      await live.teardown();
      await runCommand(["ip", "netns", "delete", dead], { check: false });
      await runCommand(["ip", "netns", "delete", orphan], { check: false });
    }
  },
});
