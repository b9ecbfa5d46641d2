import { assertEquals, assertMatch } from "../tests/assert.ts";
import { generateCertificates } from "../tests/apiserver/certs.ts";
import { errorText } from "../config/log.ts";
import { ApiConnectionError } from "./fetch_error.ts";
import { ApiClient, type ClientConfig, type RequestRecord } from "./client.ts";

function clientConfig(server: string, caCert?: string, records?: RequestRecord[]): ClientConfig {
  return {
    server,
    source: "test",
    caCert,
    clientCert: undefined,
    clientKey: undefined,
    headers: () => Promise.resolve({}),
    onRequest: records ? (r) => records.push(r) : undefined,
  };
}

/** A loopback port that nothing listens on (bound, then closed). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function listError(client: ApiClient): Promise<unknown> {
  try {
    await client.list("/api/v1/services", {}, () => {}, AbortSignal.timeout(10_000));
  } catch (err) {
    return err;
  } finally {
    client.close();
  }
  throw new Error("the list succeeded");
}

Deno.test("a refused connection is described as client-go does, naming address and errno", async () => {
  const port = closedPort();
  const records: RequestRecord[] = [];
  const err = await listError(
    new ApiClient(clientConfig(`http://127.0.0.1:${port}`, undefined, records)),
  );
  assertEquals(err instanceof ApiConnectionError, true);
  // Logged with its cause chain, it still reads as one client-go line.
  assertEquals(errorText(err), String(err));
  assertEquals(
    String(err),
    `Get "http://127.0.0.1:${port}/api/v1/services": dial tcp 127.0.0.1:${port}: connect: connection refused`,
  );
  assertEquals(records.map((r) => [r.method, r.host, r.code]), [[
    "GET",
    `127.0.0.1:${port}`,
    "<error>",
  ]]);
});

Deno.test("a server certificate from another CA is described as a certificate problem", async () => {
  const [served, other] = await Promise.all([generateCertificates([]), generateCertificates([])]);
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      cert: served.serverCert,
      key: served.serverKey,
      onListen() {},
    },
    () => new Response("{}"),
  );
  try {
    const url = `https://127.0.0.1:${server.addr.port}`;
    const err = await listError(new ApiClient(clientConfig(url, other.caCert)));
    assertMatch(
      String(err),
      /^Get "https:\/\/127\.0\.0\.1:\d+\/api\/v1\/services": tls: failed to verify certificate: x509: certificate signed by unknown authority/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("a request that got an answer is reported with its status code", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ kind: "ServiceList", metadata: { resourceVersion: "7" }, items: [] }),
  );
  const records: RequestRecord[] = [];
  const client = new ApiClient(
    clientConfig(`http://127.0.0.1:${server.addr.port}`, undefined, records),
  );
  try {
    const result = await client.list("/api/v1/services", {}, () => {}, AbortSignal.timeout(10_000));
    assertEquals(result.resourceVersion, "7");
    assertEquals(records.map((r) => [r.method, r.code]), [["GET", "200"]]);
    assertEquals(records[0].seconds >= 0, true);
  } finally {
    client.close();
    await server.shutdown();
  }
});
