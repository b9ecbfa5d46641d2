/**
 * Record table: every answer form and every NXDOMAIN/NODATA rule of the cluster zone, asked
 * through the real DnsServer on loopback over UDP and over TCP, with a client built on the same
 * codec, against the fixture cluster of dns/testing.ts (CoreDNS-style rows).
 */

import { assertEquals } from "../assert.ts";
import { decodeMessage, encodeQuery } from "../../dns/codec.ts";
import type { DnsServer } from "../../dns/server.ts";
import {
  exchangeTcp,
  exchangeUdp,
  makeClusterView,
  makeFixture,
  TEST_SERVER_OPTIONS,
  withDnsServer,
} from "../../dns/testing.ts";

const SERIAL = 1700000000;
const SOA =
  `cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. ${SERIAL} 7200 1800 86400 5`;
const SOA_V4 =
  `in-addr.arpa. 5 IN SOA ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. ${SERIAL} 7200 1800 86400 5`;

interface Case {
  readonly qname: string;
  readonly qtype: string;
  readonly rcode: "NOERROR" | "NXDOMAIN";
  readonly answers?: readonly string[];
  readonly additionals?: readonly string[];
  /** Default: none for positive answers, the cluster SOA for negative ones. */
  readonly authority?: readonly string[];
}

const S = "testns.svc.cluster.local";

