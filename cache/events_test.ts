import { assertEquals } from "../tests/assert.ts";
import { configureLogging } from "../config/log.ts";
import { ApiServerFixture } from "../tests/apiserver/server.ts";
import { loadClientConfig } from "./client.ts";
import { buildNodeEvent, recordNodeEvent } from "./events.ts";

Deno.test("buildNodeEvent() builds upstream's Starting event", () => {
  const e = buildNodeEvent({
    nodeName: "node-a",
    reason: "Starting",
    action: "StartKubeProxy",
    now: () => new Date("2026-11-21T06:00:00.123Z"),
  });
  assertEquals(e.eventTime, "2026-11-21T06:00:00.123000Z");
  assertEquals(e.regarding, { kind: "Node", name: "node-a", uid: "node-a", apiVersion: "v1" });
  assertEquals([e.reason, e.action, e.type, e.reportingController], [
    "Starting",
    "StartKubeProxy",
    "Normal",
    "kube-proxy",
  ]);
});

Deno.test("recordNodeEvent() posts the event, and only logs when the server refuses", async () => {
  const lines: string[] = [];
  configureLogging({ write: (l) => lines.push(l) });
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  try {
    const config = await loadClientConfig({ master: api.url });
    const opts = { nodeName: "node-a", reason: "Starting", action: "StartKubeProxy" };
    assertEquals(await recordNodeEvent(config, opts), true);
    const events = api.list("Event", "events.k8s.io/v1");
    assertEquals(events.length, 1);
    assertEquals(events[0].apiVersion, "events.k8s.io/v1");
    assertEquals(events[0].regarding.name, "node-a");
    api.failRequests(1, 403);
    assertEquals(await recordNodeEvent(config, opts), false);
    assertEquals(lines.filter((l) => l.includes("Could not record an event")).length, 1);
  } finally {
    await api.close();
  }
});
