import { assert, assertEquals } from "../tests/assert.ts";
import { decodeMessage, encodeQuery, type QueryOptions } from "./codec.ts";
import { Forwarder, parseResolvConf, parseUpstream } from "./forward.ts";
import {
  exchangeTcp,
  exchangeUdp,
  makeClusterView,
  makeFixture,
  TEST_SERVER_OPTIONS,
  withDnsServer,
} from "./testing.ts";
import { ClientFilter } from "./client_filter.ts";
import { type Behaviour, FakeUpstream, LARGE_ANSWER_RECORDS } from "./fake_upstream.ts";
import { noopDnsMetrics } from "./metrics.ts";
import type { DnsServer, DnsServerOptions } from "./server.ts";

const OPTS = { timeoutMs: 300, maxConcurrent: 10 };

function answersOf(packet: Uint8Array): readonly string[] {
  return decodeMessage(packet)!.answers;
}

Deno.test("Forwarder.forward() relays the upstream's UDP reply with the client's ID", async () => {
  const up = new FakeUpstream("answer");
  const fwd = await Forwarder.create({ upstreams: [up.hostPort], ...OPTS });
  try {
    const result = await fwd.forward(
      encodeQuery({ id: 777, name: "example.org", type: "A" }),
      "udp",
    );
    assert(result.kind === "reply");
    assertEquals(decodeMessage(result.packet)!.id, 777);
    assertEquals(answersOf(result.packet), ["example.org. 60 IN A 192.0.2.1"]);
    assertEquals([up.udpQueries, up.tcpQueries], [1, 0]);
  } finally {
    fwd.close();
    await up.close();
  }
});

Deno.test("Forwarder.forward() retries over TCP when the UDP reply is truncated", async () => {
  const up = new FakeUpstream("truncate-udp");
  const fwd = await Forwarder.create({ upstreams: [up.hostPort], ...OPTS });
  try {
    const result = await fwd.forward(
      encodeQuery({ id: 9, name: "big.example.org", type: "A" }),
      "udp",
    );
    assert(result.kind === "reply");
    assertEquals(decodeMessage(result.packet)!.truncated, false);
    assertEquals(answersOf(result.packet), ["big.example.org. 60 IN A 192.0.2.1"]);
    assertEquals([up.udpQueries, up.tcpQueries], [1, 1]);
  } finally {
    fwd.close();
    await up.close();
  }
});

Deno.test("Forwarder.forward() fails after the timeout and fails over to the next upstream", async () => {
  const silent = new FakeUpstream("silent");
  const good = new FakeUpstream("answer", "192.0.2.2");
  const alone = await Forwarder.create({ upstreams: [silent.hostPort], ...OPTS });
  const both = await Forwarder.create({ upstreams: [silent.hostPort, good.hostPort], ...OPTS });
  try {
    const q = encodeQuery({ id: 1, name: "example.org", type: "A" });
    assertEquals(await alone.forward(q, "udp"), { kind: "failed" });
    const result = await both.forward(q, "udp");
    assert(result.kind === "reply");
    assertEquals(answersOf(result.packet), ["example.org. 60 IN A 192.0.2.2"]);
    // Rotation: the next query starts at the second upstream and needs no failover.
    const silentBefore = silent.udpQueries;
    assert((await both.forward(q, "udp")).kind === "reply");
    assertEquals(silent.udpQueries, silentBefore);
  } finally {
    alone.close();
    both.close();
    await silent.close();
    await good.close();
  }
});

Deno.test("Forwarder.forward() ignores replies that do not repeat the question", async () => {
  const spoof = new FakeUpstream("wrong-question");
  const fwd = await Forwarder.create({ upstreams: [spoof.hostPort], ...OPTS });
  try {
    const q = encodeQuery({ id: 1, name: "Example.ORG", type: "A" });
    assertEquals(await fwd.forward(q, "udp"), { kind: "failed" });
    assertEquals(spoof.udpQueries, 1);
  } finally {
    fwd.close();
    await spoof.close();
  }
});

