import { assert, assertEquals } from "../tests/assert.ts";
import {
  appendPortIfNeeded,
  cidrContainsIP,
  formatIP,
  isIPv6String,
  joinHostPort,
  maskIP,
  parseCIDR,
  parseIP,
  parseIPBytes,
  splitCIDRList,
  splitHostPort,
  unmapIPv4,
} from "./ip.ts";

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

Deno.test("parseIPBytes() rejects leading zeros only when strict", () => {
  assertEquals(parseIPBytes("010.0.0.1"), new Uint8Array([10, 0, 0, 1]));
  assertEquals(parseIPBytes("010.0.0.1", { strict: true }), undefined);
  assertEquals(parseIPBytes("::ffff:01.2.3.4", { strict: true }), undefined);
  assertEquals(parseIPBytes("10.0.0.0", { strict: true }), new Uint8Array([10, 0, 0, 0]));
  assertEquals(parseIPBytes("::ffff:1.2.3.4", { strict: true })?.length, 16);
});

Deno.test("formatIP() prints Go's canonical text", () => {
  const cases: [string, string][] = [
    ["010.000.0.01", "10.0.0.1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["fd00:0:0:1::", "fd00:0:0:1::"],
    ["::", "::"],
    ["::ffff:1.2.3.4", "::ffff:102:304"],
  ];
  for (const [input, want] of cases) assertEquals(formatIP(parseIPBytes(input)!), want, input);
  assertEquals(formatIP(unmapIPv4(parseIPBytes("::ffff:1.2.3.4")!)), "1.2.3.4");
  assertEquals(formatIP(unmapIPv4(parseIPBytes("64:ff9b::1.2.3.4")!)), "64:ff9b::102:304");
});

Deno.test("maskIP() clears host bits and cidrContainsIP() compares the prefix", () => {
  assertEquals(formatIP(maskIP(parseIPBytes("203.0.113.200")!, 25)), "203.0.113.128");
  assertEquals(formatIP(maskIP(parseIPBytes("fd00:1::5")!, 64)), "fd00:1::");
  assertEquals(formatIP(maskIP(parseIPBytes("10.1.2.3")!, 0)), "0.0.0.0");
  const net = parseCIDR("10.0.0.7/8")!;
  assert(cidrContainsIP(net, parseIP("10.180.0.1")!));
  assert(!cidrContainsIP(net, parseIP("11.0.0.1")!));
  assert(!cidrContainsIP(parseCIDR("::/0")!, parseIP("10.0.0.1")!));
  assert(cidrContainsIP(parseCIDR("fd00::/8")!, parseIP("fd12::1")!));
  assertEquals(joinHostPort("fd00::1", 80), "[fd00::1]:80");
  assertEquals(joinHostPort("10.0.0.1", "53"), "10.0.0.1:53");
});

Deno.test("splitCIDRList() trims the items and drops empty ones", () => {
  assertEquals(splitCIDRList(" 10.244.0.0/16, fd00::/48 ,"), ["10.244.0.0/16", "fd00::/48"]);
  assertEquals(splitCIDRList(""), []);
});
