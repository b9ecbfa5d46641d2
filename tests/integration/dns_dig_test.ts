/**
 * Cross-checks the wire format with an independent parser: BIND's `dig` (Debian dnsutils)
 * queries the real DnsServer on loopback. Skipped when dig is not installed.
 */

import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  makeClusterView,
  makeEndpoint,
  makeFixture,
  TEST_SERVER_OPTIONS,
  withDnsServer,
  withHeadlessService,
} from "../../dns/testing.ts";

function hasDig(): boolean {
  try {
    return new Deno.Command("dig", { args: ["-v"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

async function dig(port: number, args: string[]): Promise<string> {
  const out = await new Deno.Command("dig", {
    args: ["@127.0.0.1", "-p", String(port), "+time=2", "+tries=1", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
}

Deno.test({
  name: "DnsServer replies parse cleanly in dig, over UDP, TCP and after truncation",
  ignore: !hasDig(),
  fn: async () => {
    const many = Array.from({ length: 60 }, (_, i) => makeEndpoint(`10.8.0.${i + 1}`));
    const view = makeClusterView(withHeadlessService(makeFixture(), "many", many));
    const options = { ...TEST_SERVER_OPTIONS, nsAddresses: ["10.96.0.10"] };
    await withDnsServer(view, options, async (server) => {
      const port = server.address.udpPort;
      const srv = await dig(port, ["_http._tcp.hdls1.testns.svc.cluster.local", "SRV"]);
      assert(!/malformed|FORMERR|parse error/i.test(srv), srv);
      assertMatch(srv, /status: NOERROR/);
      assertMatch(srv, /flags: qr aa rd ra; QUERY: 1, ANSWER: 3, AUTHORITY: 0, ADDITIONAL: 5/);
      const short = await dig(port, ["+short", "+tcp", "web-0.nginx.default.svc.cluster.local"]);
      assertEquals(short.trim(), "10.1.0.10");
      const nx = await dig(port, ["nope.testns.svc.cluster.local"]);
      assertMatch(nx, /status: NXDOMAIN/);
      assertMatch(
        nx,
        /cluster\.local\.\s+5\s+IN\s+SOA\s+ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\./,
      );
      // 60 A records do not fit in 512 bytes: dig sees TC and retries over TCP by itself.
      const big = await dig(port, ["+noedns", "many.testns.svc.cluster.local"]);
      assertMatch(big, /Truncated, retrying in TCP mode/);
      assertMatch(big, /ANSWER: 60,/);
      const ptr = await dig(port, ["+short", "-x", "fd00::3"]);
      assertEquals(ptr.trim(), "svc6.testns.svc.cluster.local.");
      const txt = await dig(port, ["+short", "dns-version.cluster.local", "TXT"]);
      assertEquals(txt.trim(), '"1.1.0"');
    });
  },
});
