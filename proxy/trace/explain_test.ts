import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { makeEndpoint, makeEndpointSlice, makeService } from "../../tests/fixtures.ts";
import type { Endpoint } from "../../cache/objects.ts";
import { explainServicePort } from "./explain.ts";

const NODE = {
  name: "node1",
  labels: { "topology.kubernetes.io/zone": "a" },
  family: "IPv4" as const,
};

function service(mutate: Parameters<typeof makeService>[2] = () => {}) {
  return makeService("ns1", "db", (s) => {
    s.clusterIPs = ["10.96.0.20"];
    s.ports = [{ name: "pg", protocol: "TCP", port: 5432, targetPort: 5432, nodePort: 0 }];
    mutate?.(s);
  });
}

function sliceOf(endpoints: Endpoint[]) {
  return makeEndpointSlice("ns1", "db", 1, (s) => {
    s.ports = [{ name: "pg", protocol: "TCP", port: 5432 }];
    s.endpoints = endpoints;
  });
}

function reasonsOf(x: ReturnType<typeof explainServicePort>, endpoint: string): string {
  return x!.endpoints.find((e) => e.endpoint === endpoint)!.reasons.join("; ");
}

Deno.test("explainServicePort() says when a Service has no endpoints at all", () => {
  const x = explainServicePort(service(), [], "pg", NODE)!;
  assertEquals(x.service, "ns1/db:pg");
  assertEquals(x.endpoints, []);
  assertStringIncludes(x.summary.join("\n"), "no endpoints at all");
  // The port can be named by number too; an unknown port is undefined.
  assertEquals(explainServicePort(service(), [], "5432", NODE)?.service, "ns1/db:pg");
  assertEquals(explainServicePort(service(), [], "nope", NODE), undefined);
});

Deno.test("explainServicePort() explains not ready, terminating and ready endpoints", () => {
  const slices = [sliceOf([
    makeEndpoint("10.244.1.5", (e) => e.nodeName = "node1"),
    makeEndpoint("10.244.2.5", (e) => {
      e.ready = false;
      e.serving = false;
      e.nodeName = "node2";
    }),
    makeEndpoint("10.244.2.6", (e) => {
      e.ready = false;
      e.terminating = true;
    }),
  ])];
  const x = explainServicePort(service(), slices, "pg", NODE)!;
  assertStringIncludes(reasonsOf(x, "10.244.1.5:5432"), "used for cluster-policy traffic");
  assertStringIncludes(reasonsOf(x, "10.244.2.5:5432"), "not ready; not used");
  assertStringIncludes(reasonsOf(x, "10.244.2.6:5432"), "terminating but still serving; not used");
  assertEquals(x.endpoints.find((e) => e.endpoint === "10.244.2.5:5432")!.nodeName, "node2");
  // With the ready one gone, the terminating one is the fallback.
  const fallback = explainServicePort(
    service(),
    [sliceOf([
      makeEndpoint("10.244.2.6", (e) => {
        e.ready = false;
        e.terminating = true;
      }),
    ])],
    "pg",
    NODE,
  )!;
  assertStringIncludes(reasonsOf(fallback, "10.244.2.6:5432"), "used as a fallback");
  assert(fallback.endpoints[0].clusterEligible);
});

Deno.test("explainServicePort() explains externalTrafficPolicy Local on a node without local endpoints", () => {
  const svc = service((s) => {
    s.type = "NodePort";
    s.externalTrafficPolicy = "Local";
    s.ports = [{ name: "pg", protocol: "TCP", port: 5432, targetPort: 5432, nodePort: 30432 }];
  });
  const x = explainServicePort(
    svc,
    [sliceOf([makeEndpoint("10.244.2.5", (e) => e.nodeName = "node2")])],
    "pg",
    NODE,
  )!;
  assertEquals(x.externalTrafficPolicy, "Local");
  assertStringIncludes(
    x.summary.join("\n"),
    "no usable endpoint on this node: external traffic arriving here is dropped (DROP)",
  );
  const r = reasonsOf(x, "10.244.2.5:5432");
  assertStringIncludes(r, "on node node2, not on this node (node1)");
  assertStringIncludes(r, "used for cluster-policy traffic");
  assertEquals(x.endpoints[0].localEligible, false);
});

Deno.test("explainServicePort() explains topology hints that send this zone elsewhere", () => {
  const hinted = (ip: string, zone: string) =>
    makeEndpoint(ip, (e) => {
      e.hints = { forZones: [zone], forNodes: [] };
    });
  const x = explainServicePort(
    service(),
    [sliceOf([hinted("10.244.1.5", "a"), hinted("10.244.2.5", "b")])],
    "pg",
    NODE,
  )!;
  assertStringIncludes(reasonsOf(x, "10.244.2.5:5432"), "topology hints (zone hints b)");
  assertStringIncludes(reasonsOf(x, "10.244.1.5:5432"), "used for cluster-policy traffic");
});
