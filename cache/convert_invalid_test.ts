// deno-lint-ignore-file no-explicit-any
/**
 * Wrong types and invalid names at ingest (issue 14, items 1 and 2): one table row per case, each
 * asserting the one log line and the field it names, and what is kept.
 */
import { assert, assertEquals, assertStringIncludes } from "../tests/assert.ts";
import { configureLogging } from "../config/log.ts";
import { toEndpointSlice, toNamespace, toNode, toService } from "./convert.ts";
import type { EndpointSlice, Node, Service } from "./objects.ts";

function captureLog(): string[] {
  const lines: string[] = [];
  configureLogging({ write: (l) => lines.push(l), format: "text" });
  return lines;
}

function rawService(): any {
  return {
    metadata: { name: "web", namespace: "demo", resourceVersion: "7", labels: { app: "web" } },
    spec: {
      type: "ClusterIP",
      clusterIP: "10.96.0.10",
      clusterIPs: ["10.96.0.10"],
      ipFamilies: ["IPv4"],
      sessionAffinity: "ClientIP",
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } },
      ports: [
        { name: "http", protocol: "TCP", port: 80, targetPort: 8080 },
        { name: "dns", protocol: "UDP", port: 53, targetPort: "dns" },
      ],
    },
  };
}

function rawSlice(): any {
  return {
    metadata: {
      name: "web-abc12",
      namespace: "demo",
      labels: { "kubernetes.io/service-name": "web" },
    },
    addressType: "IPv4",
    ports: [{ name: "http", protocol: "TCP", port: 8080 }],
    endpoints: [
      { addresses: ["10.0.0.1"], nodeName: "node-1", zone: "a", hostname: "web-0" },
      { addresses: ["10.0.0.2"], conditions: { ready: false } },
    ],
  };
}

function rawNode(): any {
  return {
    metadata: { name: "node-1.example", labels: { "topology.kubernetes.io/zone": "a" } },
    spec: { podCIDRs: ["10.244.1.0/24"] },
    status: { addresses: [{ type: "InternalIP", address: "192.168.0.5" }] },
  };
}

/** A row: how to break a valid object, then either the skipped field or the ignored one. */
interface Row<T> {
  readonly name: string;
  /** Changes the valid object in place (what it returns is not used). */
  readonly mutate: (raw: any) => unknown;
  /** Converts this instead of the valid object. */
  readonly replace?: unknown;
  /** The object is skipped; its one log line names this field. */
  readonly skipped?: string;
  /** The object is kept without the bad part; its one log line names this field. */
  readonly ignored?: string;
  /** What is kept (with `ignored`). */
  readonly kept?: (obj: T) => void;
}

