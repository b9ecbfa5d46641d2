import { assert, assertEquals } from "../tests/assert.ts";
import { ClusterView, dashedLabel } from "./cluster_view.ts";
import { makeEndpoint, makeEndpointSlice, makeNamespace, makeService } from "./testing.ts";

function headless(ns: string, name: string) {
  return makeService(ns, name, (s) => {
    s.clusterIPs = [];
    s.headless = true;
  });
}

Deno.test("dashedLabel() dashes IPv4 and IPv6 and completes a trailing dash", () => {
  assertEquals(dashedLabel("10.1.2.3"), "10-1-2-3");
  assertEquals(dashedLabel("fd00::5"), "fd00--5");
  assertEquals(dashedLabel("2001:db8::"), "2001-db8--0");
});

Deno.test("ClusterView merges slices of a service and follows slice updates and deletes", () => {
  const view = new ClusterView();
  view.onServiceAdd(headless("ns", "web"));
  const a = makeEndpointSlice("ns", "web-a", "web", [makeEndpoint("10.0.0.1")]);
  const b = makeEndpointSlice("ns", "web-b", "web", [makeEndpoint("fd00::1")]);
  view.onEndpointSliceAdd(a);
  view.onEndpointSliceAdd(b);
  assertEquals(view.service("ns", "web")!.endpoints.map((e) => e.ip), ["10.0.0.1", "fd00::1"]);
  assertEquals(view.namesForIP("fd00::1"), ["fd00--1.web.ns.svc"]);
  const a2 = makeEndpointSlice("ns", "web-a", "web", [
    makeEndpoint("10.0.0.2", (e) => e.hostname = "web-0"),
    makeEndpoint("10.0.0.3", (e) => e.ready = false),
  ]);
  view.onEndpointSliceUpdate(a, a2);
  assertEquals(view.service("ns", "web")!.endpoints.map((e) => e.ip), ["10.0.0.2", "fd00::1"]);
  assertEquals(view.namesForIP("10.0.0.1"), []);
  assertEquals(view.namesForIP("10.0.0.2"), ["web-0.web.ns.svc"]);
  assertEquals(view.namesForIP("10.0.0.3"), []);
  view.onEndpointSliceDelete(b);
  assertEquals(view.namesForIP("fd00::1"), []);
  assertEquals(view.service("ns", "web")!.byLabel.get("web-0")!.length, 1);
});

Deno.test("ClusterView keeps slices that arrive before their service", () => {
  const view = new ClusterView();
  view.onEndpointSliceAdd(makeEndpointSlice("ns", "web-a", "web", [makeEndpoint("10.0.0.1")]));
  assertEquals(view.service("ns", "web"), undefined);
  view.onServiceAdd(headless("ns", "web"));
  assertEquals(view.service("ns", "web")!.endpoints.length, 1);
  view.onServiceDelete(headless("ns", "web"));
  assertEquals(view.service("ns", "web"), undefined);
  assertEquals(view.namesForIP("10.0.0.1"), []);
});

Deno.test("ClusterView maps ClusterIPs to the service name before endpoint names", () => {
  const view = new ClusterView();
  const svc = makeService("ns", "api", (s) => s.clusterIPs = ["10.96.0.5", "fd00::5"]);
  view.onServiceAdd(svc);
  view.onEndpointSliceAdd(makeEndpointSlice("ns", "api-a", "api", [makeEndpoint("10.1.0.1")]));
  assertEquals(view.namesForIP("10.96.0.5"), ["api.ns.svc"]);
  assertEquals(view.namesForIP("fd00::5"), ["api.ns.svc"]);
  assertEquals(view.namesForIP("10.1.0.1"), ["10-1-0-1.api.ns.svc"]);
  view.onServiceUpdate(svc, makeService("ns", "api", (s) => s.clusterIPs = ["10.96.0.6"]));
  assertEquals(view.namesForIP("10.96.0.5"), []);
  assertEquals(view.namesForIP("10.96.0.6"), ["api.ns.svc"]);
});

