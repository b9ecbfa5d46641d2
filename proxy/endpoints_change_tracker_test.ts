import { assert, assertEquals } from "../tests/assert.ts";
import { makeEndpoint, makeEndpointSlice } from "../tests/fixtures.ts";
import { applyEndpointsChanges, EndpointsChangeTracker } from "./endpoints_change_tracker.ts";
import { endpointsFromSlices } from "./endpoints.ts";
import type { EndpointsMap } from "./types.ts";

const P80 = { name: "p80", protocol: "TCP" as const, port: 80 };

Deno.test("endpointsFromSlices() sorts by IP:port string, dedups and marks local", () => {
  const a = makeEndpointSlice("ns1", "svc1", 1, (s) => {
    s.ports = [P80];
    s.endpoints = [
      makeEndpoint("10.1.1.1"),
      makeEndpoint("10.1.1.11", (e) => {
        e.nodeName = "node1";
      }),
      makeEndpoint("10.1.1.2", (e) => {
        e.terminating = true;
        e.ready = false;
      }),
    ];
  });
  const b = makeEndpointSlice("ns1", "svc1", 2, (s) => {
    s.ports = [P80, { name: "", protocol: "TCP", port: 0 }];
    s.endpoints = [makeEndpoint("10.1.1.2"), makeEndpoint("10.1.1.001")];
  });
  const map = endpointsFromSlices([b, a], "IPv4", "node1");
  const eps = map.get("ns1/svc1:p80 TCP")!;
  assertEquals(eps.map((e) => e.endpoint), ["10.1.1.11:80", "10.1.1.1:80", "10.1.1.2:80"]);
  assert(eps[0].isLocal && !eps[1].isLocal);
  // The non-terminating copy of 10.1.1.2 wins.
  assertEquals(eps[2].terminating, false);
  assertEquals(map.size, 1);
});

Deno.test("endpointsFromSlices() keys by slice port name and protocol, per family", () => {
  const s = makeEndpointSlice("ns1", "svc1", 1, (s) => {
    s.ports = [{ name: "dns", protocol: "UDP", port: 5353 }, {
      name: "",
      protocol: "TCP",
      port: 8080,
    }];
    s.endpoints = [makeEndpoint("10.0.0.1")];
  });
  const v6 = makeEndpointSlice("ns1", "svc1", 2, (s) => {
    s.addressType = "IPv6";
    s.ports = [P80];
    s.endpoints = [makeEndpoint("fd00::1")];
  });
  const map = endpointsFromSlices([s, v6], "IPv4", "");
  assertEquals([...map.keys()].sort(), ["ns1/svc1 TCP", "ns1/svc1:dns UDP"]);
  assertEquals(map.get("ns1/svc1:dns UDP")![0].endpoint, "10.0.0.1:5353");
  const map6 = endpointsFromSlices([s, v6], "IPv6", "");
  assertEquals(map6.get("ns1/svc1:p80 TCP")![0].endpoint, "[fd00::1]:80");
});

Deno.test("EndpointsChangeTracker.update() reports add then delete before sync as no change", () => {
  const tracker = new EndpointsChangeTracker("IPv4", "node1");
  const slice = makeEndpointSlice("ns1", "svc1", 1, (s) => {
    s.ports = [P80];
    s.endpoints = [makeEndpoint("10.0.0.1")];
  });
  assert(tracker.update(undefined, slice));
  assert(!tracker.update(slice, undefined));
  assertEquals(tracker.checkout().size, 0);
});

Deno.test("EndpointsChangeTracker.checkout() gives previous and current per service", () => {
  const tracker = new EndpointsChangeTracker("IPv4", "node1");
  const s1 = makeEndpointSlice("ns1", "svc1", 1, (s) => {
    s.ports = [P80];
    s.endpoints = [makeEndpoint("10.0.0.1")];
  });
  const s2 = makeEndpointSlice("ns1", "svc1", 2, (s) => {
    s.ports = [P80];
    s.endpoints = [makeEndpoint("10.0.0.2")];
  });
  tracker.update(undefined, s1);
  tracker.update(undefined, s2);
  let changes = tracker.checkout();
  assertEquals(changes.get("ns1/svc1")!.previous.size, 0);
  assertEquals(changes.get("ns1/svc1")!.current.get("ns1/svc1:p80 TCP")!.length, 2);
  // Updating to identical content is not a change; removing a slice is.
  assert(!tracker.update(s1, { ...s1, resourceVersion: "2" }));
  assert(tracker.update(s2, undefined));
  changes = tracker.checkout();
  assertEquals(changes.get("ns1/svc1")!.previous.get("ns1/svc1:p80 TCP")!.length, 2);
  assertEquals(
    changes.get("ns1/svc1")!.current.get("ns1/svc1:p80 TCP")!.map((e) => e.endpoint),
    ["10.0.0.1:80"],
  );
});

Deno.test("applyEndpointsChanges() reports stale UDP endpoints and newly active services", () => {
  const tracker = new EndpointsChangeTracker("IPv4", "node1");
  const udp = { name: "dns", protocol: "UDP" as const, port: 53 };
  const a = makeEndpointSlice("kube-system", "dns", 1, (s) => {
    s.ports = [udp];
    s.endpoints = [makeEndpoint("10.0.0.1"), makeEndpoint("10.0.0.2")];
  });
  const map: EndpointsMap = new Map();
  tracker.update(undefined, a);
  let result = applyEndpointsChanges(map, tracker.checkout());
  assertEquals([...result.newlyActiveUDPServices], ["kube-system/dns:dns UDP"]);
  assert(result.conntrackCleanupRequired);
  const b = { ...a, endpoints: [a.endpoints[1]] };
  tracker.update(a, b);
  result = applyEndpointsChanges(map, tracker.checkout());
  assertEquals(result.staleEndpoints.map((s) => s.endpoint.endpoint), ["10.0.0.1:53"]);
  assertEquals(result.newlyActiveUDPServices.size, 0);
  assertEquals(map.get("kube-system/dns:dns UDP")!.length, 1);
});

Deno.test("applyEndpointsChanges() reports a ready UDP endpoint that starts terminating as stale", () => {
  const tracker = new EndpointsChangeTracker("IPv4", "node1");
  const udp = { name: "dns", protocol: "UDP" as const, port: 53 };
  const a = makeEndpointSlice("kube-system", "dns", 1, (s) => {
    s.ports = [udp];
    s.endpoints = [makeEndpoint("10.0.0.1"), makeEndpoint("10.0.0.2")];
  });
  const map: EndpointsMap = new Map();
  tracker.update(undefined, a);
  applyEndpointsChanges(map, tracker.checkout());
  // 10.0.0.1 goes ready -> serving+terminating: upstream clears its flows (it was ready and is
  // no longer ready), although the proxier may still fall back to it.
  const terminating = makeEndpoint("10.0.0.1", (ep) => {
    ep.ready = false;
    ep.terminating = true;
  });
  const b = { ...a, endpoints: [terminating, a.endpoints[1]] };
  tracker.update(a, b);
  let result = applyEndpointsChanges(map, tracker.checkout());
  assertEquals(result.staleEndpoints.map((s) => s.endpoint.endpoint), ["10.0.0.1:53"]);
  // An endpoint that was never ready had no traffic: its removal leaves nothing stale.
  const c = { ...a, endpoints: [a.endpoints[1]] };
  tracker.update(b, c);
  result = applyEndpointsChanges(map, tracker.checkout());
  assertEquals(result.staleEndpoints.length, 0);
});
