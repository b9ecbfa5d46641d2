import { assert, assertEquals } from "../tests/assert.ts";
import { decodeMessage, encodeQuery, encodeReply, parseQuery } from "./codec.ts";
import { Forwarder, parseResolvConf, parseUpstream } from "./forward.ts";
import { RRType } from "./message.ts";
import {
  exchangeTcp,
  exchangeUdp,
  makeClusterView,
  makeFixture,
  TEST_SERVER_OPTIONS,
  withDnsServer,
} from "./testing.ts";

type Behaviour = "answer" | "truncate-udp" | "silent" | "wrong-question";

/**
 * A tiny upstream on loopback (UDP and TCP on one port) answering every A question with
 * 192.0.2.1 (its own marker), or truncating over UDP, or never answering.
 */
class FakeUpstream {
  readonly udp: Deno.DatagramConn;
  readonly tcp: Deno.TcpListener;
  readonly port: number;
  udpQueries = 0;
  tcpQueries = 0;
  #loops: Promise<void>[] = [];

  constructor(public behaviour: Behaviour, public address = "192.0.2.1") {
    for (;;) {
      const udp = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
      try {
        this.tcp = Deno.listen({ hostname: "127.0.0.1", port: (udp.addr as Deno.NetAddr).port });
        this.udp = udp;
        break;
      } catch {
        udp.close();
      }
    }
    this.port = (this.udp.addr as Deno.NetAddr).port;
    this.#loops.push(this.#serveUdp(), this.#serveTcp());
  }

  get hostPort(): string {
    return `127.0.0.1:${this.port}`;
  }

  #reply(packet: Uint8Array, truncate: boolean): Uint8Array | undefined {
    const q = parseQuery(packet);
    if (q === undefined || q.error !== undefined) return undefined;
    const answers = q.type === RRType.A
      ? [{ name: q.name, type: RRType.A as 1, ttl: 60, data: this.address }]
      : [];
    const bytes = encodeReply(q, packet, {
      rcode: "NOERROR",
      answers: truncate ? [] : answers,
      authority: [],
      additionals: [],
      authoritative: false,
    }, 65535);
    if (truncate) bytes[2] |= 0x02;
    return bytes;
  }

  async #serveUdp(): Promise<void> {
    for (;;) {
      let packet: Uint8Array, addr: Deno.Addr;
      try {
        [packet, addr] = await this.udp.receive();
      } catch {
        return;
      }
      this.udpQueries++;
      if (this.behaviour === "silent") continue;
      if (this.behaviour === "wrong-question") {
        // A reply with the right ID from the right address, for another name (a spoof).
        const other = encodeQuery({
          id: (packet[0] << 8) | packet[1],
          name: "evil.example",
          type: "A",
        });
        const out = this.#reply(other, false);
        if (out) await this.udp.send(out, addr).catch(() => 0);
        continue;
      }
      const out = this.#reply(packet, this.behaviour === "truncate-udp");
      if (out) await this.udp.send(out, addr).catch(() => 0);
    }
  }

  async #serveTcp(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.tcp.accept();
      } catch {
        return;
      }
      this.tcpQueries++;
      (async () => {
        try {
          const len = new Uint8Array(2);
          if ((await conn.read(len)) !== 2) return;
          const msg = new Uint8Array((len[0] << 8) | len[1]);
          for (let off = 0; off < msg.length;) {
            const n = await conn.read(msg.subarray(off));
            if (n === null) return;
            off += n;
          }
          if (this.behaviour === "silent") return;
          const out = this.#reply(msg, false)!;
          await conn.write(new Uint8Array([out.length >> 8, out.length & 0xff, ...out]));
        } catch {
          // client went away
        } finally {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })();
    }
  }

  async close(): Promise<void> {
    this.udp.close();
    this.tcp.close();
    await Promise.allSettled(this.#loops);
  }
}

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
