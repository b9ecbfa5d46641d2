// deno-lint-ignore-file no-explicit-any
import { assert, assertEquals, assertStringIncludes } from "../tests/assert.ts";
import { configureLogging } from "../config/log.ts";
import { makeService } from "../tests/fixtures.ts";
import { toEndpointSlice, toNamespace, toNode, toService } from "./convert.ts";

function captureLog(): string[] {
  const lines: string[] = [];
  configureLogging({ write: (l) => lines.push(l) });
  return lines;
}

function rawService(mutate: (s: any) => void = () => {}): any {
  const s = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "demo", resourceVersion: "7", labels: {} },
    spec: {
      type: "ClusterIP",
      clusterIP: "10.96.0.10",
      clusterIPs: ["10.96.0.10"],
      ports: [{ name: "http", port: 80, targetPort: 8080 }],
    },
  };
  mutate(s);
  return s;
}

Deno.test("toService() trims and defaults a ClusterIP service", () => {
  const lines = captureLog();
  const svc = toService(rawService());
  assertEquals(
    svc,
    makeService("demo", "web", (s) => {
      s.resourceVersion = "7";
      s.clusterIPs = ["10.96.0.10"];
      s.ports = [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080, nodePort: 0 }];
    }),
  );
  assertEquals(lines, []);
});

Deno.test("toService() handles headless, ExternalName and IPv6", () => {
  captureLog();
  const headless = toService(rawService((s) => {
    s.spec.clusterIP = "None";
    s.spec.clusterIPs = ["None"];
  }))!;
  assertEquals([headless.headless, headless.clusterIPs], [true, []]);
  const ext = toService(rawService((s) => {
    s.spec = { type: "ExternalName", externalName: "Example.COM." };
  }))!;
  assertEquals([ext.type, ext.externalName, ext.clusterIPs, ext.ports], [
    "ExternalName",
    "example.com",
    [],
    [],
  ]);
  const v6 = toService(rawService((s) => {
    s.spec.clusterIP = "FD00::0:A";
    s.spec.clusterIPs = ["FD00::0:A"];
    s.spec.ports[0].targetPort = "http-web";
    s.status = {
      loadBalancer: { ingress: [{ ip: "fd00::1", ipMode: "Proxy" }, { hostname: "x" }] },
    };
  }))!;
  assertEquals(v6.clusterIPs, ["fd00::a"]);
  assertEquals(v6.ipFamilies, ["IPv6"]);
  assertEquals(v6.ports[0].targetPort, "http-web");
  assertEquals(v6.loadBalancerIngress, [{ ip: "fd00::1", ipMode: "Proxy" }]);
});

Deno.test("toService() skips unusable services with one log line", () => {
  const bad = [
    (s: any) => (s.spec.clusterIP = s.spec.clusterIPs[0] = "10.96.0.999"),
    (s: any) => delete s.spec.ports[0].port,
    (s: any) => (s.spec.ports[0].port = 70000),
    (s: any) => (s.spec.ports[0].protocol = "ICMP"),
    (s: any) => (s.spec.type = "Weird"),
    (s: any) => delete s.metadata.name,
  ];
  for (const mutate of bad) {
    const lines = captureLog();
    assertEquals(toService(rawService(mutate)), undefined);
    assertEquals(lines.length, 1, lines.join("\n"));
    assert(lines[0].includes("Skipping invalid Service"), lines[0]);
  }
});

Deno.test("toService() drops a bad external IP but keeps the service", () => {
  const lines = captureLog();
  const svc = toService(rawService((s) => (s.spec.externalIPs = ["1.2.3.4", "nope"])))!;
  assertEquals(svc.externalIPs, ["1.2.3.4"]);
  assertEquals(lines.length, 1);
});

Deno.test("toEndpointSlice() applies condition defaults", () => {
  captureLog();
  const slice = toEndpointSlice({
    metadata: {
      name: "web-1",
      namespace: "demo",
      resourceVersion: "9",
      labels: { "kubernetes.io/service-name": "web" },
    },
    addressType: "IPv6",
    ports: [{ name: "http", port: 8080 }],
    endpoints: [
      { addresses: ["FD00::5"] },
      { addresses: ["fd00::6"], conditions: { ready: false, terminating: true }, nodeName: "n1" },
      { addresses: ["fd00::7"], hints: { forZones: [{ name: "a" }] }, zone: "a" },
    ],
  })!;
  assertEquals(slice.serviceName, "web");
  assertEquals(slice.ports, [{ name: "http", protocol: "TCP", port: 8080 }]);
  assertEquals(slice.endpoints.map((e) => [e.addresses[0], e.ready, e.serving, e.terminating]), [
    ["fd00::5", true, true, false],
    ["fd00::6", false, false, true],
    ["fd00::7", true, true, false],
  ]);
  assertEquals(slice.endpoints[2].hints, { forZones: ["a"], forNodes: [] });
  assertEquals(slice.endpoints[0].hints, undefined);
});

