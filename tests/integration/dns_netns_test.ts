/**
 * The DNS responder on a node with several addresses, in scratch network namespaces (root
 * only): a server namespace whose veth holds three addresses (then a fourth added and one
 * removed while it runs) and a client namespace with an allowed and a refused address. Checks
 * that every reply leaves from the address that was asked (dig drops a reply from another
 * source: "reply from unexpected source"), that the socket set follows address changes, and
 * that a client outside the cluster gets REFUSED for cluster and external names while the fake
 * upstream receives nothing, and an allowed client is answered and forwarded.
 *
 * @module
 */

import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { runCommand } from "../sandbox/command.ts";
import { eventually } from "../sandbox/eventually.ts";
import { NetnsProcess } from "../sandbox/netns_process.ts";

const isRoot = Deno.uid() === 0;
const SERVER_IPS = ["10.204.0.1", "10.204.0.11", "10.204.0.12"];
const ADDED_IP = "10.204.0.13";
const ALLOWED_CLIENT = "10.204.0.2";
const REFUSED_CLIENT = "10.204.0.99";
const SVC1 = "svc1.testns.svc.cluster.local";

async function must(argv: string[], netns?: string): Promise<string> {
  return (await runCommand(argv, { netns })).stdout;
}

/** `dig` from the client namespace, from `source`, to `server`. */
async function dig(ns: string, source: string, server: string, args: string[]): Promise<string> {
  const r = await runCommand(
    ["dig", "-b", source, `@${server}`, "+time=2", "+tries=1", ...args],
    { netns: ns, check: false },
  );
  return r.stdout + r.stderr;
}

Deno.test({
  name:
    "DNS answers each node address from that address, follows address changes, refuses outsiders",
  ignore: !isRoot,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const suffix = crypto.randomUUID().slice(0, 8);
    const srv = `kpdns-srv-${suffix}`;
    const cli = `kpdns-cli-${suffix}`;
    const created: string[] = [];
    let server: NetnsProcess | undefined;
    try {
      for (const ns of [srv, cli]) {
        await must(["ip", "netns", "add", ns]);
        created.push(ns);
        await must(["ip", "-n", ns, "link", "set", "lo", "up"]);
      }
      await must([
        "ip",
        "-n",
        srv,
        "link",
        "add",
        "kpdsrv",
        "type",
        "veth",
        "peer",
        "name",
        "kpdcli",
        "netns",
        cli,
      ]);
      for (const ip of SERVER_IPS) {
        await must(["ip", "-n", srv, "addr", "add", `${ip}/24`, "dev", "kpdsrv"]);
      }
      for (const ip of [ALLOWED_CLIENT, REFUSED_CLIENT]) {
        await must(["ip", "-n", cli, "addr", "add", `${ip}/24`, "dev", "kpdcli"]);
      }
      await must(["ip", "-n", srv, "link", "set", "kpdsrv", "up"]);
      await must(["ip", "-n", cli, "link", "set", "kpdcli", "up"]);

      const filter = { clusterCIDRs: ["10.244.0.0/16"], allowedClients: [`${ALLOWED_CLIENT}/32`] };
      server = NetnsProcess.start([
        Deno.execPath(),
        "run",
        "-A",
        "tests/integration/dns_netns_server.ts",
        JSON.stringify(filter),
      ], { netns: srv, label: "dns server" });
      await server.waitForLine(/"ready":true/, 60_000);
      const upstreamCount = () => {
        const last = server!.lines.filter((l) => l.startsWith("upstream ")).at(-1);
        return last === undefined ? 0 : Number(last.split(" ")[1]);
      };

      // Each address answers from itself: dig ignores a reply from any other source.
      for (const ip of SERVER_IPS) {
        const out = await dig(cli, ALLOWED_CLIENT, ip, [SVC1, "A"]);
        assert(!out.includes("unexpected source"), out);
        assertStringIncludes(out, "status: NOERROR", out);
        assertStringIncludes(out, `SERVER: ${ip}#53(${ip})`, out);
        assert(/IN\s+A\s+10\.0\.0\.1/.test(out), out);
      }

      // An address added later is bound at the next scan; a removed one is closed.
      await must(["ip", "-n", srv, "addr", "add", `${ADDED_IP}/24`, "dev", "kpdsrv"]);
      await must(["ip", "-n", srv, "addr", "del", `${SERVER_IPS[2]}/24`, "dev", "kpdsrv"]);
      let lastDig = "";
      await eventually(`an answer from ${ADDED_IP}`, async () => {
        lastDig = await dig(cli, ALLOWED_CLIENT, ADDED_IP, ["+short", SVC1, "A"]);
        return lastDig.trim() === "10.0.0.1";
      }, 30_000).catch((err) => {
        throw new Error(`${err.message}\n${lastDig}\n${server!.tail(20)}`);
      });
      await eventually(`the socket of ${SERVER_IPS[2]} closed`, async () => {
        const ss = await must(["ss", "-Hlun"], srv);
        return !ss.includes(`${SERVER_IPS[2]}:53`) && ss.includes(`${ADDED_IP}:53`);
      }, 30_000);

      // A client outside the cluster: REFUSED for cluster and external names, nothing forwarded.
      for (const name of [SVC1, "www.example.org"]) {
        const out = await dig(cli, REFUSED_CLIENT, SERVER_IPS[0], [name, "A"]);
        assertStringIncludes(out, "status: REFUSED", out);
        const tcp = await dig(cli, REFUSED_CLIENT, SERVER_IPS[1], ["+tcp", name, "A"]);
        assertStringIncludes(tcp, "status: REFUSED", tcp);
      }

      // The allowed client gets the external name through the upstream, and that one query is
      // all the upstream ever received: none of the refused queries above was forwarded.
      const forwarded = await dig(cli, ALLOWED_CLIENT, SERVER_IPS[1], [
        "+short",
        "www.example.org",
      ]);
      assertEquals(forwarded.trim(), "192.0.2.1");
      await eventually("the forwarded query counted", () => upstreamCount() > 0, 10_000);
      assertEquals(upstreamCount(), 1, server.tail(20));
    } finally {
      await server?.stop("SIGKILL");
      for (const ns of created) {
        await runCommand(["ip", "netns", "del", ns], { check: false });
      }
    }
  },
});
