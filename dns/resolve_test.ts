import { assertEquals } from "../tests/assert.ts";
import { RRType } from "./message.ts";
import { resolve, type ResolveOptions } from "./resolve.ts";
import { makeClusterView, makeFixture, makeService } from "./testing.ts";

const OPTS: ResolveOptions = {
  zone: "cluster.local",
  ttl: 30,
  podRecords: "insecure",
  nsAddresses: ["10.96.0.10", "fd00::10"],
};

function ask(
  name: string,
  type: number,
  opts: ResolveOptions = OPTS,
  view = makeClusterView(makeFixture()),
) {
  return resolve({ name, lowerName: name.toLowerCase(), type }, view, opts);
}

Deno.test("resolve() returns undefined outside the cluster and reverse zones", () => {
  assertEquals(ask("example.com", RRType.A), undefined);
  assertEquals(ask("local", RRType.A), undefined);
});

Deno.test("resolve() uses the configured TTL and keeps 28800 for dns-version", () => {
  assertEquals(ask("svc1.testns.svc.cluster.local", RRType.A)!.answers[0].ttl, 30);
  assertEquals(ask("dns-version.cluster.local", RRType.TXT)!.answers[0].ttl, 28800);
  const nx = ask("nope.testns.svc.cluster.local", RRType.A)!;
  assertEquals([nx.rcode, nx.authority[0].ttl], ["NXDOMAIN", 30]);
  const longTtl = ask("nope.testns.svc.cluster.local", RRType.A, { ...OPTS, ttl: 3600 })!;
  assertEquals(longTtl.authority[0].ttl, 300);
});

Deno.test("resolve() answers NXDOMAIN for every pod name when pod records are disabled", () => {
  const disabled = { ...OPTS, podRecords: "disabled" as const };
  assertEquals(ask("1-2-3-4.testns.pod.cluster.local", RRType.A, disabled)!.rcode, "NXDOMAIN");
  assertEquals(ask("testns.pod.cluster.local", RRType.A, disabled)!.rcode, "NXDOMAIN");
  const ent = ask("pod.cluster.local", RRType.A, disabled)!;
  assertEquals([ent.rcode, ent.answers.length], ["NOERROR", 0]);
});

Deno.test("resolve() answers the default NS name with the configured addresses per family", () => {
  assertEquals(ask("ns.dns.cluster.local", RRType.AAAA)!.answers.map((r) => r.data), ["fd00::10"]);
  const ns = ask("cluster.local", RRType.NS)!;
  assertEquals(ns.additionals.map((r) => r.data), ["10.96.0.10", "fd00::10"]);
});

Deno.test("resolve() stops ExternalName chains inside the zone after a bounded depth", () => {
  const f = makeFixture();
  const loop = makeService("testns", "loop", (s) => {
    s.type = "ExternalName";
    s.clusterIPs = [];
    s.externalName = "loop.testns.svc.cluster.local";
  });
  const view = makeClusterView({ ...f, services: [...f.services, loop] });
  const r = ask("loop.testns.svc.cluster.local", RRType.A, OPTS, view)!;
  // CoreDNS adds an in-zone CNAME only with the records it leads to: a loop leaves NODATA.
  assertEquals([r.rcode, r.answers.length, r.authority.length], ["NOERROR", 0, 1]);
  assertEquals(ask("loop.testns.svc.cluster.local", RRType.CNAME, OPTS, view)!.answers.length, 1);
});

Deno.test("resolve() leaves out an in-zone ExternalName CNAME that leads to no records", () => {
  const f = makeFixture();
  const dangling = makeService("testns", "dangling", (s) => {
    s.type = "ExternalName";
    s.clusterIPs = [];
    s.externalName = "nosvc.testns.svc.cluster.local";
  });
  const view = makeClusterView({ ...f, services: [...f.services, dangling] });
  for (
    const [name, type] of [
      ["dangling.testns.svc.cluster.local", RRType.A],
      ["ext-in.testns.svc.cluster.local", RRType.AAAA], // svc1 has no IPv6 ClusterIP
    ] as const
  ) {
    const r = ask(name, type, OPTS, view)!;
    assertEquals([r.rcode, r.answers.length, r.authority.length], ["NOERROR", 0, 1], name);
  }
  const ok = ask("ext-in.testns.svc.cluster.local", RRType.A, OPTS, view)!;
  assertEquals(ok.answers.map((a) => a.data), ["svc1.testns.svc.cluster.local", "10.0.0.1"]);
});

Deno.test("resolve() asks the server to chase ExternalName targets outside the zone", () => {
  const r = ask("ext.testns.svc.cluster.local", RRType.AAAA)!;
  assertEquals(r.chase, { name: "ext.example.org", type: RRType.AAAA });
  assertEquals(ask("ext.testns.svc.cluster.local", RRType.CNAME)!.chase, undefined);
});

Deno.test("resolve() answers the reverse zone apexes with their SOA", () => {
  const r = ask("IN-ADDR.arpa", RRType.SOA)!;
  assertEquals(r.answers.map((a) => a.name), ["IN-ADDR.arpa"]);
  assertEquals(ask("ip6.arpa", RRType.A)!.rcode, "NOERROR");
});

