import { assertEquals, assertThrows } from "../tests/assert.ts";
import { serveHttp, splitHostPort } from "./listen.ts";

const hello = () => new Response("hello");

async function get(host: string, port: number): Promise<string> {
  return await (await fetch(`http://${host}:${port}/`)).text();
}

Deno.test("serveHttp() binds 0.0.0.0 as one dual-stack [::] socket", async () => {
  const l = serveHttp({ bindAddress: "0.0.0.0:0", handler: hello, bindV6Only: () => false });
  try {
    assertEquals(l.hostnames, ["::"]);
    assertEquals([await get("127.0.0.1", l.port), await get("[::1]", l.port)], ["hello", "hello"]);
  } finally {
    await l.shutdown();
  }
});

Deno.test("serveHttp() binds a specific address alone, and reports a port in use", async () => {
  const l = serveHttp({ bindAddress: "127.0.0.1:0", handler: hello });
  try {
    assertEquals(l.hostnames, ["127.0.0.1"]);
    assertEquals(await get("127.0.0.1", l.port), "hello");
    assertThrows(() => serveHttp({ bindAddress: `127.0.0.1:${l.port}`, handler: hello }));
  } finally {
    await l.shutdown();
  }
});

Deno.test("splitHostPort() reads IPv4 and bracketed IPv6 addresses", () => {
  assertEquals(splitHostPort("127.0.0.1:10249"), { hostname: "127.0.0.1", port: 10249 });
  assertEquals(splitHostPort("[::1]:0"), { hostname: "::1", port: 0 });
  assertThrows(() => splitHostPort("::1:80"), TypeError, "must be IP:port");
  assertThrows(() => splitHostPort("127.0.0.1"), TypeError);
  assertThrows(() => splitHostPort("127.0.0.1:70000"), TypeError);
});
