import { assert, assertEquals } from "../tests/assert.ts";
import type {
  EndpointSliceHandler,
  NamespaceHandler,
  NodeHandler,
  ServiceHandler,
} from "../cache/handlers.ts";
import type { ClusterDNSConfiguration, KubeProxyConfiguration } from "../config/types.ts";
import { decodeMessage, encodeQuery } from "./codec.ts";
import { noopDnsMetrics } from "./metrics.ts";
import { type DnsHandlerRegistry, startDnsResponder } from "./responder.ts";
import { exchangeUdp, makeFixture } from "./testing.ts";

const SVC1 = "svc1.testns.svc.cluster.local";

const DNS: ClusterDNSConfiguration = {
  enabled: true,
  bindAddress: "127.0.0.1",
  port: 0,
  clusterDomain: "cluster.local",
  ttl: 5,
  upstreamServers: ["127.0.0.1:9"],
  forwardTimeout: 200,
  maxConcurrentForwards: 10,
  tcpIdleTimeout: 5000,
  podRecords: "insecure",
  serviceIPs: [],
  allowedClients: [],
};
const CONFIG = { clusterCIDR: "10.244.0.0/16" } as KubeProxyConfiguration;

/** A cache stand-in: records the handlers, then delivers the DNS fixture cluster to them. */
class FixtureCache implements DnsHandlerRegistry {
  services: ServiceHandler[] = [];
  slices: EndpointSliceHandler[] = [];
  namespaces: NamespaceHandler[] = [];
  nodes: NodeHandler[] = [];
  addServiceHandler(h: ServiceHandler): void {
    this.services.push(h);
  }
  addEndpointSliceHandler(h: EndpointSliceHandler): void {
    this.slices.push(h);
  }
  addNamespaceHandler(h: NamespaceHandler): void {
    this.namespaces.push(h);
  }
  addNodeHandler(h: NodeHandler): void {
    this.nodes.push(h);
  }
  deliver(): void {
    const fixture = makeFixture();
    for (const h of this.namespaces) {
      for (const ns of fixture.namespaces) h.onNamespaceAdd(ns);
      h.onNamespacesSynced();
    }
    for (const h of this.services) {
      for (const svc of fixture.services) h.onServiceAdd(svc);
      h.onServicesSynced();
    }
    for (const h of this.slices) {
      for (const slice of fixture.slices) h.onEndpointSliceAdd(slice);
      h.onEndpointSlicesSynced();
    }
  }
}

Deno.test("startDnsResponder() without the DNS document opens nothing and registers nothing", async () => {
  const cache = new FixtureCache();
  const server = await startDnsResponder(cache, CONFIG, { ...DNS, enabled: false }, noopDnsMetrics);
  assertEquals(server, undefined);
  assertEquals([cache.services, cache.slices, cache.namespaces, cache.nodes], [[], [], [], []]);
});

Deno.test("startDnsResponder() answers from what the cache delivers to its handlers", async () => {
  const cache = new FixtureCache();
  const server = await startDnsResponder(cache, CONFIG, DNS, noopDnsMetrics);
  assert(server !== undefined);
  try {
    assertEquals(
      [cache.services.length, cache.slices.length, cache.namespaces.length, cache.nodes.length],
      [1, 1, 1, 1],
    );
    cache.deliver();
    const reply = await exchangeUdp(
      "127.0.0.1",
      server.address.udpPort,
      encodeQuery({ id: 3, name: SVC1, type: "A" }),
    );
    assertEquals(decodeMessage(reply!)?.answers, [`${SVC1}. 5 IN A 10.0.0.1`]);
  } finally {
    await server.stop();
  }
});

Deno.test("startDnsResponder() returns undefined, not an error, when the port is taken", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const server = await startDnsResponder(
      new FixtureCache(),
      CONFIG,
      { ...DNS, port },
      noopDnsMetrics,
    );
    assertEquals(server, undefined);
  } finally {
    taken.close();
  }
});
