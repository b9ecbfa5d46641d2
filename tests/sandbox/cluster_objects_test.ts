import { assert, assertEquals } from "../assert.ts";
import { toEndpointSlice, toNode, toService } from "../../cache/convert.ts";
import { makeEndpointSlice, makeNode, makeService } from "./cluster_objects.ts";
import type { SandboxNode, SandboxPod } from "./sandbox.ts";

const node1: SandboxNode = {
  name: "node1",
  netns: "kpsbx-test-node1",
  ip: "192.168.1.10",
  podCIDR: "10.244.1.0/24",
  bridgeIP: "10.244.1.1",
};
const pods: SandboxPod[] = [0, 1, 2].map((i) => ({
  name: `my-sts-${i}`,
  netns: `kpsbx-test-pod-my-sts-${i}`,
  ip: `10.244.${1 + (i % 2)}.${2 + i}`,
  node: `node${1 + (i % 2)}`,
}));

Deno.test("makeNode() builds a Node the cache accepts, with pod CIDR and InternalIP", () => {
  const node = toNode(makeNode(node1));
  assert(node);
  assertEquals(node.podCIDRs, ["10.244.1.0/24"]);
  assertEquals(node.addresses, ["192.168.1.10"]);
});

Deno.test("makeService() builds Services the cache accepts, headless included", () => {
  const np = toService(makeService("web", {
    clusterIP: "10.96.0.30",
    type: "NodePort",
    externalTrafficPolicy: "Local",
    sessionAffinity: "ClientIP",
    ports: [{ name: "http", port: 80, targetPort: 8080, nodePort: 30080 }],
  }));
  assert(np);
  assertEquals(np.clusterIPs, ["10.96.0.30"]);
  assertEquals(np.ports.map((p) => [p.port, p.targetPort, p.nodePort]), [[80, 8080, 30080]]);
  assertEquals([np.externalTrafficPolicy, np.sessionAffinity], ["Local", "ClientIP"]);
  const headless = toService(makeService("my-service", {
    clusterIP: "None",
    ports: [{ name: "peer", port: 8080 }],
  }));
  assert(headless);
  assertEquals(headless.headless, true);
});

Deno.test("makeEndpointSlice() lists the pods with hostnames, nodes and readiness", () => {
  const svc = makeService("my-service", {
    clusterIP: "None",
    ports: [{ name: "peer", port: 8080 }],
  });
  const slice = toEndpointSlice(
    makeEndpointSlice(svc, pods, { hostnames: true, notReady: ["my-sts-2"] }),
  );
  assert(slice);
  assertEquals(slice.serviceName, "my-service");
  assertEquals(slice.ports.map((p) => [p.name, p.port]), [["peer", 8080]]);
  assertEquals(
    slice.endpoints.map((e) => [e.addresses[0], e.hostname, e.nodeName, e.ready]),
    [
      ["10.244.1.2", "my-sts-0", "node1", true],
      ["10.244.2.3", "my-sts-1", "node2", true],
      ["10.244.1.4", "my-sts-2", "node1", false],
    ],
  );
});
