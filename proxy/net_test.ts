import { assert, assertEquals } from "../tests/assert.ts";
import {
  allowsLocalhostNodePorts,
  canonicalIP,
  cidrContains,
  formatCIDR,
  isLoopback,
  joinHostPort,
  parseCIDRSloppy,
} from "./net.ts";

Deno.test("canonicalIP() accepts leading zeros and canonicalizes IPv6", () => {
  assertEquals(canonicalIP("10.180.00.001"), "10.180.0.1");
  assertEquals(canonicalIP("FD00:0:0:0::01"), "fd00::1");
  assertEquals(canonicalIP("2001:db8:0:1:0:0:0:1"), "2001:db8:0:1::1");
  assertEquals(canonicalIP("1.2.3"), undefined);
  assertEquals(canonicalIP("1.2.3.256"), undefined);
});

Deno.test("parseCIDRSloppy() trims, accepts leading zeros and masks", () => {
  assertEquals(formatCIDR(parseCIDRSloppy(" 203.0.113.000/025")!), "203.0.113.0/25");
  assertEquals(formatCIDR(parseCIDRSloppy("203.0.113.200/25")!), "203.0.113.128/25");
  assertEquals(formatCIDR(parseCIDRSloppy("fd00:1::5/64")!), "fd00:1::/64");
  assertEquals(parseCIDRSloppy("10.0.0.0/33"), undefined);
});

Deno.test("cidrContains() matches by prefix and family", () => {
  assert(cidrContains("10.0.0.0/8", "10.180.0.1"));
  assert(!cidrContains("10.0.0.0/8", "11.0.0.1"));
  assert(cidrContains("1.2.3.4", "1.2.3.4"));
  assert(cidrContains("fd00::/8", "fd12::1"));
  assert(!cidrContains("fd00::/8", "10.0.0.1"));
  assert(isLoopback("127.3.0.1") && isLoopback("::1") && !isLoopback("10.0.0.1"));
  assertEquals(joinHostPort("fd00::1", 80), "[fd00::1]:80");
});

Deno.test("allowsLocalhostNodePorts() accepts any IPv4 CIDR overlapping loopback", () => {
  const cases: [string[], boolean][] = [
    [[], true],
    [["fd00::/64"], true],
    [["0.0.0.0/0"], true],
    [["127.0.0.0/8"], true],
    [["127.0.0.1/32"], true],
    [["127.0.0.2/32"], true],
    [["127.1.2.0/24"], true],
    [["64.0.0.0/2"], true],
    [["10.0.0.0/8", " 127.0.0.5/32 "], true],
    [["10.0.0.0/8"], false],
    [["128.0.0.0/1"], false],
    [["primary"], false],
    [["primary", "fd00::/64"], false],
  ];
  for (const [cidrs, want] of cases) {
    assertEquals(allowsLocalhostNodePorts(cidrs), want, cidrs.join(","));
  }
});