Deno.test("resolve() answers TXT as CoreDNS: NXDOMAIN at names that exist only as types it lacks", () => {
  // CoreDNS's TXT path answers dns-version and NODATA for names holding records; the apex, the
  // empty non-terminals, namespaces and ns.dns are NXDOMAIN for TXT (derived-12/13).
  for (
    const name of [
      "cluster.local",
      "svc.cluster.local",
      "pod.cluster.local",
      "testns.svc.cluster.local",
      "testns.pod.cluster.local",
      "ns.dns.cluster.local",
    ]
  ) {
    assertEquals(ask(name, RRType.TXT)!.rcode, "NXDOMAIN", name);
  }
  for (const name of ["svc1.testns.svc.cluster.local", "1-2-3-4.testns.pod.cluster.local"]) {
    const r = ask(name, RRType.TXT)!;
    assertEquals([r.rcode, r.answers.length], ["NOERROR", 0], name);
  }
});

Deno.test("resolve() answers dns-version.<zone> only for TXT, NXDOMAIN otherwise (CoreDNS)", () => {
  assertEquals(ask("DNS-Version.cluster.local", RRType.TXT)!.answers[0].data, ["1.1.0"]);
  for (const type of [RRType.A, RRType.AAAA, RRType.SRV, RRType.CNAME, RRType.MX, RRType.PTR]) {
    assertEquals(ask("dns-version.cluster.local", type)!.rcode, "NXDOMAIN", `type ${type}`);
  }
  assertEquals(ask("ns.dns.cluster.local", RRType.PTR)!.rcode, "NXDOMAIN");
  assertEquals(ask("ns.dns.cluster.local", RRType.MX)!.rcode, "NOERROR");
});

Deno.test("resolve() answers SOA below the apex with NODATA, even for names that do not exist", () => {
  // CoreDNS's SOA branch answers only the apex and never reports a name error (derived-28).
  for (
    const name of [
      "nosvc.testns.svc.cluster.local",
      "foo.cluster.local",
      "svc1.testns.svc.cluster.local",
      "9.9.9.9.in-addr.arpa",
      "1.0.0.10.in-addr.arpa",
    ]
  ) {
    const r = ask(name, RRType.SOA)!;
    assertEquals([r.rcode, r.answers.length, r.authority.length], ["NOERROR", 0, 1], name);
  }
  assertEquals(ask("Cluster.Local", RRType.SOA)!.answers[0].name, "Cluster.Local");
});

Deno.test("resolve() answers reverse names only for PTR, NXDOMAIN for other types (CoreDNS)", () => {
  // 1.0.0.10 is svc1's ClusterIP: PTR exists; CoreDNS's other paths parse the name as an invalid
  // cluster name and answer NXDOMAIN (so `fallthrough` forwards them).
  assertEquals(ask("1.0.0.10.in-addr.arpa", RRType.PTR)!.answers.length, 1);
  for (const type of [RRType.A, RRType.AAAA, RRType.TXT, RRType.CNAME, RRType.MX]) {
    const r = ask("1.0.0.10.in-addr.arpa", type)!;
    assertEquals([r.rcode, r.authority[0].name], ["NXDOMAIN", "in-addr.arpa"], `type ${type}`);
  }
  assertEquals(ask("in-addr.arpa", RRType.TXT)!.rcode, "NXDOMAIN");
  assertEquals(ask("ip6.arpa", RRType.PTR)!.rcode, "NOERROR");
});

Deno.test("resolve() answers A/AAAA at _port._proto names with the addresses behind the port", () => {
  // CoreDNS's A path reads the same service list as SRV: the ClusterIPs for a ClusterIP
  // service, the endpoints carrying that port for a headless one.
  const data = (name: string, type: number) => ask(name, type)!.answers.map((r) => r.data);
  assertEquals(data("_http._tcp.svc1.testns.svc.cluster.local", RRType.A), ["10.0.0.1"]);
  assertEquals(data("_http._tcp.svc6.testns.svc.cluster.local", RRType.AAAA), ["fd00::3"]);
  assertEquals(data("_web._tcp.nginx.default.svc.cluster.local", RRType.A), [
    "10.1.0.10",
    "10.1.0.11",
  ]);
  assertEquals(
    ask("_http._tcp.svc1.testns.svc.cluster.local", RRType.A)!.answers[0].name,
    "_http._tcp.svc1.testns.svc.cluster.local",
  );
});

Deno.test("resolve() answers SRV at an endpoint name with that endpoint's ports (CoreDNS)", () => {
  const r = ask("web-0.nginx.default.svc.cluster.local", RRType.SRV)!;
  assertEquals(r.answers.map((a) => a.data), [
    { priority: 0, weight: 50, port: 80, target: "web-0.nginx.default.svc.cluster.local" },
    { priority: 0, weight: 50, port: 9100, target: "web-0.nginx.default.svc.cluster.local" },
  ]);
  assertEquals(r.additionals.map((a) => [a.name, a.data]), [
    ["web-0.nginx.default.svc.cluster.local", "10.1.0.10"],
  ]);
});

Deno.test("resolve() answers a pod name with one or two labels in front as CoreDNS does", () => {
  const r = ask("x.1-2-3-4.testns.pod.cluster.local", RRType.A)!;
  assertEquals(r.answers.map((a) => [a.name, a.data]), [
    ["x.1-2-3-4.testns.pod.cluster.local", "1.2.3.4"],
  ]);
  assertEquals(ask("a.b.c.1-2-3-4.testns.pod.cluster.local", RRType.A)!.rcode, "NXDOMAIN");
});