Deno.test("Forwarder.forward() refuses beyond maxConcurrent forwards in flight", async () => {
  const silent = new FakeUpstream("silent");
  const fwd = await Forwarder.create({
    upstreams: [silent.hostPort],
    timeoutMs: 300,
    maxConcurrent: 1,
  });
  try {
    const q = encodeQuery({ id: 1, name: "example.org", type: "A" });
    const first = fwd.forward(q, "udp");
    assertEquals(fwd.inFlight, 1);
    assertEquals(await fwd.forward(q, "udp"), { kind: "refused" });
    assertEquals(await first, { kind: "failed" });
    assertEquals(fwd.inFlight, 0);
  } finally {
    fwd.close();
    await silent.close();
  }
});

Deno.test("Forwarder.create() reads upstreams from resolv.conf when none are configured", async () => {
  const up = new FakeUpstream("answer");
  const path = await Deno.makeTempFile({ prefix: "kpdns-resolv-" });
  try {
    await Deno.writeTextFile(path, `# comment\nsearch example\nnameserver ${up.hostPort}\n`);
    const fwd = await Forwarder.create({ upstreams: [], resolvConfPath: path, ...OPTS });
    try {
      assertEquals(fwd.upstreams, [{ hostname: "127.0.0.1", port: up.port }]);
    } finally {
      fwd.close();
    }
  } finally {
    await Deno.remove(path);
    await up.close();
  }
});

Deno.test("Forwarder.create() drops upstreams that are this server", async () => {
  const fwd = await Forwarder.create({
    upstreams: ["10.96.0.10", "127.0.0.1:5353", "10.0.0.2"],
    self: [{ hostname: "127.0.0.1", port: 5353 }, { hostname: "10.96.0.10", port: 53 }],
    ...OPTS,
  });
  try {
    assertEquals(fwd.upstreams, [{ hostname: "10.0.0.2", port: 53 }]);
  } finally {
    fwd.close();
  }
});

Deno.test("parseResolvConf() returns nameserver lines without comments or zone suffixes", () => {
  assertEquals(
    parseResolvConf(
      "nameserver 10.0.0.10\n; x\n#nameserver 1.1.1.1\nnameserver fe80::1%eth0 # c\noptions ndots:5\n",
    ),
    ["10.0.0.10", "fe80::1"],
  );
});

Deno.test("parseUpstream() accepts ip, ip:port and [ipv6]:port and rejects the rest", () => {
  assertEquals(parseUpstream("10.0.0.1"), { hostname: "10.0.0.1", port: 53 });
  assertEquals(parseUpstream("10.0.0.1:5353"), { hostname: "10.0.0.1", port: 5353 });
  assertEquals(parseUpstream("fd00::1"), { hostname: "fd00::1", port: 53 });
  assertEquals(parseUpstream("[fd00::1]:54"), { hostname: "fd00::1", port: 54 });
  assertEquals(parseUpstream("dns.example"), undefined);
  assertEquals(parseUpstream("10.0.0.1:0"), undefined);
  assertEquals(parseUpstream("10.0.0.1:99999"), undefined);
});

Deno.test("DnsServer forwards names outside the zone, chases ExternalName targets, and falls through PTR", async () => {
  const up = new FakeUpstream("answer");
  const options = {
    ...TEST_SERVER_OPTIONS,
    upstreamServers: [up.hostPort],
    forwardTimeoutMs: 300,
    reverseFallthrough: true,
  };
  try {
    await withDnsServer(makeClusterView(makeFixture()), options, async (server) => {
      const { hostname, udpPort } = server.address;
      const outside = await exchangeUdp(
        hostname,
        udpPort,
        encodeQuery({ id: 5, name: "www.example.org", type: "A" }),
      );
      assertEquals(answersOf(outside!), ["www.example.org. 60 IN A 192.0.2.1"]);
      const [overTcp] = await exchangeTcp(hostname, udpPort, [
        encodeQuery({ id: 6, name: "a.example.org", type: "A" }),
      ]);
      assertEquals(answersOf(overTcp), ["a.example.org. 60 IN A 192.0.2.1"]);
      assert(up.tcpQueries >= 1, "a TCP client is forwarded over TCP");
      const ext = await exchangeUdp(
        hostname,
        udpPort,
        encodeQuery({ id: 7, name: "ext.testns.svc.cluster.local", type: "A" }),
      );
      assertEquals(answersOf(ext!), [
        "ext.testns.svc.cluster.local. 5 IN CNAME ext.example.org.",
        "ext.example.org. 60 IN A 192.0.2.1",
      ]);
      const ptr = await exchangeUdp(
        hostname,
        udpPort,
        encodeQuery({ id: 8, name: "9.9.9.9.in-addr.arpa", type: "PTR" }),
      );
      const msg = decodeMessage(ptr!)!;
      assertEquals([msg.rcode, msg.authoritative], ["NOERROR", false]); // the upstream's answer
      const known = await exchangeUdp(
        hostname,
        udpPort,
        encodeQuery({ id: 9, name: "1.0.0.10.in-addr.arpa", type: "PTR" }),
      );
      assertEquals(answersOf(known!), [
        "1.0.0.10.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local.",
      ]);
    });
  } finally {
    await up.close();
  }
});

