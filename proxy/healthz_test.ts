import { assert, assertEquals } from "../tests/assert.ts";
import { configureLogging } from "../config/log.ts";
import type { Node } from "../cache/objects.ts";
import { formatGoTime, isNodeEligible, ProxierHealthServer } from "./healthz.ts";
import { FakeClock } from "../config/clock.ts";

configureLogging({ write: () => {} });

const T0 = Date.UTC(2025, 9, 1, 12, 0, 0);

function makeNode(mutate: (n: { -readonly [K in keyof Node]: Node[K] }) => void = () => {}): Node {
  const node = {
    name: "node1",
    resourceVersion: "1",
    labels: {},
    podCIDRs: [],
    addresses: ["192.168.0.2"],
  } as { -readonly [K in keyof Node]: Node[K] };
  mutate(node);
  return node;
}

class Counters {
  healthz: number[] = [];
  livez: number[] = [];
  countHealthz(code: number) {
    this.healthz.push(code);
  }
  countLivez(code: number) {
    this.livez.push(code);
  }
}

async function withServer(
  fn: (
    get: (path: string) => Promise<Response>,
    hs: ProxierHealthServer,
    clock: FakeClock,
  ) => Promise<void>,
  counters?: Counters,
): Promise<void> {
  const clock = new FakeClock(T0);
  const hs = new ProxierHealthServer({
    bindAddress: "127.0.0.1:0",
    healthTimeoutMs: 10_000,
    clock,
    metrics: counters,
  });
  await hs.start();
  try {
    await fn((path) => fetch(`http://127.0.0.1:${hs.port}${path}`), hs, clock);
  } finally {
    await hs.stop();
  }
}

Deno.test("formatGoTime() formats as Go's JSON time", () => {
  assertEquals(formatGoTime(Date.UTC(2025, 9, 1, 12, 0, 5, 500)), "2025-10-01T12:00:05.5Z");
  assertEquals(formatGoTime(Date.UTC(2025, 9, 1, 12, 0, 3)), "2025-10-01T12:00:03Z");
  assertEquals(formatGoTime(Date.UTC(2025, 9, 1, 12, 0, 3, 120)), "2025-10-01T12:00:03.12Z");
  assertEquals(formatGoTime(undefined), "0001-01-01T00:00:00Z");
});

Deno.test("isNodeEligible() rejects unknown, deleting and autoscaler-tainted nodes", () => {
  assertEquals(isNodeEligible(undefined), false);
  assertEquals(isNodeEligible(makeNode()), true);
  assertEquals(
    isNodeEligible(makeNode((n) => n.deletionTimestamp = "2025-10-01T12:00:00Z")),
    false,
  );
  assertEquals(
    isNodeEligible(makeNode((n) => n.taintKeys = ["ToBeDeletedByClusterAutoscaler"])),
    false,
  );
  assertEquals(
    isNodeEligible(makeNode((n) => n.taintKeys = ["node.kubernetes.io/unschedulable"])),
    true,
  );
});

Deno.test("ProxierHealthServer answers 200 with upstream's headers and JSON body", async () => {
  const counters = new Counters();
  await withServer(async (get, hs, clock) => {
    hs.syncNode(makeNode());
    hs.updated("IPv4");
    clock.tick(1000);
    hs.updated("IPv6");
    clock.tick(1500);
    const res = await get("/healthz");
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "application/json");
    assertEquals(res.headers.get("x-content-type-options"), "nosniff");
    assertEquals(
      await res.text(),
      '{"lastUpdated":"2025-10-01T12:00:02.5Z","currentTime":"2025-10-01T12:00:02.5Z",' +
        '"nodeEligible":true,"healthy":true,"status":{' +
        '"IPv4":{"lastUpdated":"2025-10-01T12:00:00Z","healthy":true},' +
        '"IPv6":{"lastUpdated":"2025-10-01T12:00:01Z","healthy":true}}}',
    );
    const live = await get("/livez");
    assertEquals(live.status, 200);
    const body = await live.json();
    assertEquals("nodeEligible" in body, false, "/livez has no nodeEligible");
  }, counters);
  assertEquals(counters.healthz, [200]);
  assertEquals(counters.livez, [200]);
});

