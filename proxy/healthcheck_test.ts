import { assert, assertEquals } from "../tests/assert.ts";
import { configureLogging } from "../config/log.ts";
import { nodeAddressesFor, type ServiceEvent, ServiceHealthServer } from "./healthcheck.ts";

configureLogging({ write: () => {} });

/** A port that was free a moment ago (health check node ports cannot be 0). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function get(port: number, path = "/"): Promise<Response> {
  return await fetch(`http://127.0.0.1:${port}${path}`);
}

async function refused(port: number): Promise<boolean> {
  try {
    const res = await get(port);
    await res.body?.cancel();
    return false;
  } catch {
    return true;
  }
}

Deno.test("nodeAddressesFor() keeps the local IPs inside nodePortAddresses", () => {
  const local = ["127.0.0.1", "192.168.0.2", "10.1.0.5", "fd00::2"];
  assertEquals(nodeAddressesFor([], local), []);
  assertEquals(nodeAddressesFor(["0.0.0.0/0"], local), []);
  assertEquals(nodeAddressesFor(["192.168.0.0/24", "fd00::/64"], local), [
    "192.168.0.2",
    "fd00::2",
  ]);
  assertEquals(nodeAddressesFor(["127.0.0.0/8"], local), ["127.0.0.1"]);
});

Deno.test("ServiceHealthServer answers 200 with upstream's body and weight header", async () => {
  const port = freePort();
  const hc = new ServiceHealthServer({ hostname: "node1", addresses: ["127.0.0.1"] });
  try {
    await hc.syncServices(new Map([["ns1/svc1", port]]));
    hc.syncEndpoints(new Map([["ns1/svc1", 2]]));
    const res = await get(port, "/any/path");
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "application/json");
    assertEquals(res.headers.get("x-content-type-options"), "nosniff");
    assertEquals(res.headers.get("x-load-balancing-endpoint-weight"), "2");
    assertEquals(
      await res.text(),
      '{\n\t"service": {\n\t\t"namespace": "ns1",\n\t\t"name": "svc1"\n\t},\n' +
        '\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}',
    );
  } finally {
    await hc.stop();
  }
});

Deno.test("ServiceHealthServer answers 503 without local endpoints or with an unhealthy proxy", async () => {
  const port = freePort();
  let healthy = true;
  const hc = new ServiceHealthServer({
    hostname: "node1",
    addresses: ["127.0.0.1"],
    proxyHealthy: () => healthy,
  });
  try {
    await hc.syncServices(new Map([["ns1/svc1", port]]));
    const none = await get(port);
    assertEquals(none.status, 503, "no endpoints synced yet");
    assertEquals(none.headers.get("x-load-balancing-endpoint-weight"), "0");
    await none.body?.cancel();

    hc.syncEndpoints(new Map([["ns1/svc1", 1]]));
    const ok = await get(port);
    assertEquals(ok.status, 200);
    await ok.body?.cancel();

    healthy = false;
    const sick = await get(port);
    assertEquals(sick.status, 503);
    assertEquals((await sick.json()).serviceProxyHealthy, false);

    healthy = true;
    hc.syncEndpoints(new Map());
    const gone = await get(port);
    assertEquals(gone.status, 503, "services left out of syncEndpoints get 0");
    assertEquals((await gone.json()).localEndpoints, 0);
  } finally {
    await hc.stop();
  }
});

Deno.test("ServiceHealthServer.syncServices() opens, moves and closes listeners", async () => {
  const p1 = freePort();
  const p2 = freePort();
  const hc = new ServiceHealthServer({ hostname: "node1" });
  try {
    await hc.syncServices(new Map([["ns1/svc1", p1]]));
    hc.syncEndpoints(new Map([["ns1/svc1", 1]]));
    const first = await get(p1);
    assertEquals(first.status, 200, "default listener (all addresses) answers on 127.0.0.1");
    await first.body?.cancel();

    await hc.syncServices(new Map([["ns1/svc1", p2]]));
    assert(await refused(p1), "old port closed after a port change");
    const moved = await get(p2);
    assertEquals(moved.status, 503, "a new listener starts with 0 endpoints");
    await moved.body?.cancel();

    await hc.syncServices(new Map());
    assert(await refused(p2), "port closed after the service went away");
    assertEquals(hc.listening().size, 0);
  } finally {
    await hc.stop();
  }
});

Deno.test("ServiceHealthServer reports a port in use as an event and retries on the next sync", async () => {
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (blocker.addr as Deno.NetAddr).port;
  const events: ServiceEvent[] = [];
  const hc = new ServiceHealthServer({
    hostname: "node1",
    addresses: ["127.0.0.1"],
    onEvent: (e) => events.push(e),
  });
  try {
    await hc.syncServices(new Map([["ns1/svc1", port]]));
    assertEquals(hc.listening().size, 0);
    assertEquals(events.length, 1);
    assertEquals(
      [events[0].type, events[0].reason, events[0].action, events[0].service],
      ["Warning", "FailedToStartServiceHealthcheck", "Listen", "ns1/svc1"],
    );
    assert(
      events[0].message.startsWith(
        `node node1 failed to start healthcheck "ns1/svc1" on port ${port}: `,
      ),
      events[0].message,
    );
    blocker.close();
    await hc.syncServices(new Map([["ns1/svc1", port]]));
    assertEquals(hc.listening(), new Map([["ns1/svc1", port]]));
  } finally {
    try {
      blocker.close();
    } catch {
      // closed above
    }
    await hc.stop();
  }
});