Deno.test("DnsServer answers repeated outside names from its forward cache", async () => {
  const up = new FakeUpstream("answer");
  const options = {
    ...TEST_SERVER_OPTIONS,
    upstreamServers: [up.hostPort],
    forwardTimeoutMs: 300,
  };
  try {
    await withDnsServer(makeClusterView(makeFixture()), options, async (server) => {
      const { hostname, udpPort } = server.address;
      for (const id of [1, 2, 3]) {
        const reply = await exchangeUdp(
          hostname,
          udpPort,
          encodeQuery({ id, name: "www.example.org", type: "A" }),
        );
        assertEquals(decodeMessage(reply!)!.id, id);
        assertEquals(answersOf(reply!).length, 1);
      }
      assertEquals(up.udpQueries, 1);
    });
  } finally {
    await up.close();
  }
});

Deno.test("DnsServer answers SERVFAIL for outside names when no upstream answers", async () => {
  const silent = new FakeUpstream("silent");
  const options = {
    ...TEST_SERVER_OPTIONS,
    upstreamServers: [silent.hostPort],
    forwardTimeoutMs: 100,
  };
  try {
    await withDnsServer(makeClusterView(makeFixture()), options, async (server) => {
      const { hostname, udpPort } = server.address;
      const reply = await exchangeUdp(
        hostname,
        udpPort,
        encodeQuery({ id: 5, name: "www.example.org", type: "A" }),
      );
      assertEquals(decodeMessage(reply!)!.rcode, "SERVFAIL");
    });
  } finally {
    await silent.close();
  }
});

Deno.test("DnsServer answers pipelined TCP queries as they complete, not in order", async () => {
  const silent = new FakeUpstream("silent");
  const options = {
    ...TEST_SERVER_OPTIONS,
    upstreamServers: [silent.hostPort],
    forwardTimeoutMs: 200,
  };
  try {
    await withDnsServer(makeClusterView(makeFixture()), options, async (server) => {
      const { hostname, tcpPort } = server.address;
      const replies = await exchangeTcp(hostname, tcpPort, [
        encodeQuery({ id: 1, name: "slow.example.org", type: "A" }), // waits for the timeout
        encodeQuery({ id: 2, name: "svc1.testns.svc.cluster.local", type: "A" }),
      ]);
      const got = replies.map((r) => decodeMessage(r)!).map((m) => `${m.id} ${m.rcode}`);
      assertEquals(got, ["2 NOERROR", "1 SERVFAIL"]);
    });
  } finally {
    await silent.close();
  }
});

/** Runs `fn` with a DnsServer (TEST_SERVER_OPTIONS plus `extra`) forwarding to a FakeUpstream. */
async function withForwarding(
  behaviour: Behaviour,
  extra: Partial<DnsServerOptions>,
  fn: (server: DnsServer, up: FakeUpstream) => Promise<void>,
): Promise<void> {
  const up = new FakeUpstream(behaviour);
  const options = { ...TEST_SERVER_OPTIONS, upstreamServers: [up.hostPort], ...extra };
  try {
    await withDnsServer(makeClusterView(makeFixture()), options, (server) => fn(server, up));
  } finally {
    await up.close();
  }
}

/** One query over UDP to the server; the decoded reply and its size. */
async function askUdp(server: DnsServer, query: QueryOptions) {
  const { hostname, udpPort } = server.address;
  const bytes = await exchangeUdp(hostname, udpPort, encodeQuery(query));
  assert(bytes !== undefined, `no UDP reply to ${query.name}`);
  return { size: bytes.length, msg: decodeMessage(bytes)! };
}