Deno.test("ProxierHealthServer omits status before any family registered", async () => {
  await withServer(async (get, hs) => {
    hs.syncNode(makeNode());
    const res = await get("/livez");
    assertEquals(res.status, 200);
    assertEquals(
      await res.text(),
      '{"lastUpdated":"2025-10-01T12:00:00Z","currentTime":"2025-10-01T12:00:00Z","healthy":true}',
    );
  });
});

Deno.test("ProxierHealthServer turns 503 when a queued update goes stale, 200 after updated()", async () => {
  const counters = new Counters();
  await withServer(async (get, hs, clock) => {
    hs.syncNode(makeNode());
    hs.updated("IPv4");
    clock.tick(1000);
    hs.queuedUpdate("IPv4");
    clock.tick(9999);
    assertEquals((await get("/healthz")).status, 200, "pending for less than the timeout");
    await (await get("/livez")).body?.cancel();
    clock.tick(15_001);
    hs.queuedUpdate("IPv4"); // a later change does not reset the oldest pending one
    const res = await get("/livez");
    assertEquals(res.status, 503);
    assertEquals(
      await res.text(),
      '{"lastUpdated":"2025-10-01T12:00:00Z","currentTime":"2025-10-01T12:00:26Z",' +
        '"healthy":false,"status":{"IPv4":{"lastUpdated":"2025-10-01T12:00:00Z","healthy":false}}}',
    );
    assertEquals((await get("/healthz")).status, 503);
    hs.updated("IPv4");
    const healed = await get("/healthz");
    assertEquals(healed.status, 200);
    assertEquals((await healed.json()).healthy, true);
  }, counters);
  assertEquals(counters.healthz, [200, 503, 200]);
  assertEquals(counters.livez, [200, 503]);
});

Deno.test("ProxierHealthServer /healthz is 503 for a node being deleted while /livez stays 200", async () => {
  await withServer(async (get, hs) => {
    hs.updated("IPv4");
    const unknown = await get("/healthz");
    assertEquals(unknown.status, 503, "node not known yet");
    assertEquals((await unknown.json()).nodeEligible, false);

    hs.syncNode(makeNode((n) => n.taintKeys = ["ToBeDeletedByClusterAutoscaler"]));
    const tainted = await get("/healthz");
    assertEquals(tainted.status, 503);
    const body = await tainted.json();
    assertEquals([body.nodeEligible, body.healthy], [false, true]);
    assertEquals((await get("/livez")).status, 200);
    await hs.stop().then(() => hs.start()); // restarting keeps the state

    hs.syncNode(makeNode((n) => n.deletionTimestamp = "2025-10-01T12:00:00Z"));
    assertEquals((await get("/healthz")).status, 503);
    hs.syncNode(makeNode());
    assertEquals((await get("/healthz")).status, 200);
  });
});

Deno.test("ProxierHealthServer answers 404 elsewhere and health() reports per family", async () => {
  await withServer(async (get, hs, clock) => {
    const res = await get("/metrics");
    assertEquals([res.status, await res.text()], [404, "404 page not found\n"]);
    hs.updated("IPv4");
    hs.queuedUpdate("IPv4");
    clock.tick(10_000);
    const h = hs.health();
    assert(!h.healthy);
    assertEquals(h.status.get("IPv4"), { lastUpdated: T0, healthy: false });
  });
});

Deno.test("ProxierHealthServer.health() only judges families that registered, as upstream", () => {
  const clock = new FakeClock(T0);
  const hs = new ProxierHealthServer({
    bindAddress: "127.0.0.1:0",
    healthTimeoutMs: 10_000,
    clock,
  });
  hs.updated("IPv4");
  // IPv6 never registered (its sync loop never started): its queued update is not looked at.
  hs.queuedUpdate("IPv6");
  clock.tick(20_000);
  const h = hs.health();
  assert(h.healthy);
  assertEquals([...h.status.keys()], ["IPv4"]);
});

Deno.test("ProxierHealthServer on the unspecified 0.0.0.0 answers on 127.0.0.1 and on [::1], as upstream", async () => {
  const hs = new ProxierHealthServer({ bindAddress: "0.0.0.0:0", healthTimeoutMs: 60_000 });
  await hs.start();
  try {
    for (const host of ["127.0.0.1", "[::1]"]) {
      const res = await fetch(`http://${host}:${hs.port}/livez`);
      assertEquals(res.status, 200, host);
      assertEquals((await res.json()).healthy, true);
    }
  } finally {
    await hs.stop();
  }
});
