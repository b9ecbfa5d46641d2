import { assert, assertEquals } from "../tests/assert.ts";
import { ClusterView } from "./cluster_view.ts";
import { decodeMessage, encodeQuery } from "./codec.ts";
import type { DnsMetrics } from "./metrics.ts";
import { DnsServer } from "./server.ts";
import {
  exchangeTcp,
  exchangeUdp,
  makeClusterView,
  makeEndpoint,
  makeFixture,
  makeNamespace,
  makeService,
  readFull,
  TEST_SERVER_OPTIONS,
  withDnsServer,
  withHeadlessService,
} from "./testing.ts";

const OPTS = TEST_SERVER_OPTIONS;

const SVC1 = "svc1.testns.svc.cluster.local";

function decode(reply: Uint8Array | undefined) {
  assert(reply !== undefined, "expected a reply");
  const msg = decodeMessage(reply);
  assert(msg !== undefined, "expected a decodable reply");
  return msg;
}

function sync(
  out: Uint8Array | Promise<Uint8Array | undefined> | undefined,
): Uint8Array | undefined {
  assert(!(out instanceof Promise), "expected a synchronous answer");
  return out;
}

function query(
  name: string,
  type: string | number,
  extra: Partial<Parameters<typeof encodeQuery>[0]> = {},
) {
  return encodeQuery({ id: 4242, name, type, ...extra });
}

Deno.test("DnsServer.handle() stays silent on packets shorter than a header and on responses", () => {
  const server = new DnsServer(makeClusterView(makeFixture()), OPTS);
  assertEquals(server.handle(new Uint8Array(0), "udp"), undefined);
  assertEquals(server.handle(new Uint8Array(11), "udp"), undefined);
  const response = query(SVC1, "A");
  response[2] |= 0x80;
  assertEquals(server.handle(response, "udp"), undefined);
});