Deno.test("DnsServer caps forwarded UDP replies at the client's limit with TC; TCP gets them whole", async () => {
  await withForwarding("large", {}, async (server, up) => {
    // The upstream sends about 4,000 bytes over UDP; the client asked for 4,096 with EDNS.
    const name = "big.example.org";
    const udp = await askUdp(server, { id: 11, name, type: "A", ednsUdpSize: 4096 });
    assert(udp.size <= 1232, `UDP reply of ${udp.size} bytes`);
    assertEquals([udp.msg.id, udp.msg.truncated], [11, true]);
    // The forward cache holds the reply now: the same cap, and no second upstream query.
    const again = await askUdp(server, { id: 14, name, type: "A", ednsUdpSize: 4096 });
    assertEquals([again.size <= 1232, again.msg.truncated, up.udpQueries], [true, true, 1]);
    // Without EDNS the limit is 512.
    const classic = await askUdp(server, { id: 12, name, type: "A" });
    assert(classic.size <= 512, `UDP reply of ${classic.size} bytes`);
    assertEquals(classic.msg.truncated, true);
    const { hostname, tcpPort } = server.address;
    const [tcp] = await exchangeTcp(hostname, tcpPort, [encodeQuery({ id: 13, name, type: "A" })]);
    assert(tcp.length > 4000, `TCP reply of ${tcp.length} bytes`);
    assertEquals(decodeMessage(tcp)!.truncated, false);
    assertEquals(answersOf(tcp).length, LARGE_ANSWER_RECORDS);
  });
});

Deno.test("DnsServer answers ANY over UDP minimally (RFC 8482) without forwarding; TCP forwards", async () => {
  await withForwarding("answer", {}, async (server, up) => {
    const { msg } = await askUdp(server, { id: 21, name: "www.example.org", type: "ANY" });
    assertEquals([msg.rcode, msg.answers.length], ["NOERROR", 1]);
    assert(/ IN HINFO /.test(msg.answers[0]) && msg.answers[0].includes("RFC8482"), msg.answers[0]);
    assertEquals(up.udpQueries + up.tcpQueries, 0);
    const { hostname, tcpPort } = server.address;
    await exchangeTcp(hostname, tcpPort, [
      encodeQuery({ id: 22, name: "www.example.org", type: "ANY" }),
    ]);
    assertEquals(up.tcpQueries, 1);
  });
});

Deno.test("DnsServer refuses clients outside the cluster without forwarding and counts them", async () => {
  const blocked: string[] = [];
  const extra = {
    clients: new ClientFilter({ clusterCIDRs: ["10.244.0.0/16"], allowedClients: [] }),
    metrics: { ...noopDnsMetrics, observeBlocked: (l: { proto: string }) => blocked.push(l.proto) },
  };
  await withForwarding("answer", extra, async (server, up) => {
    const outside = encodeQuery({ id: 31, name: "www.example.org", type: "A" });
    const cluster = encodeQuery({ id: 32, name: "svc1.testns.svc.cluster.local", type: "A" });
    for (const [packet, proto] of [[outside, "udp"], [cluster, "tcp"]] as const) {
      const reply = await server.handle(packet, proto, "192.0.2.50");
      const msg = decodeMessage(reply!)!;
      assertEquals([msg.id, msg.rcode, msg.answers.length], [packet[1], "REFUSED", 0]);
      assert(reply!.length <= packet.length, "a refusal is no larger than the query");
    }
    assertEquals(blocked, ["udp", "tcp"]);
    assertEquals(up.udpQueries + up.tcpQueries, 0);
    // A pod of the cluster and loopback are answered (over the real socket: 127.0.0.1).
    const pod = decodeMessage((await server.handle(outside, "udp", "10.244.3.7"))!)!;
    assertEquals(pod.answers, ["www.example.org. 60 IN A 192.0.2.1"]);
    const local = await askUdp(server, {
      id: 33,
      name: "svc1.testns.svc.cluster.local",
      type: "A",
    });
    assertEquals(local.msg.rcode, "NOERROR");
    assertEquals(up.udpQueries, 1);
  });
});