Deno.test("toEndpointSlice() skips a bad address or port with one log line", () => {
  for (
    const raw of [
      { addressType: "IPv4", ports: [{ port: 80 }], endpoints: [{ addresses: ["10.0.0.300"] }] },
      { addressType: "IPv4", ports: [{ port: 80 }], endpoints: [{ addresses: ["fd00::1"] }] },
      { addressType: "IPv4", ports: [{ name: "x" }], endpoints: [] },
      { addressType: "Bogus", ports: [], endpoints: [] },
    ]
  ) {
    const lines = captureLog();
    assertEquals(toEndpointSlice({ metadata: { name: "s", namespace: "d" }, ...raw }), undefined);
    assertEquals(lines.length, 1);
  }
});

Deno.test("toEndpointSlice() reads the last-change-trigger-time annotation", () => {
  const lines = captureLog();
  const raw = (annotations?: Record<string, unknown>) => ({
    metadata: {
      name: "web-1",
      namespace: "demo",
      labels: { "kubernetes.io/service-name": "web" },
      ...(annotations ? { annotations } : {}),
    },
    addressType: "IPv4",
    ports: [{ port: 80 }],
    endpoints: [{ addresses: ["10.0.0.1"] }],
  });
  const key = "endpoints.kubernetes.io/last-change-trigger-time";
  assertEquals(
    toEndpointSlice(raw({ [key]: "2026-11-21T06:00:00Z" }))!.lastChangeTriggerTime,
    Date.UTC(2026, 10, 21, 6, 0, 0),
  );
  assertEquals(
    toEndpointSlice(raw({ [key]: "2026-11-21T07:00:00.250+01:00" }))!.lastChangeTriggerTime,
    Date.UTC(2026, 10, 21, 6, 0, 0, 250),
  );
  assertEquals(lines, []);
  // Absent: the property is not there at all (so copies without it compare equal).
  assert(!("lastChangeTriggerTime" in toEndpointSlice(raw())!));
  assert(!("lastChangeTriggerTime" in toEndpointSlice(raw({ other: "x" }))!));
  // Invalid: ignored with one log line, the slice is kept.
  for (const bad of ["yesterday", "2026-11-21", 1700000000]) {
    const logged = captureLog();
    const slice = toEndpointSlice(raw({ [key]: bad }));
    assert(slice !== undefined);
    assertEquals(slice.lastChangeTriggerTime, undefined);
    assertEquals(logged.length, 1, logged.join("\n"));
    assertStringIncludes(logged[0], "last-change-trigger-time");
  }
});

Deno.test("toNode() keeps labels, canonical pod CIDRs and addresses", () => {
  captureLog();
  assertEquals(
    toNode({
      metadata: {
        name: "n1",
        resourceVersion: "3",
        labels: { "topology.kubernetes.io/zone": "a" },
      },
      spec: { podCIDR: "10.244.1.0/24", podCIDRs: ["10.244.1.0/24", "FD00:10:244:1::/64"] },
      status: {
        addresses: [
          { type: "Hostname", address: "n1" },
          { type: "ExternalIP", address: "203.0.113.5" },
          { type: "InternalIP", address: "192.168.0.5" },
        ],
      },
    }),
    {
      name: "n1",
      resourceVersion: "3",
      labels: { "topology.kubernetes.io/zone": "a" },
      podCIDRs: ["10.244.1.0/24", "fd00:10:244:1::/64"],
      addresses: ["192.168.0.5", "203.0.113.5"],
    },
  );
  assertEquals(toNode({ metadata: { name: "n2" }, spec: { podCIDR: "bad" } }), undefined);
  const leaving = toNode({
    metadata: { name: "n3", deletionTimestamp: "2026-11-21T06:00:00Z" },
    spec: { taints: [{ key: "ToBeDeletedByClusterAutoscaler", effect: "NoSchedule" }] },
  })!;
  assertEquals(leaving.deletionTimestamp, "2026-11-21T06:00:00Z");
  assertEquals(leaving.taintKeys, ["ToBeDeletedByClusterAutoscaler"]);
});

Deno.test("toNamespace() keeps the name", () => {
  assertEquals(toNamespace({ metadata: { name: "demo", resourceVersion: "1" } }), {
    name: "demo",
    resourceVersion: "1",
  });
});