const CASES: readonly Case[] = [
  // ClusterIP services, dual stack.
  { qname: `svc1.${S}`, qtype: "A", rcode: "NOERROR", answers: [`svc1.${S}. 5 IN A 10.0.0.1`] },
  { qname: `svc1.${S}`, qtype: "AAAA", rcode: "NOERROR" },
  { qname: `svc6.${S}`, qtype: "A", rcode: "NOERROR", answers: [`svc6.${S}. 5 IN A 10.0.0.3`] },
  {
    qname: `svc6.${S}`,
    qtype: "AAAA",
    rcode: "NOERROR",
    answers: [`svc6.${S}. 5 IN AAAA fd00::3`],
  },
  {
    qname: `svc-empty.${S}`,
    qtype: "A",
    rcode: "NOERROR",
    answers: [`svc-empty.${S}. 5 IN A 10.0.0.4`],
  },
  // Case-insensitive, answers echo the query's case.
  {
    qname: "SVC1.TestNS.svc.Cluster.Local",
    qtype: "A",
    rcode: "NOERROR",
    answers: ["SVC1.TestNS.svc.Cluster.Local. 5 IN A 10.0.0.1"],
  },
  // SRV: bare service name (all ports), named port, protocol mismatch, case, dual stack.
  {
    qname: `svc1.${S}`,
    qtype: "SRV",
    rcode: "NOERROR",
    answers: [`svc1.${S}. 5 IN SRV 0 50 80 svc1.${S}.`, `svc1.${S}. 5 IN SRV 0 50 81 svc1.${S}.`],
    additionals: [`svc1.${S}. 5 IN A 10.0.0.1`],
  },
  {
    qname: `_http._tcp.svc1.${S}`,
    qtype: "SRV",
    rcode: "NOERROR",
    answers: [`_http._tcp.svc1.${S}. 5 IN SRV 0 100 80 svc1.${S}.`],
    additionals: [`svc1.${S}. 5 IN A 10.0.0.1`],
  },
  {
    qname: `_HtTp._TcP.svc1.testns.svc.CLUSTER.local`,
    qtype: "SRV",
    rcode: "NOERROR",
    answers: [
      `_HtTp._TcP.svc1.testns.svc.CLUSTER.local. 5 IN SRV 0 100 80 svc1.testns.svc.CLUSTER.local.`,
    ],
    additionals: [`svc1.testns.svc.CLUSTER.local. 5 IN A 10.0.0.1`],
  },
  { qname: `_http._udp.svc1.${S}`, qtype: "SRV", rcode: "NXDOMAIN" },
  {
    qname: `_http._tcp.svc1.${S}`,
    qtype: "A",
    rcode: "NOERROR",
    answers: [`_http._tcp.svc1.${S}. 5 IN A 10.0.0.1`],
  },
  {
    qname: `_http._tcp.svc6.${S}`,
    qtype: "SRV",
    rcode: "NOERROR",
    answers: [`_http._tcp.svc6.${S}. 5 IN SRV 0 50 80 svc6.${S}.`],
    additionals: [`svc6.${S}. 5 IN A 10.0.0.3`, `svc6.${S}. 5 IN AAAA fd00::3`],
  },
  // Headless: ready endpoints only, per family; endpoint hostnames and dashed names.
  {
    qname: `hdls1.${S}`,
    qtype: "A",
    rcode: "NOERROR",
    answers: [
      `hdls1.${S}. 5 IN A 172.0.0.2`,
      `hdls1.${S}. 5 IN A 172.0.0.3`,
      `hdls1.${S}. 5 IN A 172.0.0.4`,
    ],
  },
  {
    qname: `hdls1.${S}`,
    qtype: "AAAA",
    rcode: "NOERROR",
    answers: [`hdls1.${S}. 5 IN AAAA fd00::5`],
  },
  {
    qname: `dup-name.hdls1.${S}`,
    qtype: "A",
    rcode: "NOERROR",
    answers: [`dup-name.hdls1.${S}. 5 IN A 172.0.0.2`, `dup-name.hdls1.${S}. 5 IN A 172.0.0.3`],
  },
  {
    qname: `172-0-0-4.hdls1.${S}`,
    qtype: "A",
    rcode: "NOERROR",
    answers: [`172-0-0-4.hdls1.${S}. 5 IN A 172.0.0.4`],
  },
  {
    qname: `fd00--5.hdls1.${S}`,
    qtype: "AAAA",
    rcode: "NOERROR",
    answers: [`fd00--5.hdls1.${S}. 5 IN AAAA fd00::5`],
  },
  {
    qname: "web-0.nginx.default.svc.cluster.local",
    qtype: "SRV",
    rcode: "NOERROR",
    answers: [
      "web-0.nginx.default.svc.cluster.local. 5 IN SRV 0 50 80 web-0.nginx.default.svc.cluster.local.",
      "web-0.nginx.default.svc.cluster.local. 5 IN SRV 0 50 9100 web-0.nginx.default.svc.cluster.local.",
    ],
    additionals: ["web-0.nginx.default.svc.cluster.local. 5 IN A 10.1.0.10"],
  },
  { qname: `172-0-0-2.hdls1.${S}`, qtype: "A", rcode: "NXDOMAIN" }, // has a hostname
  { qname: `172-0-0-9.hdls1.${S}`, qtype: "A", rcode: "NXDOMAIN" }, // not ready
  { qname: `bogus.hdls1.${S}`, qtype: "A", rcode: "NXDOMAIN" },
  { qname: `dup-name.hdls1.${S}`, qtype: "TXT", rcode: "NOERROR" },
  // Endpoint names of a ClusterIP service (CoreDNS serves them too).
  {
    qname: `172-0-0-1.svc1.${S}`,
    qtype: "A",
    rcode: "NOERROR",
    answers: [`172-0-0-1.svc1.${S}. 5 IN A 172.0.0.1`],
  },
  {
    qname: `_http._tcp.hdls1.${S}`,
    qtype: "SRV",
    rcode: "NOERROR",
    answers: [
      `_http._tcp.hdls1.${S}. 5 IN SRV 0 25 80 dup-name.hdls1.${S}.`,
      `_http._tcp.hdls1.${S}. 5 IN SRV 0 25 80 172-0-0-4.hdls1.${S}.`,
      `_http._tcp.hdls1.${S}. 5 IN SRV 0 25 80 fd00--5.hdls1.${S}.`,
    ],
    additionals: [
      `dup-name.hdls1.${S}. 5 IN A 172.0.0.2`,
      `dup-name.hdls1.${S}. 5 IN A 172.0.0.3`,
      `172-0-0-4.hdls1.${S}. 5 IN A 172.0.0.4`,
      `fd00--5.hdls1.${S}. 5 IN AAAA fd00::5`,
    ],
  },
  // Headless without ready endpoints: NXDOMAIN; publishNotReadyAddresses publishes them.
  { qname: `hdls-none.${S}`, qtype: "A", rcode: "NXDOMAIN" },
  { qname: `hdls-none.${S}`, qtype: "SRV", rcode: "NXDOMAIN" },
  {
    qname: `hdls-pub.${S}`,
    qtype: "A",
    rcode: "NOERROR",
    answers: [`hdls-pub.${S}. 5 IN A 172.0.1.1`],
  },
  {
    qname: `peer-0.hdls-pub.${S}`,
    qtype: "A",
    rcode: "NOERROR",
    answers: [`peer-0.hdls-pub.${S}. 5 IN A 172.0.1.1`],
  },
  // StatefulSet pods behind a headless service.
  {
    qname: "web-0.nginx.default.svc.cluster.local",
    qtype: "A",
    rcode: "NOERROR",
    answers: ["web-0.nginx.default.svc.cluster.local. 5 IN A 10.1.0.10"],
  },
  {
    qname: "nginx.default.svc.cluster.local",
    qtype: "A",
    rcode: "NOERROR",
    answers: [
      "nginx.default.svc.cluster.local. 5 IN A 10.1.0.10",
      "nginx.default.svc.cluster.local. 5 IN A 10.1.0.11",
    ],
  },
  {
    qname: "_web._tcp.nginx.default.svc.cluster.local",
    qtype: "SRV",
    rcode: "NOERROR",
    answers: [
      "_web._tcp.nginx.default.svc.cluster.local. 5 IN SRV 0 50 80 web-0.nginx.default.svc.cluster.local.",
      "_web._tcp.nginx.default.svc.cluster.local. 5 IN SRV 0 50 80 web-1.nginx.default.svc.cluster.local.",
    ],
    additionals: [
      "web-0.nginx.default.svc.cluster.local. 5 IN A 10.1.0.10",
      "web-1.nginx.default.svc.cluster.local. 5 IN A 10.1.0.11",
    ],
  },
  {
    qname: "_metrics._udp.nginx.default.svc.cluster.local",
    qtype: "SRV",
    rcode: "NOERROR",
    answers: [
      "_metrics._udp.nginx.default.svc.cluster.local. 5 IN SRV 0 50 9100 web-0.nginx.default.svc.cluster.local.",
      "_metrics._udp.nginx.default.svc.cluster.local. 5 IN SRV 0 50 9100 web-1.nginx.default.svc.cluster.local.",
    ],
    additionals: [
      "web-0.nginx.default.svc.cluster.local. 5 IN A 10.1.0.10",
      "web-1.nginx.default.svc.cluster.local. 5 IN A 10.1.0.11",
    ],
  },
  { qname: "web-2.nginx.default.svc.cluster.local", qtype: "A", rcode: "NXDOMAIN" },
  // ExternalName.
  {
    qname: `ext.${S}`,
    qtype: "CNAME",
    rcode: "NOERROR",
    answers: [`ext.${S}. 5 IN CNAME ext.example.org.`],
  },
  {
    qname: `ext.${S}`,
    qtype: "A",
    rcode: "NOERROR",
    answers: [`ext.${S}. 5 IN CNAME ext.example.org.`],
  },
  {
    qname: `ext-in.${S}`,
    qtype: "A",
    rcode: "NOERROR",
    answers: [`ext-in.${S}. 5 IN CNAME svc1.${S}.`, `svc1.${S}. 5 IN A 10.0.0.1`],
  },
  { qname: `ext.${S}`, qtype: "SRV", rcode: "NOERROR" },
  { qname: `x.ext.${S}`, qtype: "A", rcode: "NXDOMAIN" },
  { qname: `ext-ip.${S}`, qtype: "A", rcode: "NXDOMAIN" },
  // PTR: ClusterIPs (both families), endpoint IPs (hostname or dashed), unknown IPs.
  {
    qname: "1.0.0.10.in-addr.arpa",
    qtype: "PTR",
    rcode: "NOERROR",
    answers: [`1.0.0.10.in-addr.arpa. 5 IN PTR svc1.${S}.`],
  },
  {
    qname: "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
    qtype: "PTR",
    rcode: "NOERROR",
    answers: [
      `3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 IN PTR svc6.${S}.`,
    ],
  },
  {
    qname: "2.0.0.172.in-addr.arpa",
    qtype: "PTR",
    rcode: "NOERROR",
    answers: [`2.0.0.172.in-addr.arpa. 5 IN PTR dup-name.hdls1.${S}.`],
  },
  {
    qname: "4.0.0.172.in-addr.arpa",
    qtype: "PTR",
    rcode: "NOERROR",
    answers: [`4.0.0.172.in-addr.arpa. 5 IN PTR 172-0-0-4.hdls1.${S}.`],
  },
  {
    qname: "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
    qtype: "PTR",
    rcode: "NOERROR",
    answers: [
      `5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 IN PTR fd00--5.hdls1.${S}.`,
    ],
  },
  {
    qname: "10.0.1.10.in-addr.arpa",
    qtype: "PTR",
    rcode: "NOERROR",
    answers: ["10.0.1.10.in-addr.arpa. 5 IN PTR web-0.nginx.default.svc.cluster.local."],
  },
  { qname: "9.9.9.9.in-addr.arpa", qtype: "PTR", rcode: "NXDOMAIN", authority: [SOA_V4] },
  { qname: "9.0.0.172.in-addr.arpa", qtype: "PTR", rcode: "NXDOMAIN", authority: [SOA_V4] },
  { qname: "1.0.0.10.in-addr.arpa", qtype: "A", rcode: "NXDOMAIN", authority: [SOA_V4] }, // CoreDNS
  // Pod records (insecure).
  {
    qname: "1-2-3-4.testns.pod.cluster.local",
    qtype: "A",
    rcode: "NOERROR",
    answers: ["1-2-3-4.testns.pod.cluster.local. 5 IN A 1.2.3.4"],
  },
  {
    qname: "fd00--1.testns.pod.cluster.local",
    qtype: "AAAA",
    rcode: "NOERROR",
    answers: ["fd00--1.testns.pod.cluster.local. 5 IN AAAA fd00::1"],
  },
  { qname: "fd00--1.testns.pod.cluster.local", qtype: "A", rcode: "NOERROR" },
  { qname: "1-2-3-4.nons.pod.cluster.local", qtype: "A", rcode: "NXDOMAIN" },
  { qname: "not-an-ip.testns.pod.cluster.local", qtype: "A", rcode: "NXDOMAIN" },
  { qname: "testns.pod.cluster.local", qtype: "A", rcode: "NOERROR" },
  // Schema version, apex SOA/NS, the default name server.
  {
    qname: "dns-version.cluster.local",
    qtype: "TXT",
    rcode: "NOERROR",
    answers: ['dns-version.cluster.local. 28800 IN TXT "1.1.0"'],
  },
  { qname: "dns-version.cluster.local", qtype: "A", rcode: "NXDOMAIN" }, // CoreDNS: TXT only
  { qname: "cluster.local", qtype: "SOA", rcode: "NOERROR", answers: [SOA], authority: [] },
  {
    qname: "cluster.local",
    qtype: "NS",
    rcode: "NOERROR",
    answers: ["cluster.local. 5 IN NS ns.dns.cluster.local."],
    additionals: ["ns.dns.cluster.local. 5 IN A 10.96.0.10"],
  },
  { qname: "cluster.local", qtype: "A", rcode: "NOERROR" },
  { qname: "cluster.local", qtype: "TXT", rcode: "NXDOMAIN" }, // CoreDNS's TXT path quirk
  {
    qname: "ns.dns.cluster.local",
    qtype: "A",
    rcode: "NOERROR",
    answers: ["ns.dns.cluster.local. 5 IN A 10.96.0.10"],
  },
  // Empty non-terminals and namespaces.
  { qname: "svc.cluster.local", qtype: "A", rcode: "NOERROR" },
  { qname: "pod.cluster.local", qtype: "A", rcode: "NOERROR" },
  { qname: "testns.svc.cluster.local", qtype: "A", rcode: "NOERROR" },
  { qname: "empty-ns.svc.cluster.local", qtype: "A", rcode: "NOERROR" },
  { qname: "nons.svc.cluster.local", qtype: "A", rcode: "NXDOMAIN" },
  { qname: "testns.svc.cluster.local", qtype: "TXT", rcode: "NXDOMAIN" }, // CoreDNS's TXT quirk
  // Names that do not exist.
  { qname: "foo.cluster.local", qtype: "A", rcode: "NXDOMAIN" },
  { qname: `nosvc.${S}`, qtype: "A", rcode: "NXDOMAIN" },
  { qname: `nosvc.${S}`, qtype: "SOA", rcode: "NOERROR" }, // CoreDNS: SOA below the apex
  { qname: "svc1.empty-ns.svc.cluster.local", qtype: "A", rcode: "NXDOMAIN" },
  { qname: `a.b.c.svc1.${S}`, qtype: "A", rcode: "NXDOMAIN" },
  { qname: `*.${S}`, qtype: "A", rcode: "NXDOMAIN" },
  // Existing names, types without data.
  { qname: `svc1.${S}`, qtype: "TXT", rcode: "NOERROR" },
  { qname: `svc1.${S}`, qtype: "MX", rcode: "NOERROR" },
  { qname: `svc1.${S}`, qtype: "CNAME", rcode: "NOERROR" },
  { qname: `svc1.${S}`, qtype: "PTR", rcode: "NOERROR" },
  { qname: `svc1.${S}`, qtype: "ANY", rcode: "NOERROR" },
  { qname: `svc1.${S}`, qtype: "TYPE65280", rcode: "NOERROR" },
];

