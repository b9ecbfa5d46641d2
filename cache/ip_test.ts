import { assertEquals } from "../tests/assert.ts";
import { canonicalCIDR, canonicalIP } from "./ip.ts";

Deno.test("canonicalIP() prints addresses as Go does", () => {
  const cases: [string, string | undefined][] = [
    ["10.0.0.1", "10.0.0.1"],
    ["010.000.0.01", "10.0.0.1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["fd00:0:0:1::", "fd00:0:0:1::"],
    ["::", "::"],
    ["::1", "::1"],
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["64:ff9b::10.1.2.3", "64:ff9b::a01:203"],
    ["256.0.0.1", undefined],
    ["10.0.0", undefined],
    ["1::2::3", undefined],
    ["fe80::1%eth0", undefined],
    ["", undefined],
    ["hello", undefined],
  ];
  for (const [input, want] of cases) assertEquals(canonicalIP(input), want, input);
});

Deno.test("canonicalCIDR() clears host bits", () => {
  assertEquals(canonicalCIDR("10.244.1.7/24"), "10.244.1.0/24");
  assertEquals(canonicalCIDR("10.0.0.0/8"), "10.0.0.0/8");
  assertEquals(canonicalCIDR("FD00:10:244:1::5/64"), "fd00:10:244:1::/64");
  assertEquals(canonicalCIDR("10.0.0.1/33"), undefined);
  assertEquals(canonicalCIDR("10.0.0.1"), undefined);
  assertEquals(canonicalCIDR("0.0.0.0/0"), "0.0.0.0/0");
});
