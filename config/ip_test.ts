import { assert, assertEquals } from "../tests/assert.ts";
import { appendPortIfNeeded, isIPv6String, parseCIDR, parseIP, splitHostPort } from "./ip.ts";

Deno.test("parseIP() accepts IPv4 (sloppy) and IPv6, and nothing else", () => {
  assertEquals(parseIP("10.0.0.1")?.bytes, new Uint8Array([10, 0, 0, 1]));
  assertEquals(parseIP("010.000.000.001")?.bytes, new Uint8Array([10, 0, 0, 1]));
  assertEquals(parseIP("::1")?.bytes[15], 1);
  assertEquals(parseIP("fd00::a:b")?.family, 6);
  assertEquals(parseIP("::ffff:1.2.3.4")?.bytes.slice(10), new Uint8Array([255, 255, 1, 2, 3, 4]));
  assertEquals(parseIP("1:2:3:4:5:6:7:8")?.family, 6);
  assertEquals(parseIP("::")?.family, 6);
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.256",
      "1.2.3.4.5",
      "a.b.c.d",
      "1::2::3",
      ":1:2",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7::8",
      "fe80::1%eth0",
      "[::1]",
      "12345::",
      "1.2.3.4::",
      " 1.2.3.4",
    ]
  ) {
    assertEquals(parseIP(bad), undefined, bad);
  }
  assert(isIPv6String("fd00::1"));
  assert(!isIPv6String("10.0.0.1"));
});

Deno.test("parseCIDR() accepts host bits and checks the prefix length", () => {
  assertEquals(parseCIDR("10.0.0.1/8")?.prefix, 8);
  assertEquals(parseCIDR("fd00::/128")?.prefix, 128);
  for (const bad of ["10.0.0.0", "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/-1", "x/8"]) {
    assertEquals(parseCIDR(bad), undefined, bad);
  }
});

Deno.test("splitHostPort() follows Go's net.SplitHostPort", () => {
  assertEquals(splitHostPort("1.2.3.4:80"), { host: "1.2.3.4", port: "80" });
  assertEquals(splitHostPort("[::1]:53"), { host: "::1", port: "53" });
  assertEquals(splitHostPort(":10256"), { host: "", port: "10256" });
  assertEquals(splitHostPort("host:http"), { host: "host", port: "http" });
  for (const bad of ["1.2.3.4", "::1:53", "[::1]", "[::1]x:53", "a[b]:1", "[a]:1]"]) {
    assertEquals(splitHostPort(bad), undefined, bad);
  }
});

Deno.test("appendPortIfNeeded() adds a port only to a bare IP", () => {
  assertEquals(appendPortIfNeeded("0.0.0.0", 10256), "0.0.0.0:10256");
  assertEquals(appendPortIfNeeded("::", 10256), "[::]:10256");
  assertEquals(appendPortIfNeeded("1.2.3.4:1", 10256), "1.2.3.4:1");
  assertEquals(appendPortIfNeeded("localhost", 10256), "localhost");
});
