import { assert, assertEquals } from "../tests/assert.ts";
import { generateSyntheticCluster, trimSyntheticCluster } from "./synthetic.ts";

Deno.test("generateSyntheticCluster() makes N services with M endpoints each, deterministically", () => {
  const a = generateSyntheticCluster({ services: 200, endpointsPerService: 10 });
  const b = generateSyntheticCluster({ services: 200, endpointsPerService: 10 });
  assertEquals(JSON.stringify(a), JSON.stringify(b));
  assertEquals(a.services.length, 200);
  assertEquals(a.endpointSlices.length, 200);
  const endpoints = a.endpointSlices.reduce(
    (n, s) => n + (s.endpoints as unknown[]).length,
    0,
  );
  assertEquals(endpoints, 2000);
});

Deno.test("generateSyntheticCluster() splits more than 100 endpoints into several slices", () => {
  const c = generateSyntheticCluster({ services: 1, endpointsPerService: 250 });
  assertEquals(c.endpointSlices.map((s) => (s.endpoints as unknown[]).length), [100, 100, 50]);
});

Deno.test("trimSyntheticCluster() covers the mix of service shapes", () => {
  const t = trimSyntheticCluster(
    generateSyntheticCluster({ services: 100, endpointsPerService: 3 }),
  );
  const types = new Set(t.services.map((s) => s.type));
  assertEquals([...types].sort(), ["ClusterIP", "LoadBalancer", "NodePort"]);
  assert(t.services.some((s) => s.headless && s.clusterIPs.length === 0));
  assert(t.services.some((s) => s.sessionAffinity === "ClientIP"));
  assert(t.services.some((s) => s.externalTrafficPolicy === "Local" && s.healthCheckNodePort > 0));
  assert(t.services.some((s) => s.loadBalancerSourceRanges.length > 0));
  assert(t.services.some((s) => s.externalIPs.length > 0));
  assert(t.services.some((s) => s.ports.some((p) => p.protocol === "UDP")));
  assert(t.endpointSlices.every((s) => s.serviceName !== ""));
  assert(t.endpointSlices.some((s) => s.endpoints.some((e) => e.terminating && e.serving)));
  const nodePorts = t.services.flatMap((s) => s.ports.map((p) => p.nodePort)).filter((p) => p);
  assertEquals(new Set(nodePorts).size, nodePorts.length);
});
