import { assertEquals } from "../tests/assert.ts";
import { parseIP } from "./ip.ts";
import { parseReverseName, reverseNameOf } from "./reverse.ts";

Deno.test("parseReverseName() reads complete in-addr.arpa and ip6.arpa names", () => {
  assertEquals(parseReverseName("1.0.0.10.in-addr.arpa"), { zone: "in-addr.arpa", ip: "10.0.0.1" });
  const v6 = reverseNameOf(parseIP("fd00::5")!);
  assertEquals(parseReverseName(v6), { zone: "ip6.arpa", ip: "fd00::5" });
});

Deno.test("parseReverseName() keeps partial and malformed names in the zone without an address", () => {
  assertEquals(parseReverseName("in-addr.arpa"), { zone: "in-addr.arpa", ip: undefined });
  assertEquals(parseReverseName("10.in-addr.arpa"), { zone: "in-addr.arpa", ip: undefined });
  assertEquals(parseReverseName("256.0.0.10.in-addr.arpa"), {
    zone: "in-addr.arpa",
    ip: undefined,
  });
  assertEquals(parseReverseName("01.0.0.10.in-addr.arpa"), { zone: "in-addr.arpa", ip: undefined });
  assertEquals(parseReverseName("x.ip6.arpa"), { zone: "ip6.arpa", ip: undefined });
  assertEquals(parseReverseName("example.com"), undefined);
});
