/**
 * Real packets through the proxier's rules (root only): a node namespace programmed by a Proxier
 * through the real iptables, two "pod" namespaces wired to it with veth pairs, TCP and UDP servers
 * in one, clients in the other and on the node. Checks ClusterIP load balancing over both
 * endpoints, no masquerade for pod traffic, NodePort with masquerade, UDP, REJECT for a service
 * without endpoints, the DNS intercept redirect, ClientIP affinity, and an endpoint change applied
 * by one partial sync.
 *
 * Topology (all namespaces ours, named kprules-*; nothing touches the root namespace):
 *
 *     client pod 10.180.1.1 ── veth ── 10.180.1.254 [node] 10.180.0.254 ── veth ── server pod
 *                                                                      10.180.0.1, 10.180.0.2
 */
import { assert, assertEquals } from "../assert.ts";
import { DenoCommandRunner } from "../../proxy/exec.ts";
import { ExecIptables, type IptablesBackend } from "../../proxy/iptables/iptables.ts";
import { Proxier } from "../../proxy/proxier.ts";
import { IptablesProxyBackend } from "../../proxy/iptables/backend.ts";
import { makeEndpoint, makeEndpointSlice, makeService } from "../fixtures.ts";

const isRoot = Deno.uid() === 0;
const dec = new TextDecoder();

async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")}: exit ${r.code}: ${dec.decode(r.stderr)}`);
  }
  return dec.decode(r.stdout);
}

/** Answers every TCP connection and UDP datagram with "<own ip> <peer ip>". */
const SERVER = `
import socket, socketserver, sys, threading
ip, tcp_port, udp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
class T(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(f"{ip} {self.client_address[0]}\\n".encode())
class U(socketserver.BaseRequestHandler):
    def handle(self):
        self.request[1].sendto(f"{ip} {self.client_address[0]}\\n".encode(), self.client_address)
socketserver.ThreadingTCPServer.allow_reuse_address = True
t = socketserver.ThreadingTCPServer((ip, tcp_port), T)
u = socketserver.ThreadingUDPServer((ip, udp_port), U)
threading.Thread(target=u.serve_forever, daemon=True).start()
print("ready", flush=True)
t.serve_forever()
`;

/** Makes `count` requests and prints one reply (or ERR <reason>) per line. */
const CLIENT = `
import socket, sys
ip, port, proto, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
for _ in range(count):
    try:
        if proto == "tcp":
            s = socket.create_connection((ip, port), timeout=3)
            print(s.makefile().readline().strip(), flush=True)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(3)
            s.sendto(b"hi", (ip, port))
            print(s.recv(100).decode().strip(), flush=True)
        s.close()
    except Exception as e:
        print("ERR", type(e).__name__, flush=True)
`;

interface Topology {
  node: string;
  server: string;
  client: string;
}