Deno.test("ClusterView publishes not-ready endpoints with publishNotReadyAddresses", () => {
  const view = new ClusterView();
  view.onServiceAdd(makeService("ns", "db", (s) => {
    s.clusterIPs = [];
    s.headless = true;
    s.publishNotReadyAddresses = true;
  }));
  view.onEndpointSliceAdd(
    makeEndpointSlice("ns", "db-a", "db", [makeEndpoint("10.0.0.9", (e) => e.ready = false)]),
  );
  assertEquals(view.service("ns", "db")!.endpoints.map((e) => e.ip), ["10.0.0.9"]);
});

Deno.test("ClusterView.hasSynced() waits for services, slices and namespaces", () => {
  const view = new ClusterView();
  view.onServicesSynced();
  view.onEndpointSlicesSynced();
  assertEquals(view.hasSynced(), false);
  view.onNamespacesSynced();
  assertEquals(view.hasSynced(), true);
  const noNs = new ClusterView({ watchNamespaces: false });
  noNs.onServicesSynced();
  noNs.onEndpointSlicesSynced();
  assertEquals(noNs.hasSynced(), true);
});

Deno.test("ClusterView.namespaceExists() follows Namespaces, or services without the watch", () => {
  const view = new ClusterView();
  view.onNamespaceAdd(makeNamespace("a"));
  assert(view.namespaceExists("a"));
  view.onNamespaceDelete(makeNamespace("a"));
  assert(!view.namespaceExists("a"));
  const noNs = new ClusterView({ watchNamespaces: false });
  const svc = makeService("b", "x");
  noNs.onServiceAdd(svc);
  assert(noNs.namespaceExists("b"));
  noNs.onServiceDelete(svc);
  assert(!noNs.namespaceExists("b"));
});

Deno.test("ClusterView.onNamespacesUnavailable() counts as synced and takes namespaces from services", () => {
  const view = new ClusterView();
  view.onServicesSynced();
  view.onEndpointSlicesSynced();
  const before = view.version;
  view.onNamespacesUnavailable();
  assert(view.hasSynced());
  assert(view.version > before);
  const svc = makeService("b", "x");
  view.onServiceAdd(svc);
  assert(view.namespaceExists("b"));
  assert(!view.namespaceExists("c"));
  view.onServiceDelete(svc);
  assert(!view.namespaceExists("b"));
  // Namespaces listed later take over again.
  view.onNamespaceAdd(makeNamespace("c"));
  view.onNamespacesSynced();
  assert(view.hasSynced());
  assert(view.namespaceExists("c"));
  view.onServiceAdd(svc);
  assert(!view.namespaceExists("b"));
});

Deno.test("ClusterView.version and serial change on every change", () => {
  let now = 1_000_000;
  const view = new ClusterView({ now: () => now });
  const v0 = view.version;
  now = 2_000_000;
  view.onServiceAdd(makeService("ns", "x"));
  assert(view.version > v0);
  assertEquals(view.serial, 2000);
});

Deno.test("ClusterView.namesForIP() names an address published by two services until one drops it", () => {
  const view = new ClusterView();
  view.onServiceAdd(headless("ns", "a"));
  view.onServiceAdd(headless("ns", "b"));
  const sa = makeEndpointSlice("ns", "a-1", "a", [makeEndpoint("10.0.0.9")]);
  const sb = makeEndpointSlice("ns", "b-1", "b", [
    makeEndpoint("10.0.0.9", (e) => e.hostname = "Pod-9"),
  ]);
  view.onEndpointSliceAdd(sa);
  view.onEndpointSliceAdd(sb);
  assertEquals(view.namesForIP("10.0.0.9"), ["10-0-0-9.a.ns.svc", "pod-9.b.ns.svc"]);
  view.onEndpointSliceDelete(sa);
  assertEquals(view.namesForIP("10.0.0.9"), ["pod-9.b.ns.svc"]);
  assertEquals(view.service("ns", "a")!.endpoints, []);
  view.onServiceDelete(headless("ns", "b"));
  assertEquals(view.namesForIP("10.0.0.9"), []);
  view.onEndpointSliceAdd(sa);
  assertEquals(view.namesForIP("10.0.0.9"), ["10-0-0-9.a.ns.svc"]);
  assertEquals(view.service("ns", "a")!.byLabel.get("10-0-0-9")!.length, 1);
});
