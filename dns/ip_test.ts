import { assertEquals } from "../tests/assert.ts";
import { formatIP, parseIP } from "./ip.ts";

Deno.test("parseIP() and formatIP() round-trip canonical IPv4 and IPv6", () => {
  for (
    const ip of ["10.0.0.1", "0.0.0.0", "255.255.255.255", "fd00::1", "::", "::1", "2001:db8::"]
  ) {
    assertEquals(formatIP(parseIP(ip)!), ip, ip);
  }
  assertEquals(formatIP(parseIP("FD00:0:0:0:0:0:0:1")!), "fd00::1");
  assertEquals(formatIP(parseIP("1:0:0:2:0:0:0:3")!), "1:0:0:2::3");
  assertEquals(formatIP(parseIP("::ffff:1.2.3.4")!), "::ffff:102:304");
});

Deno.test("parseIP() rejects what is not an address", () => {
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "01.2.3.4",
      "a.b.c.d",
      "1::2::3",
      "12345::",
      "1:2:3:4:5:6:7:8:9",
      "x",
    ]
  ) {
    assertEquals(parseIP(bad), undefined, bad);
  }
});
