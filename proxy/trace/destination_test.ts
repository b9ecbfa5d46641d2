import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { parseDestination, parseSource } from "./destination.ts";

Deno.test("parseDestination() reads addresses, with tcp by default", () => {
  assertEquals(parseDestination("10.96.0.20:5432/tcp"), {
    kind: "address",
    ip: "10.96.0.20",
    port: 5432,
    protocol: "tcp",
  });
  assertEquals(parseDestination("10.96.0.10:53/UDP").protocol, "udp");
  assertEquals(parseDestination("10.96.0.20:80").protocol, "tcp");
  assertEquals(parseDestination("[fd00:30::0041]:80/sctp"), {
    kind: "address",
    ip: "fd00:30::41",
    port: 80,
    protocol: "sctp",
  });
});

Deno.test("parseDestination() reads service.namespace:port with a number or a name", () => {
  assertEquals(parseDestination("db.default:5432"), {
    kind: "service",
    name: "db",
    namespace: "default",
    port: "5432",
  });
  assertEquals(parseDestination("kube-dns.kube-system:dns/udp"), {
    kind: "service",
    name: "kube-dns",
    namespace: "kube-system",
    port: "dns",
    protocol: "udp",
  });
});

Deno.test("parseDestination() refuses what it cannot read", () => {
  for (
    const bad of [
      "10.96.0.20",
      "10.96.0.20:0",
      "10.96.0.20:70000",
      "db:80",
      "db.default:80/icmp",
      "a.b.c:80",
      "x",
    ]
  ) {
    assertThrows(() => parseDestination(bad), SyntaxError, "Cannot parse --to");
  }
});

Deno.test("parseSource() takes one address, in canonical form", () => {
  assertEquals(parseSource("10.244.1.5"), "10.244.1.5");
  assertEquals(parseSource("FD00::1"), "fd00::1");
  assertThrows(() => parseSource("pod-a"), SyntaxError, "not an IP address");
});
