import { assertEquals } from "../tests/assert.ts";
import { categorizeEndpoints } from "./topology.ts";
import type { EndpointInfo } from "./types.ts";
import { endpointInfo, servicePortInfo } from "./test_fixtures.ts";

const svc = servicePortInfo;
const ep = endpointInfo;

function names(eps: readonly EndpointInfo[]): string[] {
  return eps.map((e) => e.ip);
}

Deno.test("categorizeEndpoints() uses ready endpoints for cluster traffic", () => {
  const r = categorizeEndpoints(
    [ep("10.0.0.1"), ep("10.0.0.2", { ready: false, serving: false })],
    svc(),
    "node1",
    {},
  );
  assertEquals(names(r.clusterEndpoints), ["10.0.0.1"]);
  assertEquals(names(r.localEndpoints), []);
  assertEquals(names(r.allReachableEndpoints), ["10.0.0.1"]);
  assertEquals(r.hasAnyEndpoints, true);
});

Deno.test("categorizeEndpoints() falls back to serving terminating endpoints", () => {
  const r = categorizeEndpoints(
    [
      ep("10.0.0.1", { ready: false, serving: true, terminating: true }),
      ep("10.0.0.2", { ready: false, serving: false, terminating: true }),
    ],
    svc(),
    "node1",
    {},
  );
  assertEquals(names(r.clusterEndpoints), ["10.0.0.1"]);
  const none = categorizeEndpoints(
    [ep("10.0.0.2", { ready: false, serving: false, terminating: true })],
    svc(),
    "node1",
    {},
  );
  assertEquals(none.hasAnyEndpoints, false);
});

Deno.test("categorizeEndpoints() uses local endpoints for internalTrafficPolicy Local", () => {
  const eps = [ep("10.0.0.1", { isLocal: true }), ep("10.0.0.2")];
  const r = categorizeEndpoints(eps, svc({ internalPolicyLocal: true }), "node1", {});
  assertEquals(names(r.clusterEndpoints), []);
  assertEquals(names(r.localEndpoints), ["10.0.0.1"]);
  assertEquals(names(r.allReachableEndpoints), ["10.0.0.1"]);
  const remote = categorizeEndpoints([ep("10.0.0.2")], svc({ internalPolicyLocal: true }), "n", {});
  assertEquals(remote.hasAnyEndpoints, true);
  assertEquals(names(remote.localEndpoints), []);
});

Deno.test("categorizeEndpoints() uses both sets for externalTrafficPolicy Local", () => {
  const eps = [
    ep("10.0.0.1", { isLocal: true, ready: false, serving: true, terminating: true }),
    ep("10.0.0.2"),
  ];
  const r = categorizeEndpoints(
    eps,
    svc({ externalPolicyLocal: true, nodePort: 3001 }),
    "node1",
    {},
  );
  assertEquals(names(r.clusterEndpoints), ["10.0.0.2"]);
  // No ready local endpoint: the serving terminating local one is used for local traffic.
  assertEquals(names(r.localEndpoints), ["10.0.0.1"]);
  assertEquals(names(r.allReachableEndpoints), ["10.0.0.1", "10.0.0.2"]);
});

Deno.test("categorizeEndpoints() follows zone hints when all ready endpoints have them", () => {
  const eps = [
    ep("10.0.0.1", { zoneHints: ["zone-a"] }),
    ep("10.0.0.2", { zoneHints: ["zone-b"] }),
    ep("10.0.0.3", { zoneHints: ["zone-a"] }),
  ];
  const labels = { "topology.kubernetes.io/zone": "zone-a" };
  assertEquals(names(categorizeEndpoints(eps, svc(), "n", labels).clusterEndpoints), [
    "10.0.0.1",
    "10.0.0.3",
  ]);
  // A hint for no endpoint in this zone, or a missing hint, disables topology.
  const other = { "topology.kubernetes.io/zone": "zone-c" };
  assertEquals(categorizeEndpoints(eps, svc(), "n", other).clusterEndpoints.length, 3);
  const partial = [...eps, ep("10.0.0.4")];
  assertEquals(categorizeEndpoints(partial, svc(), "n", labels).clusterEndpoints.length, 4);
});

Deno.test("categorizeEndpoints() prefers node hints over zone hints", () => {
  const eps = [
    ep("10.0.0.1", { zoneHints: ["a"], nodeHints: ["node1"] }),
    ep("10.0.0.2", { zoneHints: ["a"], nodeHints: ["node2"] }),
  ];
  const r = categorizeEndpoints(eps, svc(), "node1", { "topology.kubernetes.io/zone": "a" });
  assertEquals(names(r.clusterEndpoints), ["10.0.0.1"]);
});