/** Runs a table against a converter: exactly one log line, naming the field. */
function runTable<T>(
  kind: string,
  convert: (raw: any) => T | undefined,
  make: () => any,
  rows: readonly Row<T>[],
): void {
  for (const row of rows) {
    const lines = captureLog();
    const raw = make();
    row.mutate(raw);
    const out = convert("replace" in row ? row.replace : raw);
    const context = `${kind}: ${row.name}\n${lines.join("\n")}`;
    assertEquals(lines.length, 1, context);
    if (row.skipped !== undefined) {
      assertEquals(out, undefined, context);
      assertStringIncludes(lines[0], `Skipping invalid ${kind}`, context);
      assertStringIncludes(lines[0], ` field=${JSON.stringify(row.skipped)} `, context);
    } else {
      assert(out !== undefined, context);
      assertStringIncludes(lines[0], `Ignoring invalid fields of ${kind}`, context);
      // `ignored="<field>: <problem>"`, possibly after other fields.
      assert(
        new RegExp(`ignored="(.*; )?${escapeRegExp(JSON.stringify(row.ignored!).slice(1, -1))}: `)
          .test(lines[0]),
        `${context}\nshould name ${row.ignored}`,
      );
      row.kept?.(out);
    }
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("toService() skips or trims wrongly typed and invalid Services, naming the field", () => {
  runTable<Service>("Service", toService, rawService, [
    // Wrong types (issue 14, item 2).
    { name: "spec as a string", mutate: (s) => (s.spec = "ports: 80"), skipped: "spec" },
    { name: "no spec", mutate: (s) => delete s.spec, skipped: "spec" },
    { name: "spec null", mutate: (s) => (s.spec = null), skipped: "spec" },
    {
      name: "ports as an object",
      mutate: (s) => (s.spec.ports = { port: 80 }),
      skipped: "spec.ports",
    },
    {
      name: "a port as a string",
      mutate: (s) => (s.spec.ports[1] = "53"),
      skipped: "spec.ports[1]",
    },
    {
      name: "labels as a list",
      mutate: (s) => (s.metadata.labels = ["app=web"]),
      skipped: "metadata.labels",
    },
    { name: "the object a string", mutate: () => {}, replace: "web", skipped: "(object)" },
    { name: "metadata a list", mutate: (s) => (s.metadata = []), skipped: "metadata" },
    { name: "name a number", mutate: (s) => (s.metadata.name = 7), skipped: "metadata.name" },
    {
      name: "clusterIP a number",
      mutate: (s) => {
        s.spec.clusterIP = 167772170;
        delete s.spec.clusterIPs;
      },
      skipped: "spec.clusterIP",
    },
    {
      name: "two cluster IPs of one family",
      mutate: (s) => (s.spec.clusterIPs = ["10.96.0.10", "10.96.0.11"]),
      skipped: "spec.clusterIPs",
    },
    {
      name: "port number as a string",
      mutate: (s) => (s.spec.ports[0].port = "80"),
      skipped: "spec.ports[0].port",
    },
    {
      name: "targetPort a boolean",
      mutate: (s) => (s.spec.ports[0].targetPort = true),
      skipped: "spec.ports[0].targetPort",
    },
    {
      name: "targetPort out of range",
      mutate: (s) => (s.spec.ports[0].targetPort = "99999"),
      skipped: "spec.ports[0].targetPort",
    },
    {
      name: "ipFamilies [IPv7]",
      mutate: (s) => (s.spec.ipFamilies = ["IPv7"]),
      ignored: "spec.ipFamilies[0]",
      kept: (svc) => assertEquals([svc.ipFamilies, svc.ports.length], [["IPv4"], 2]),
    },
    {
      name: "ipFamilies [IPv7] on a headless service",
      mutate: (s) => {
        s.spec.clusterIP = "None";
        s.spec.clusterIPs = ["None"];
        s.spec.ipFamilies = ["IPv6", "IPv7"];
      },
      ignored: "spec.ipFamilies[1]",
      kept: (svc) => assertEquals([svc.headless, svc.ipFamilies], [true, ["IPv6"]]),
    },
    {
      name: "a negative affinity timeout",
      mutate: (s) => (s.spec.sessionAffinityConfig.clientIP.timeoutSeconds = -5),
      ignored: "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
      kept: (svc) =>
        assertEquals([svc.sessionAffinity, svc.sessionAffinityTimeoutSeconds], ["ClientIP", 10800]),
    },
    {
      name: "an affinity timeout over a day",
      mutate: (s) => (s.spec.sessionAffinityConfig.clientIP.timeoutSeconds = 86401),
      ignored: "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
      kept: (svc) => assertEquals(svc.sessionAffinityTimeoutSeconds, 10800),
    },
    {
      name: "an unknown session affinity",
      mutate: (s) => (s.spec.sessionAffinity = "Sticky"),
      ignored: "spec.sessionAffinity",
      kept: (svc) => assertEquals(svc.sessionAffinity, "None"),
    },
    {
      name: "an unknown traffic policy",
      mutate: (s) => (s.spec.externalTrafficPolicy = "Local\n-j ACCEPT"),
      ignored: "spec.externalTrafficPolicy",
      kept: (svc) => assertEquals(svc.externalTrafficPolicy, "Cluster"),
    },
    {
      name: "duplicate ports (same port and protocol)",
      mutate: (s) => s.spec.ports.push({ name: "http-alt", protocol: "TCP", port: 80 }),
      ignored: "spec.ports[2]",
      kept: (svc) => assertEquals(svc.ports.map((p) => p.name), ["http", "dns"]),
    },
    {
      name: "duplicate ports (same name)",
      mutate: (s) => s.spec.ports.push({ name: "http", protocol: "TCP", port: 81 }),
      ignored: "spec.ports[2].name",
      kept: (svc) => assertEquals(svc.ports.map((p) => p.port), [80, 53]),
    },
    {
      name: "externalIPs as a string",
      mutate: (s) => (s.spec.externalIPs = "1.2.3.4"),
      ignored: "spec.externalIPs",
      kept: (svc) => assertEquals([svc.externalIPs, svc.clusterIPs], [[], ["10.96.0.10"]]),
    },
    {
      name: "publishNotReadyAddresses a string",
      mutate: (s) => (s.spec.publishNotReadyAddresses = "true"),
      ignored: "spec.publishNotReadyAddresses",
      kept: (svc) => assertEquals(svc.publishNotReadyAddresses, false),
    },
    {
      name: "an appProtocol with a space",
      mutate: (s) => (s.spec.ports[0].appProtocol = "http 2"),
      ignored: "spec.ports[0].appProtocol",
      kept: (svc) => assertEquals(svc.ports[0].appProtocol, undefined),
    },
    // Names that would change the text of a rule (issue 14, item 1).
    {
      name: "a name with a quote and a newline",
      mutate: (s) => (s.metadata.name = 'web"\n-A KUBE-SERVICES -p tcp --dport 443 -j DNAT'),
      skipped: "metadata.name",
    },
    {
      name: "a name with -j",
      mutate: (s) => (s.metadata.name = 'x" -j DROP'),
      skipped: "metadata.name",
    },
    {
      name: "a name in capitals",
      mutate: (s) => (s.metadata.name = "Web"),
      skipped: "metadata.name",
    },
    {
      name: "a name starting with a digit (DNS-1035)",
      mutate: (s) => (s.metadata.name = "1web"),
      skipped: "metadata.name",
    },
    {
      name: "a name of 64 characters",
      mutate: (s) => (s.metadata.name = "a".repeat(64)),
      skipped: "metadata.name",
    },
    {
      name: "a namespace with a space",
      mutate: (s) => (s.metadata.namespace = "demo prod"),
      skipped: "metadata.namespace",
    },
    {
      name: "no namespace",
      mutate: (s) => delete s.metadata.namespace,
      skipped: "metadata.namespace",
    },
    {
      name: "a port name with a quote and -j",
      mutate: (s) => (s.spec.ports[1].name = 'dns" -j ACCEPT'),
      skipped: "spec.ports[1].name",
    },
    {
      name: "a port name with a newline",
      mutate: (s) => (s.spec.ports[0].name = "http\n"),
      skipped: "spec.ports[0].name",
    },
    {
      name: "a second port without a name",
      mutate: (s) => delete s.spec.ports[1].name,
      skipped: "spec.ports[1].name",
    },
    {
      name: "a protocol with a rule in it",
      mutate: (s) => (s.spec.ports[0].protocol = "TCP -j ACCEPT"),
      skipped: "spec.ports[0].protocol",
    },
    {
      name: "a lowercase protocol",
      mutate: (s) => (s.spec.ports[0].protocol = "tcp"),
      skipped: "spec.ports[0].protocol",
    },
    {
      name: "a targetPort name that is not an IANA service name",
      mutate: (s) => (s.spec.ports[1].targetPort = "dns;x"),
      skipped: "spec.ports[1].targetPort",
    },
    {
      name: "a label key with a space",
      mutate: (s) => (s.metadata.labels["a b"] = "x"),
      skipped: "metadata.labels",
    },
    {
      name: "a label value with a newline",
      mutate: (s) => (s.metadata.labels.app = "web\n"),
      skipped: 'metadata.labels["app"]',
    },
    {
      name: "an ExternalName that is not a DNS name",
      mutate: (s) => (s.spec = { type: "ExternalName", externalName: "a b.example" }),
      skipped: "spec.externalName",
    },
  ]);
});

Deno.test("toEndpointSlice() skips or trims wrongly typed and invalid slices, naming the field", () => {
  runTable<EndpointSlice>("EndpointSlice", toEndpointSlice, rawSlice, [
    { name: "endpoints a string", mutate: (s) => (s.endpoints = "10.0.0.1"), skipped: "endpoints" },
    { name: "endpoints an object", mutate: (s) => (s.endpoints = {}), skipped: "endpoints" },
    {
      name: "an endpoint a string",
      mutate: (s) => (s.endpoints[1] = "x"),
      skipped: "endpoints[1]",
    },
    {
      name: "addresses a string",
      mutate: (s) => (s.endpoints[0].addresses = "10.0.0.1"),
      skipped: "endpoints[0].addresses",
    },
    { name: "ports an object", mutate: (s) => (s.ports = { port: 80 }), skipped: "ports" },
    {
      name: "a port name with a quote",
      mutate: (s) => (s.ports[0].name = 'http"'),
      skipped: "ports[0].name",
    },
    {
      name: "a protocol with a space",
      mutate: (s) => (s.ports[0].protocol = "TCP "),
      skipped: "ports[0].protocol",
    },
    {
      name: "a name in capitals",
      mutate: (s) => (s.metadata.name = "Web-abc"),
      skipped: "metadata.name",
    },
    {
      name: "a namespace with a space",
      mutate: (s) => (s.metadata.namespace = "de mo"),
      skipped: "metadata.namespace",
    },
    {
      name: "labels as a list",
      mutate: (s) => (s.metadata.labels = ["kubernetes.io/service-name=web"]),
      skipped: "metadata.labels",
    },
    {
      name: "an endpoint without addresses",
      mutate: (s) => (s.endpoints[0].addresses = []),
      ignored: "endpoints[0].addresses",
      kept: (slice) => assertEquals(slice.endpoints.map((e) => e.addresses), [["10.0.0.2"]]),
    },
    {
      name: "an endpoint with addresses null",
      mutate: (s) => (s.endpoints[1].addresses = null),
      ignored: "endpoints[1].addresses",
      kept: (slice) => assertEquals(slice.endpoints.map((e) => e.addresses), [["10.0.0.1"]]),
    },
    {
      name: "duplicate port names",
      mutate: (s) => s.ports.push({ name: "http", protocol: "TCP", port: 8081 }),
      ignored: "ports[1].name",
      kept: (slice) => assertEquals(slice.ports.map((p) => p.port), [8080]),
    },
    {
      name: "a hostname with a dot",
      mutate: (s) => (s.endpoints[0].hostname = "web.evil"),
      ignored: "endpoints[0].hostname",
      kept: (slice) =>
        assertEquals([slice.endpoints[0].hostname, slice.endpoints[0].nodeName], ["", "node-1"]),
    },
    {
      name: "a node name with a space",
      mutate: (s) => (s.endpoints[0].nodeName = "node 1"),
      ignored: "endpoints[0].nodeName",
      kept: (slice) => assertEquals([slice.endpoints[0].nodeName, slice.endpoints.length], ["", 2]),
    },
    {
      name: "ready as a string",
      mutate: (s) => (s.endpoints[1].conditions.ready = "false"),
      ignored: "endpoints[1].conditions.ready",
      kept: (slice) => assertEquals(slice.endpoints[1].ready, true),
    },
    {
      name: "hints.forZones a string",
      mutate: (s) => (s.endpoints[0].hints = { forZones: "a" }),
      ignored: "endpoints[0].hints.forZones",
      kept: (slice) => assertEquals(slice.endpoints[0].hints, { forZones: [], forNodes: [] }),
    },
  ]);
});

Deno.test("toEndpointSlice() takes endpoints: null as no endpoints, without a log line", () => {
  // The API server encodes an EndpointSlice without endpoints as `"endpoints": null`.
  const lines = captureLog();
  const slice = toEndpointSlice({ ...rawSlice(), endpoints: null });
  assertEquals(slice?.endpoints, []);
  assertEquals(slice?.ports.length, 1);
  assertEquals(lines, []);
});

Deno.test("toNode() and toNamespace() skip invalid names and wrong types, naming the field", () => {
  runTable<Node>("Node", toNode, rawNode, [
    {
      name: "a name with a space",
      mutate: (n) => (n.metadata.name = "node 1"),
      skipped: "metadata.name",
    },
    {
      name: "labels as a list",
      mutate: (n) => (n.metadata.labels = ["a"]),
      skipped: "metadata.labels",
    },
    { name: "spec a string", mutate: (n) => (n.spec = "x"), skipped: "spec" },
    {
      name: "podCIDRs a string",
      mutate: (n) => (n.spec.podCIDRs = "10.0.0.0/8"),
      skipped: "spec.podCIDRs",
    },
    {
      name: "status.addresses an object",
      mutate: (n) => (n.status.addresses = { type: "InternalIP" }),
      ignored: "status.addresses",
      kept: (node) => assertEquals([node.addresses, node.podCIDRs], [[], ["10.244.1.0/24"]]),
    },
  ]);
  runTable("Namespace", toNamespace, () => ({ metadata: { name: "demo" } }), [
    {
      name: "a name with a space",
      mutate: (n) => (n.metadata.name = "de mo"),
      skipped: "metadata.name",
    },
    { name: "a dotted name", mutate: (n) => (n.metadata.name = "a.b"), skipped: "metadata.name" },
  ]);
});

Deno.test("a valid object logs nothing and keeps every part", () => {
  const lines = captureLog();
  const svc = toService(rawService())!;
  assertEquals(svc.ports.map((p) => [p.name, p.protocol, p.port, p.targetPort]), [
    ["http", "TCP", 80, 8080],
    ["dns", "UDP", 53, "dns"],
  ]);
  assertEquals(svc.sessionAffinityTimeoutSeconds, 300);
  const slice = toEndpointSlice(rawSlice())!;
  assertEquals(slice.endpoints.map((e) => [e.addresses[0], e.hostname, e.ready]), [
    ["10.0.0.1", "web-0", true],
    ["10.0.0.2", "", false],
  ]);
  assert(toNode(rawNode()) !== undefined);
  assertEquals(lines, []);
});

Deno.test("ignored parts of one object make one log line of bounded length", () => {
  const lines = captureLog();
  const raw = rawSlice();
  for (let i = 0; i < 1000; i++) raw.endpoints.push({ addresses: [] });
  const slice = toEndpointSlice(raw)!;
  assertEquals(slice.endpoints.length, 2);
  assertEquals(lines.length, 1);
  assertStringIncludes(lines[0], 'ignored="endpoints[2].addresses: empty');
  assertStringIncludes(lines[0], "(and 990 more)");
  assert(lines[0].length < 2000, `${lines[0].length} characters`);
});

Deno.test("a skipped object's log line quotes the hostile name on one line", () => {
  const lines = captureLog();
  const raw = rawService();
  raw.metadata.name = 'web"\n-A KUBE-SERVICES -j DNAT';
  assertEquals(toService(raw), undefined);
  assertEquals(lines.length, 1);
  assert(!lines[0].includes("\n"), lines[0]);
  assertStringIncludes(lines[0], 'service="demo/web\\"\\n-A KUBE-SERVICES -j DNAT"');
});