Deno.test("DnsServer.handle() answers malformed queries with FORMERR and keeps the ID", () => {
  const server = new DnsServer(makeClusterView(makeFixture()), OPTS);
  const cases: [string, Uint8Array][] = [];
  const two = query(SVC1, "A");
  two[5] = 2; // QDCOUNT 2
  cases.push(["qdcount 2", two]);
  const none = query(SVC1, "A");
  none[5] = 0;
  cases.push(["qdcount 0", none]);
  const answers = query(SVC1, "A");
  answers[7] = 1; // ANCOUNT 1 with no record
  cases.push(["ancount 1", answers]);
  const absurd = query(SVC1, "A");
  absurd[10] = 0xff;
  absurd[11] = 0xff;
  cases.push(["arcount 65535", absurd]);
  cases.push(["truncated question", query(SVC1, "A").subarray(0, 20)]);
  cases.push(["no qtype", query(SVC1, "A").subarray(0, query(SVC1, "A").length - 3)]);
  const loop = new Uint8Array([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  cases.push(["compression pointer loop", loop]);
  const label = query(SVC1, "A");
  label[12] = 0x45; // reserved label type
  cases.push(["extended label type", label]);
  const trailing = new Uint8Array([...query(SVC1, "A"), 1, 2, 3]);
  cases.push(["trailing bytes", trailing]);
  const twoOpt = query(SVC1, "A", { ednsUdpSize: 1232 });
  const opt = twoOpt.subarray(twoOpt.length - 11);
  const doubled = new Uint8Array([...twoOpt, ...opt]);
  doubled[11] = 2;
  cases.push(["two OPT records", doubled]);
  cases.push(["qtype OPT", query(SVC1, 41)]);
  for (const [what, packet] of cases) {
    const msg = decode(sync(server.handle(packet, "udp")));
    assertEquals(msg.rcode, "FORMERR", what);
    assertEquals(msg.id, (packet[0] << 8) | packet[1], what);
    assertEquals(msg.answers.length, 0, what);
  }
});

Deno.test("DnsServer.handle() answers NOTIMP, REFUSED and BADVERS as a mature server does", () => {
  const server = new DnsServer(makeClusterView(makeFixture()), OPTS);
  const notify = query(SVC1, "SOA");
  notify[2] |= 4 << 3; // opcode NOTIFY
  const update = query(SVC1, "SOA");
  update[2] |= 5 << 3; // opcode UPDATE
  const rows: [string, Uint8Array, string][] = [
    ["NOTIFY", notify, "NOTIMP"],
    ["UPDATE", update, "NOTIMP"],
    ["MAILB", query(SVC1, 253), "NOTIMP"],
    ["class CH", query(SVC1, "A", { class: 3 }), "REFUSED"],
    ["class ANY", query(SVC1, "A", { class: 255 }), "REFUSED"],
    ["AXFR", query("cluster.local", "AXFR"), "REFUSED"],
    ["IXFR", query("cluster.local", "IXFR"), "REFUSED"],
  ];
  for (const [what, packet, rcode] of rows) {
    assertEquals(decode(sync(server.handle(packet, "udp"))).rcode, rcode, what);
  }
  const v1 = query(SVC1, "A", { ednsUdpSize: 1232 });
  v1[v1.length - 5] = 1; // EDNS version 1
  const badvers = decode(sync(server.handle(v1, "udp")));
  assertEquals(badvers.rcode, "BADVERS");
  assertEquals(badvers.edns?.version, 0);
});

Deno.test("DnsServer.handle() echoes EDNS(0) with our payload size and the DO bit", () => {
  const server = new DnsServer(makeClusterView(makeFixture()), OPTS);
  const plain = decode(sync(server.handle(query(SVC1, "A"), "udp")));
  assertEquals(plain.edns, undefined);
  const edns = decode(
    sync(server.handle(query(SVC1, "A", { ednsUdpSize: 4096, dnssecOk: true }), "udp")),
  );
  assertEquals(edns.edns, { udpSize: 1232, version: 0, dnssecOk: true });
  assertEquals(edns.answers, [`${SVC1}. 5 IN A 10.0.0.1`]);
});

function bigHeadless(n: number): ClusterView {
  const endpoints = Array.from({ length: n }, (_, i) => makeEndpoint(`10.9.${i >> 8}.${i & 0xff}`));
  return makeClusterView(withHeadlessService(makeFixture(), "big", endpoints));
}

Deno.test("DnsServer.handle() sets TC when the answer exceeds the client's UDP size, not over TCP", () => {
  const server = new DnsServer(bigHeadless(200), OPTS);
  const name = "big.testns.svc.cluster.local";
  const classic = sync(server.handle(query(name, "A"), "udp"))!;
  const small = decode(classic);
  assert(small.truncated, "TC without EDNS");
  assert(classic.length <= 512, `reply of ${classic.length} bytes exceeds 512`);
  assert(small.answers.length > 0 && small.answers.length < 200);
  const ednsBytes = sync(server.handle(query(name, "A", { ednsUdpSize: 1232 }), "udp"))!;
  const edns = decode(ednsBytes);
  assert(edns.truncated, "TC with EDNS 1232");
  assert(ednsBytes.length <= 1232);
  assert(edns.answers.length > small.answers.length);
  const tcp = decode(sync(server.handle(query(name, "A"), "tcp")));
  assertEquals(tcp.truncated, false);
  assertEquals(tcp.answers.length, 200);
});

Deno.test("DnsServer.handle() answers SERVFAIL for negative answers until the view has synced", () => {
  const view = new ClusterView();
  const server = new DnsServer(view, OPTS);
  view.onNamespaceAdd(makeNamespace("testns"));
  view.onServiceAdd(makeService("testns", "svc1"));
  assertEquals(decode(sync(server.handle(query(SVC1, "A"), "udp"))).answers, [
    `${SVC1}. 5 IN A 10.0.0.1`,
  ]);
  const missing = "nope.testns.svc.cluster.local";
  assertEquals(decode(sync(server.handle(query(missing, "A"), "udp"))).rcode, "SERVFAIL");
  assertEquals(decode(sync(server.handle(query(SVC1, "AAAA"), "udp"))).rcode, "SERVFAIL");
  view.onServicesSynced();
  view.onEndpointSlicesSynced();
  assertEquals(decode(sync(server.handle(query(missing, "A"), "udp"))).rcode, "SERVFAIL");
  view.onNamespacesSynced();
  assertEquals(decode(sync(server.handle(query(missing, "A"), "udp"))).rcode, "NXDOMAIN");
});

Deno.test("DnsServer.handle() answers without SERVFAIL when Namespaces are unavailable (403)", () => {
  const view = new ClusterView();
  const server = new DnsServer(view, OPTS);
  view.onServiceAdd(makeService("testns", "svc1"));
  view.onServicesSynced();
  view.onEndpointSlicesSynced();
  const missing = "nope.testns.svc.cluster.local";
  assertEquals(decode(sync(server.handle(query(missing, "A"), "udp"))).rcode, "SERVFAIL");
  view.onNamespacesUnavailable();
  assert(view.hasSynced());
  // A namespace exists while it holds a Service.
  assertEquals(decode(sync(server.handle(query(SVC1, "A"), "udp"))).answers, [
    `${SVC1}. 5 IN A 10.0.0.1`,
  ]);
  assertEquals(decode(sync(server.handle(query(missing, "A"), "udp"))).rcode, "NXDOMAIN");
  const aaaa = decode(sync(server.handle(query(SVC1, "AAAA"), "udp")));
  assertEquals([aaaa.rcode, aaaa.answers.length], ["NOERROR", 0]);
  const ns = decode(sync(server.handle(query("testns.svc.cluster.local", "A"), "udp")));
  assertEquals([ns.rcode, ns.answers.length], ["NOERROR", 0]);
  const other = "svc1.elsewhere.svc.cluster.local";
  assertEquals(decode(sync(server.handle(query(other, "A"), "udp"))).rcode, "NXDOMAIN");
  assertEquals(
    decode(sync(server.handle(query("elsewhere.svc.cluster.local", "A"), "udp"))).rcode,
    "NXDOMAIN",
  );
  // The permission appears: Namespace objects decide again (an empty namespace exists).
  view.onNamespaceAdd(makeNamespace("elsewhere"));
  view.onNamespacesSynced();
  const empty = decode(sync(server.handle(query("elsewhere.svc.cluster.local", "A"), "udp")));
  assertEquals([empty.rcode, empty.answers.length], ["NOERROR", 0]);
  assertEquals(decode(sync(server.handle(query(missing, "A"), "udp"))).rcode, "NXDOMAIN");
});

Deno.test("DnsServer.handle() drops cached answers when the view changes", () => {
  const view = makeClusterView(makeFixture());
  const server = new DnsServer(view, OPTS);
  const name = "later.testns.svc.cluster.local";
  assertEquals(decode(sync(server.handle(query(name, "A"), "udp"))).rcode, "NXDOMAIN");
  assertEquals(decode(sync(server.handle(query(name, "A"), "udp"))).rcode, "NXDOMAIN");
  const svc = makeService("testns", "later", (s) => s.clusterIPs = ["10.0.0.77"]);
  view.onServiceAdd(svc);
  assertEquals(decode(sync(server.handle(query(name, "A"), "udp"))).answers, [
    `${name}. 5 IN A 10.0.0.77`,
  ]);
  view.onServiceUpdate(svc, makeService("testns", "later", (s) => s.clusterIPs = ["10.0.0.78"]));
  assertEquals(decode(sync(server.handle(query(name, "A"), "udp"))).answers, [
    `${name}. 5 IN A 10.0.0.78`,
  ]);
  view.onServiceDelete(svc);
  assertEquals(decode(sync(server.handle(query(name, "A"), "udp"))).rcode, "NXDOMAIN");
});

Deno.test("DnsServer keeps its answer cache within answerCacheMaxBytes", () => {
  const server = new DnsServer(makeClusterView(makeFixture()), {
    ...OPTS,
    answerCacheMaxBytes: 1000,
  });
  let most = 0;
  for (let i = 0; i < 200; i++) {
    const name = `10-0-${i >> 8}-${i & 255}.testns.pod.cluster.local`;
    assertEquals(decode(sync(server.handle(query(name, "A"), "udp"))).answers.length, 1);
    most = Math.max(most, server.answerCacheBytes);
  }
  assert(most > 500 && most <= 1000, `most bytes held: ${most}`);
  // The same 200 names under the entry limit alone would hold them all.
  const unbounded = new DnsServer(makeClusterView(makeFixture()), OPTS);
  for (let i = 0; i < 200; i++) {
    unbounded.handle(query(`10-0-${i >> 8}-${i & 255}.testns.pod.cluster.local`, "A"), "udp");
  }
  assert(unbounded.answerCacheBytes > 10 * 1000);
});

Deno.test("DnsServer.handle() copies RD and CD per query, also from the cache", () => {
  const server = new DnsServer(makeClusterView(makeFixture()), OPTS);
  const rd = sync(server.handle(query(SVC1, "A"), "udp"))!;
  assertEquals(rd[2] & 0x01, 1);
  const noRd = sync(server.handle(query(SVC1, "A", { recursionDesired: false }), "udp"))!;
  assertEquals(noRd[2] & 0x01, 0);
  const cd = query(SVC1, "A");
  cd[3] |= 0x10;
  assertEquals(sync(server.handle(cd, "udp"))![3] & 0x10, 0x10);
  assertEquals(sync(server.handle(query(SVC1, "A"), "udp"))![3] & 0x10, 0);
});

Deno.test("DnsServer.handle() reports requests and responses to its metrics", () => {
  const seen: string[] = [];
  const metrics: DnsMetrics = {
    observeRequest: (l) => seen.push(`req ${l.proto} ${l.type}`),
    observeResponse: (l, s, size) => seen.push(`resp ${l.proto} ${l.rcode} ${s >= 0} ${size > 12}`),
    observeForward: (l) => seen.push(`fwd ${l.rcode}`),
    observeBlocked: (l) => seen.push(`blocked ${l.proto}`),
  };
  const server = new DnsServer(makeClusterView(makeFixture()), { ...OPTS, metrics });
  server.handle(query(SVC1, "SRV"), "tcp");
  server.handle(query("nope.testns.svc.cluster.local", "A"), "udp");
  assertEquals(seen, [
    "req tcp SRV",
    "resp tcp NOERROR true true",
    "req udp A",
    "resp udp NXDOMAIN true true",
  ]);
});

Deno.test("DnsServer answers on the same port over UDP and TCP and closes idle TCP connections", async () => {
  const idle = { ...OPTS, tcpIdleTimeoutMs: 50 };
  await withDnsServer(makeClusterView(makeFixture()), idle, async (server) => {
    const { hostname, udpPort, tcpPort } = server.address;
    assertEquals(udpPort, tcpPort);
    const udp = decode(await exchangeUdp(hostname, udpPort, query(SVC1, "A")));
    assertEquals(udp.answers, [`${SVC1}. 5 IN A 10.0.0.1`]);
    const [tcp] = await exchangeTcp(hostname, tcpPort, [query(SVC1, "A")]);
    assertEquals(decode(tcp).answers, [`${SVC1}. 5 IN A 10.0.0.1`]);
    const conn = await Deno.connect({ hostname, port: tcpPort });
    try {
      // The server closes the idle connection: the read ends instead of hanging.
      assertEquals(await conn.read(new Uint8Array(2)), null);
    } finally {
      conn.close();
    }
  });
});

Deno.test("DnsServer makes room for a new TCP connection by closing the oldest idle one", async () => {
  const server = new DnsServer(makeClusterView(makeFixture()), { ...OPTS, maxTcpConnections: 1 });
  await server.start();
  const { hostname, tcpPort } = server.address;
  const framed = (q: Uint8Array) => new Uint8Array([q.length >> 8, q.length & 0xff, ...q]);
  const first = await Deno.connect({ hostname, port: tcpPort });
  try {
    // The first connection is served, then idle ...
    await first.write(framed(query(SVC1, "A")));
    const len = await readFull(first, 2);
    const reply = await readFull(first, (len[0] << 8) | len[1]);
    assertEquals(decode(reply).answers, [`${SVC1}. 5 IN A 10.0.0.1`]);
    // ... so the second one takes its slot: the second is answered, the first is closed.
    const [answer] = await exchangeTcp(hostname, tcpPort, [query(SVC1, "A")]);
    assertEquals(decode(answer).answers, [`${SVC1}. 5 IN A 10.0.0.1`]);
    assertEquals(await first.read(new Uint8Array(2)).catch(() => null), null);
  } finally {
    first.close();
    await server.stop();
  }
});

Deno.test("DnsServer.handle() labels unnamed qtypes `other` in metrics", () => {
  const types: string[] = [];
  const metrics: DnsMetrics = {
    observeRequest: (l) => types.push(l.type),
    observeResponse: () => {},
    observeForward: () => {},
    observeBlocked: () => {},
  };
  const server = new DnsServer(makeClusterView(makeFixture()), { ...OPTS, metrics });
  for (const t of ["A", "HTTPS", "TYPE65280", "TYPE1234"]) server.handle(query(SVC1, t), "udp");
  assertEquals(types, ["A", "HTTPS", "other", "other"]);
});

Deno.test("DnsServer stops reading a TCP connection whose client does not read its replies", async () => {
  // 2,000 endpoints: each reply is ~32 KB. A client that pipelines queries and never reads
  // must not make the server queue every reply in memory: once `maxTcpPipeline` replies wait
  // for the socket, the server stops reading that connection.
  const endpoints = Array.from(
    { length: 2000 },
    (_, i) => makeEndpoint(`172.16.${i >> 8}.${i & 0xff}`),
  );
  const view = makeClusterView(withHeadlessService(makeFixture(), "big", endpoints));
  let handled = 0;
  const metrics: DnsMetrics = {
    observeRequest: () => handled++,
    observeResponse: () => {},
    observeForward: () => {},
    observeBlocked: () => {},
  };
  const total = 2000;
  await withDnsServer(view, { ...OPTS, metrics, maxTcpPipeline: 4 }, async (server) => {
    const { hostname, tcpPort } = server.address;
    const conn = await Deno.connect({ hostname, port: tcpPort });
    try {
      const q = query("big.testns.svc.cluster.local", "A");
      const framed = new Uint8Array((q.length + 2) * total);
      for (let i = 0; i < total; i++) {
        framed.set([q.length >> 8, q.length & 0xff, ...q], i * (q.length + 2));
      }
      const writing = (async () => {
        for (let w = 0; w < framed.length;) w += await conn.write(framed.subarray(w));
      })().catch(() => {});
      // Wait until the server has answered everything (the bug) or has stopped progressing.
      let last = -1;
      for (let still = 0; still < 10 && handled < total;) {
        await new Promise((r) => setTimeout(r, 50));
        still = handled === last ? still + 1 : 0;
        last = handled;
      }
      assert(handled < total, `the server read all ${handled} queries without sending replies`);
      conn.close();
      await writing;
    } catch (err) {
      try {
        conn.close();
      } catch { /* closed above */ }
      throw err;
    }
  });
});

Deno.test("DnsServer answers pipelined TCP queries sent one byte at a time", async () => {
  await withDnsServer(makeClusterView(makeFixture()), OPTS, async (server) => {
    const { hostname, tcpPort } = server.address;
    const conn = await Deno.connect({ hostname, port: tcpPort });
    try {
      conn.setNoDelay(true);
      for (const q of [query(SVC1, "A"), query(SVC1, "A")]) {
        const framed = Uint8Array.of(q.length >> 8, q.length & 0xff, ...q);
        for (let i = 0; i < framed.length; i++) await conn.write(framed.subarray(i, i + 1));
      }
      const read = async (n: number) => {
        const out = new Uint8Array(n);
        for (let off = 0; off < n;) {
          const got = await conn.read(out.subarray(off));
          assert(got !== null, "connection closed early");
          off += got;
        }
        return out;
      };
      for (let i = 0; i < 2; i++) {
        const len = await read(2);
        const reply = decode(await read((len[0] << 8) | len[1]));
        assertEquals(reply.answers, [`${SVC1}. 5 IN A 10.0.0.1`]);
      }
    } finally {
      conn.close();
    }
  });
});