async function withTopology(fn: (t: Topology) => Promise<void>): Promise<void> {
  const id = crypto.randomUUID().slice(0, 6);
  const t = { node: `kprules-n${id}`, server: `kprules-s${id}`, client: `kprules-c${id}` };
  const created: string[] = [];
  try {
    for (const ns of [t.node, t.server, t.client]) {
      await sh("ip", ["netns", "add", ns]);
      created.push(ns);
      await sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    }
    const n = (...args: string[]) => sh("ip", ["-n", t.node, ...args]);
    await n("link", "add", "to-srv", "type", "veth", "peer", "name", "eth0", "netns", t.server);
    await n("link", "add", "to-cli", "type", "veth", "peer", "name", "eth0", "netns", t.client);
    await n("addr", "add", "10.180.0.254/24", "dev", "to-srv");
    await n("addr", "add", "10.180.1.254/24", "dev", "to-cli");
    await n("link", "set", "to-srv", "up");
    await n("link", "set", "to-cli", "up");
    await sh("ip", ["netns", "exec", t.node, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    // A node has a default route; without one, locally generated packets to a cluster IP fail
    // routing before the nat OUTPUT chain can DNAT them.
    await n("route", "add", "default", "via", "10.180.1.1");
    // That route points back at the client, so forwarding a packet to a service without
    // endpoints would first send an ICMP redirect, which uses up the per-host ICMP rate limit
    // and suppresses the REJECT's port-unreachable. Real nodes route elsewhere.
    for (const dev of ["all", "default", "to-cli", "to-srv"]) {
      await sh("ip", [
        "netns",
        "exec",
        t.node,
        "sysctl",
        "-qw",
        `net.ipv4.conf.${dev}.send_redirects=0`,
      ]);
    }
    for (
      const [ns, addrs, gw] of [
        [t.server, ["10.180.0.1/24", "10.180.0.2/24"], "10.180.0.254"],
        [t.client, ["10.180.1.1/24"], "10.180.1.254"],
      ] as const
    ) {
      for (const a of addrs) await sh("ip", ["-n", ns, "addr", "add", a, "dev", "eth0"]);
      await sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
      await sh("ip", ["-n", ns, "route", "add", "default", "via", gw]);
    }
    await fn(t);
  } finally {
    for (const ns of created) await sh("ip", ["netns", "del", ns]).catch(() => {});
  }
}

function startServer(ns: string, ip: string): Deno.ChildProcess {
  return new Deno.Command("ip", {
    args: ["netns", "exec", ns, "python3", "-c", SERVER, ip, "8080", "5353"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
}

async function waitReady(p: Deno.ChildProcess): Promise<void> {
  const reader = p.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  assert(value !== undefined && dec.decode(value).includes("ready"), "server did not start");
}

async function request(ns: string, ip: string, port: number, proto = "tcp", count = 1) {
  const out = await sh("ip", [
    "netns",
    "exec",
    ns,
    "python3",
    "-c",
    CLIENT,
    ip,
    String(port),
    proto,
    String(count),
  ]);
  return out.trim().split("\n");
}

for (const backend of ["legacy", "nft"] as IptablesBackend[]) {
  Deno.test({
    name: `Proxier rules carry real TCP and UDP traffic (${backend})`,
    ignore: !isRoot,
    sanitizeResources: false,
    fn: () =>
      withTopology(async (t) => {
        const run = new DenoCommandRunner({ netns: t.node });
        const backends = [
          new IptablesProxyBackend("IPv4", {
            syncPeriodMs: 30_000,
            localhostNodePorts: false,
            dnsIntercept: { serviceIPs: ["172.30.0.10"], port: 5353 },
          }, { iptables: new ExecIptables("IPv4", backend, { run }) }),
        ];
        const proxier = new Proxier({
          nodeName: "node-a",
          bindAddress: "10.180.1.254",
          syncPeriodMs: 30_000,
          minSyncPeriodMs: 1_000,
          localDetector: { mode: "ClusterCIDR", clusterCIDRs: ["10.180.0.0/16"] },
        }, {
          backends,
          createRunner: () => ({ run() {}, start() {}, stop() {} }),
        });
        proxier.onServiceAdd(makeService("ns1", "web", (s) => {
          s.type = "NodePort";
          s.clusterIPs = ["172.30.0.41"];
          s.ports = [
            { name: "http", protocol: "TCP", port: 80, targetPort: 8080, nodePort: 30080 },
            { name: "dns", protocol: "UDP", port: 53, targetPort: 5353, nodePort: 0 },
          ];
        }));
        proxier.onServiceAdd(makeService("ns1", "sticky", (s) => {
          s.clusterIPs = ["172.30.0.42"];
          s.ports = [{ name: "", protocol: "TCP", port: 80, targetPort: 8080, nodePort: 0 }];
          s.sessionAffinity = "ClientIP";
        }));
        proxier.onEndpointSliceAdd(makeEndpointSlice("ns1", "sticky", 1, (s) => {
          s.ports = [{ name: "", protocol: "TCP", port: 8080 }];
          s.endpoints = [makeEndpoint("10.180.0.1"), makeEndpoint("10.180.0.2")];
        }));
        proxier.onServiceAdd(makeService("ns1", "empty", (s) => {
          s.clusterIPs = ["172.30.0.46"];
          s.ports = [{ name: "", protocol: "TCP", port: 80, targetPort: 80, nodePort: 0 }];
        }));
        const webSlice = makeEndpointSlice("ns1", "web", 1, (s) => {
          s.ports = [
            { name: "http", protocol: "TCP", port: 8080 },
            { name: "dns", protocol: "UDP", port: 5353 },
          ];
          s.endpoints = [makeEndpoint("10.180.0.1"), makeEndpoint("10.180.0.2")];
        });
        proxier.onEndpointSliceAdd(webSlice);
        proxier.onServicesSynced();
        proxier.onEndpointSlicesSynced();
        await proxier.syncProxyRules();

        const servers = [startServer(t.server, "10.180.0.1"), startServer(t.server, "10.180.0.2")];
        // The node-local "DNS responder" of the intercept: the same server on the node.
        const responder = startServer(t.node, "0.0.0.0");
        try {
          for (const s of [...servers, responder]) await waitReady(s);

          // Pod to ClusterIP: spread over both endpoints, source preserved.
          const replies = await request(t.client, "172.30.0.41", 80, "tcp", 24);
          const backends = new Set(replies.map((r) => r.split(" ")[0]));
          assertEquals([...backends].sort(), ["10.180.0.1", "10.180.0.2"], replies.join("\n"));
          assert(replies.every((r) => r.endsWith(" 10.180.1.1")), "pod traffic not masqueraded");

          // Node to ClusterIP (OUTPUT path).
          const fromNode = await request(t.node, "172.30.0.41", 80);
          assert(/^10\.180\.0\.[12] /.test(fromNode[0]), fromNode[0]);

          // Pod to NodePort on the node's address: DNATed and masqueraded (eTP Cluster).
          const np = await request(t.client, "10.180.1.254", 30080);
          assert(/^10\.180\.0\.[12] 10\.180\.0\.254$/.test(np[0]), np[0]);

          // UDP to the ClusterIP.
          const udp = await request(t.client, "172.30.0.41", 53, "udp");
          assert(/^10\.180\.0\.[12] 10\.180\.1\.1$/.test(udp[0]), udp[0]);

          // No endpoints: REJECT, so the client is refused rather than left waiting.
          assertEquals(await request(t.client, "172.30.0.46", 80), ["ERR ConnectionRefusedError"]);

          // DNS intercept: the cluster-DNS IP on port 53 reaches the node-local responder.
          const dns = await request(t.client, "172.30.0.10", 53, "udp");
          assertEquals(dns, ["0.0.0.0 10.180.1.1"]);

          // ClientIP affinity: every connection of the client sticks to one endpoint.
          const sticky = await request(t.client, "172.30.0.42", 80, "tcp", 12);
          assertEquals(new Set(sticky.map((r) => r.split(" ")[0])).size, 1, sticky.join("\n"));

          // An endpoint change is followed within one (partial) sync.
          proxier.onEndpointSliceUpdate(webSlice, {
            ...webSlice,
            endpoints: [webSlice.endpoints[0]],
          });
          await proxier.syncProxyRules();
          const after = await request(t.client, "172.30.0.41", 80, "tcp", 8);
          assert(after.every((r) => r.startsWith("10.180.0.1 ")), after.join("\n"));
        } finally {
          for (const s of [...servers, responder]) {
            try {
              s.kill("SIGKILL");
            } catch { /* already gone */ }
            await s.status;
            await s.stdout.cancel().catch(() => {});
          }
        }
      }),
  });
}