function sorted(xs: readonly string[] | undefined): string[] {
  return [...(xs ?? [])].sort();
}

function check(c: Case, reply: Uint8Array | undefined, proto: string): void {
  const where = `${proto} ${c.qname} ${c.qtype}`;
  const msg = reply && decodeMessage(reply);
  if (!msg) throw new Error(`${where}: no decodable reply`);
  assertEquals(msg.rcode, c.rcode, `${where}: rcode`);
  assertEquals(msg.authoritative, true, `${where}: AA`);
  assertEquals(msg.truncated, false, `${where}: TC`);
  assertEquals(sorted(msg.answers), sorted(c.answers), `${where}: answers`);
  const negative = c.rcode === "NXDOMAIN" || (c.answers ?? []).length === 0;
  assertEquals(
    sorted(msg.authority),
    sorted(c.authority ?? (negative ? [SOA] : [])),
    `${where}: authority`,
  );
  assertEquals(sorted(msg.additionals), sorted(c.additionals), `${where}: additionals`);
}

async function withServer(
  fn: (server: DnsServer) => Promise<void>,
  podRecords: "insecure" | "disabled" = "insecure",
): Promise<void> {
  const view = makeClusterView(makeFixture(), { now: () => SERIAL * 1000 });
  const options = { ...TEST_SERVER_OPTIONS, podRecords, nsAddresses: ["10.96.0.10"] };
  await withDnsServer(view, options, fn);
}

