/**
 * The loopback UDP socket a wildcard-bound DnsServer binds among its per-address sockets (see
 * `udp_listeners.ts`): a query the node sends to an intercepted service IP is REDIRECTed to
 * 127.0.0.1 in nat OUTPUT and must be answered from 127.0.0.1, or conntrack cannot un-NAT the reply.
 *
 * @module
 */

import { assertEquals, assertRejects } from "../tests/assert.ts";
import { decodeMessage, encodeQuery } from "./codec.ts";
import { DnsServer, type DnsServerOptions } from "./server.ts";
import { exchangeUdp, makeClusterView, makeFixture } from "./testing.ts";

const isRoot = Deno.uid() === 0;
const SVC1 = "svc1.testns.svc.cluster.local";

const OPTS: DnsServerOptions = {
  bindAddress: "0.0.0.0",
  port: 0,
  clusterDomain: "cluster.local",
  ttl: 5,
  podRecords: "insecure",
  upstreamServers: [],
  resolvConfPath: "/nonexistent/kpfix-resolv.conf",
  forwardTimeoutMs: 200,
  maxConcurrentForwards: 10,
  tcpIdleTimeoutMs: 5000,
};

Deno.test("DnsServer.start() on 0.0.0.0 answers on loopback and keeps a fixed port its own", async () => {
  const first = new DnsServer(makeClusterView(makeFixture()), OPTS);
  await first.start();
  try {
    const port = first.address.udpPort;
    const reply = await exchangeUdp(
      "127.0.0.1",
      port,
      encodeQuery({ id: 7, name: SVC1, type: "A" }),
    );
    assertEquals(decodeMessage(reply!)?.answers, [`${SVC1}. 5 IN A 10.0.0.1`]);
    // The TCP listener, bound first, makes a second instance on the same port fail instead of
    // taking queries away.
    const second = new DnsServer(makeClusterView(makeFixture()), { ...OPTS, port });
    await assertRejects(() => second.start(), Deno.errors.AddrInUse);
    const again = await exchangeUdp(
      "127.0.0.1",
      port,
      encodeQuery({ id: 8, name: SVC1, type: "A" }),
    );
    assertEquals(decodeMessage(again!)?.answers, [`${SVC1}. 5 IN A 10.0.0.1`]);
  } finally {
    await first.stop();
  }
});

async function run(cmd: string, ...args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
}

async function must(cmd: string, ...args: string[]): Promise<string> {
  const out = await run(cmd, ...args);
  const d = new TextDecoder();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${out.code}: ${d.decode(out.stderr)}`);
  }
  return d.decode(out.stdout);
}

/** Serves the test fixture on 0.0.0.0 and prints `PORT <n>`; run inside the namespace. */
const SERVE_SCRIPT = `
import { DnsServer } from ${JSON.stringify(new URL("./server.ts", import.meta.url).href)};
import { makeClusterView, makeFixture } from ${
  JSON.stringify(new URL("./testing.ts", import.meta.url).href)
};
const server = new DnsServer(makeClusterView(makeFixture()), ${JSON.stringify(OPTS)});
await server.start();
console.log("PORT " + server.address.udpPort);
`;

Deno.test({
  name: "DnsServer.start() on 0.0.0.0 answers a query the node REDIRECTs to itself (root)",
  ignore: !isRoot,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ns = `kpfix-dnslo-${crypto.randomUUID().slice(0, 8)}`;
    const dir = await Deno.makeTempDir({ prefix: "kpfix-dnslo-" });
    let child: Deno.ChildProcess | undefined;
    let created = false;
    try {
      await must("ip", "netns", "add", ns);
      created = true;
      const inNs = (...argv: string[]) => must("ip", "-n", ns, ...argv);
      await inNs("link", "set", "lo", "up");
      // A veth pair inside the namespace gives the node an address and a route to the service
      // range, as on a real node.
      await inNs("link", "add", "kpfixa", "type", "veth", "peer", "name", "kpfixb");
      await inNs("addr", "add", "10.211.0.1/24", "dev", "kpfixa");
      await inNs("link", "set", "kpfixa", "up");
      await inNs("link", "set", "kpfixb", "up");
      await inNs("route", "add", "10.96.0.0/12", "dev", "kpfixa");

      const script = `${dir}/serve.ts`;
      await Deno.writeTextFile(script, SERVE_SCRIPT);
      const config = new URL("../deno.json", import.meta.url).pathname;
      child = new Deno.Command("ip", {
        args: ["netns", "exec", ns, Deno.execPath(), "run", "-A", "--config", config, script],
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
        env: { DENO_NO_UPDATE_CHECK: "1" },
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      let port: string | undefined;
      while (port === undefined) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the server exited before printing its port: ${text}`);
        text += value;
        port = text.match(/PORT (\d+)/)?.[1];
      }
      reader.releaseLock();
      child.stdout.cancel().catch(() => {});

      // The intercept's shape: nat OUTPUT REDIRECTs the DNS service IP to the local responder.
      await must(
        "ip",
        "netns",
        "exec",
        ns,
        "iptables",
        "-t",
        "nat",
        "-A",
        "OUTPUT",
        "-d",
        "10.96.0.10/32",
        "-p",
        "udp",
        "--dport",
        "53",
        "-j",
        "REDIRECT",
        "--to-ports",
        port,
      );
      const dig = await run(
        "ip",
        "netns",
        "exec",
        ns,
        "dig",
        "+short",
        "+time=2",
        "+tries=2",
        "@10.96.0.10",
        SVC1,
        "A",
      );
      const d = new TextDecoder();
      assertEquals(
        d.decode(dig.stdout).trim(),
        "10.0.0.1",
        `dig: ${d.decode(dig.stdout)}${d.decode(dig.stderr)}`,
      );
    } finally {
      if (child !== undefined) {
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
        await child.status;
      }
      if (created) await run("ip", "netns", "del", ns);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
