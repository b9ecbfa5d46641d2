import { assert, assertEquals } from "../assert.ts";
import { ApiServerFixture, type RawObject } from "../apiserver/server.ts";
import { CONTROLLER_NAME, desiredSlices, EndpointsController } from "./endpoints_controller.ts";
import { eventually } from "./eventually.ts";

function pod(
  name: string,
  ip: string,
  opts: { app?: string; ready?: boolean; node?: string; deleting?: boolean; portName?: string } =
    {},
): RawObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: "default",
      uid: `uid-${name}`,
      labels: { app: opts.app ?? "db" },
      ...(opts.deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}),
    },
    spec: {
      nodeName: opts.node ?? "node1",
      containers: [{
        name: "c",
        ports: [{ name: opts.portName ?? "pg", containerPort: 5432, protocol: "TCP" }],
      }],
    },
    status: {
      phase: "Running",
      podIP: ip,
      conditions: [{ type: "Ready", status: opts.ready === false ? "False" : "True" }],
    },
  };
}

function service(selector: Record<string, string> | undefined, targetPort: unknown = 5432) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "db", namespace: "default", uid: "svc-uid" },
    spec: {
      ...(selector ? { selector } : {}),
      ports: [{ name: "db", port: 5432, targetPort, protocol: "TCP" }],
    },
  };
}

Deno.test("desiredSlices lists selected pods with readiness, node and target port", () => {
  const pods = [
    pod("db-1", "10.244.2.3", { node: "node2", ready: false }),
    pod("db-0", "10.244.2.2", { node: "node2" }),
    pod("db-2", "10.244.1.5", { deleting: true }),
    pod("web", "10.244.1.2", { app: "web" }),
    { ...pod("db-gone", "10.244.1.9"), status: { phase: "Succeeded", podIP: "10.244.1.9" } },
    { ...pod("db-noip", ""), status: { phase: "Pending" } },
  ];
  const [slice, ...more] = desiredSlices(service({ app: "db" }), pods);
  assertEquals(more, []);
  assert(slice.metadata.name.startsWith("db-"), slice.metadata.name);
  assertEquals(slice.metadata.labels, {
    "kubernetes.io/service-name": "db",
    "endpointslice.kubernetes.io/managed-by": CONTROLLER_NAME,
  });
  assertEquals(slice.metadata.ownerReferences[0].uid, "svc-uid");
  assertEquals(slice.addressType, "IPv4");
  assertEquals(slice.ports, [{ name: "db", port: 5432, protocol: "TCP" }]);
  assertEquals(
    slice.endpoints.map((e: RawObject) => [e.addresses[0], e.nodeName, e.conditions]),
    [
      ["10.244.2.2", "node2", { ready: true, serving: true, terminating: false }],
      ["10.244.2.3", "node2", { ready: false, serving: false, terminating: false }],
      ["10.244.1.5", "node1", { ready: false, serving: true, terminating: true }],
    ],
  );
  assertEquals(slice.endpoints[0].targetRef, {
    kind: "Pod",
    namespace: "default",
    name: "db-0",
    uid: "uid-db-0",
  });
});

Deno.test("desiredSlices resolves named target ports per pod and leaves selectorless Services", () => {
  const pods = [
    pod("db-0", "10.244.2.2"),
    pod("db-1", "10.244.2.3", { portName: "postgres" }),
  ];
  const slices = desiredSlices(service({ app: "db" }, "pg"), pods);
  assertEquals(slices.length, 2, "pods naming the port differently get different slices");
  const withPort = slices.find((s) => s.ports.length === 1)!;
  assertEquals(withPort.ports[0].port, 5432);
  assertEquals(withPort.endpoints.map((e: RawObject) => e.targetRef.name), ["db-0"]);
  const without = slices.find((s) => s.ports.length === 0)!;
  assertEquals(without.endpoints.map((e: RawObject) => e.targetRef.name), ["db-1"]);
  assertEquals(desiredSlices(service(undefined), pods), [], "no selector: the user's slices");
  const empty = desiredSlices(service({ app: "nothing" }), pods);
  assertEquals(empty.map((s) => [s.endpoints, s.ports]), [[[], []]], "one empty slice");
});

Deno.test("EndpointsController follows Services and Pods in the fixture, and leaves others' slices", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  const errors: unknown[] = [];
  const controller = new EndpointsController(api, (e) => errors.push(e));
  const managed = () =>
    api.list("EndpointSlice").filter((s) =>
      s.metadata.labels?.["endpointslice.kubernetes.io/managed-by"] === CONTROLLER_NAME
    );
  const addresses = () =>
    managed().flatMap((s) => s.endpoints.map((e: RawObject) => e.addresses[0])).sort();
  try {
    api.apply({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: "manual",
        namespace: "default",
        labels: { "kubernetes.io/service-name": "manual" },
      },
      addressType: "IPv4",
      endpoints: [],
    });
    api.apply(pod("db-0", "10.244.2.2"));
    controller.start();
    api.apply(service({ app: "db" }));
    await eventually(
      "a slice with db-0",
      () => addresses().join() === "10.244.2.2" || undefined,
      10_000,
      20,
    );
    api.apply(pod("db-1", "10.244.2.3"));
    await eventually("db-1 added", () => addresses().length === 2 || undefined, 10_000, 20);
    const rv = api.resourceVersion;
    controller.sync();
    assertEquals(api.resourceVersion, rv, "a sync with nothing new writes nothing");
    api.remove("Pod", "default", "db-0");
    await eventually(
      "db-0 removed",
      () => addresses().join() === "10.244.2.3" || undefined,
      10_000,
      20,
    );
    api.remove("Service", "default", "db");
    await eventually("slice deleted", () => managed().length === 0 || undefined, 10_000, 20);
    assert(api.get("EndpointSlice", "default", "manual") !== undefined, "the manual slice stays");
    assertEquals(errors, []);
  } finally {
    controller.stop();
    await api.close();
  }
});