Deno.test("DnsServer answers every record form and NXDOMAIN/NODATA rule over UDP", async () => {
  await withServer(async (server) => {
    const { hostname, udpPort } = server.address;
    for (const [i, c] of CASES.entries()) {
      const q = encodeQuery({ id: i + 1, name: c.qname, type: c.qtype });
      check(c, await exchangeUdp(hostname, udpPort, q), "udp");
    }
  });
});

Deno.test("DnsServer answers every record form and NXDOMAIN/NODATA rule over TCP, pipelined", async () => {
  await withServer(async (server) => {
    const { hostname, tcpPort } = server.address;
    const queries = CASES.map((c, i) => encodeQuery({ id: i + 1, name: c.qname, type: c.qtype }));
    const replies = await exchangeTcp(hostname, tcpPort, queries);
    const byId = new Map(replies.map((r) => [(r[0] << 8) | r[1], r]));
    assertEquals(byId.size, CASES.length);
    for (const [i, c] of CASES.entries()) check(c, byId.get(i + 1), "tcp");
  });
});

Deno.test("DnsServer answers repeated queries from its answer cache identically", async () => {
  await withServer(async (server) => {
    const { hostname, udpPort } = server.address;
    for (let round = 0; round < 2; round++) {
      for (const [i, c] of CASES.entries()) {
        const q = encodeQuery({ id: 1000 * round + i, name: c.qname, type: c.qtype });
        const reply = await exchangeUdp(hostname, udpPort, q);
        check(c, reply, `udp round ${round}`);
        assertEquals(decodeMessage(reply!)!.id, 1000 * round + i);
      }
    }
  });
});

/** Pod records disabled: every name under `<ns>.pod.<zone>` is NXDOMAIN, `pod.<zone>` stays. */
const DISABLED_POD_CASES: readonly Case[] = [
  { qname: "1-2-3-4.testns.pod.cluster.local", qtype: "A", rcode: "NXDOMAIN" },
  { qname: "fd00--1.testns.pod.cluster.local", qtype: "AAAA", rcode: "NXDOMAIN" },
  { qname: "testns.pod.cluster.local", qtype: "A", rcode: "NXDOMAIN" },
  { qname: "pod.cluster.local", qtype: "A", rcode: "NOERROR" },
  { qname: `svc1.${S}`, qtype: "A", rcode: "NOERROR", answers: [`svc1.${S}. 5 IN A 10.0.0.1`] },
];

Deno.test("DnsServer with pod records disabled answers NXDOMAIN for pod names over UDP and TCP", async () => {
  await withServer(async (server) => {
    const { hostname, udpPort, tcpPort } = server.address;
    const queries = DISABLED_POD_CASES.map((c, i) =>
      encodeQuery({ id: i + 1, name: c.qname, type: c.qtype })
    );
    for (const [i, c] of DISABLED_POD_CASES.entries()) {
      check(c, await exchangeUdp(hostname, udpPort, queries[i]), "udp");
    }
    const replies = await exchangeTcp(hostname, tcpPort, queries);
    const byId = new Map(replies.map((r) => [(r[0] << 8) | r[1], r]));
    for (const [i, c] of DISABLED_POD_CASES.entries()) check(c, byId.get(i + 1), "tcp");
  }, "disabled");
});
