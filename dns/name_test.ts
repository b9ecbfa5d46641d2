import { assertEquals } from "../tests/assert.ts";
import { parseQueryName } from "./name.ts";

const Z = "cluster.local";

Deno.test("parseQueryName() reads every shape of the grammar", () => {
  const rows: [string, unknown][] = [
    ["cluster.local", { kind: "apex" }],
    ["dns-version.cluster.local", { kind: "dns-version" }],
    ["ns.dns.cluster.local", { kind: "default-ns" }],
    ["svc.cluster.local", { kind: "empty-non-terminal" }],
    ["pod.cluster.local", { kind: "empty-non-terminal" }],
    ["ns1.svc.cluster.local", { kind: "namespace", namespace: "ns1", under: "svc" }],
    ["ns1.pod.cluster.local", { kind: "namespace", namespace: "ns1", under: "pod" }],
    ["web.ns1.svc.cluster.local", { kind: "service", namespace: "ns1", service: "web" }],
    ["web-0.web.ns1.svc.cluster.local", {
      kind: "endpoint",
      namespace: "ns1",
      service: "web",
      endpoint: "web-0",
    }],
    ["_http._tcp.web.ns1.svc.cluster.local", {
      kind: "port",
      namespace: "ns1",
      service: "web",
      port: "http",
      protocol: "tcp",
    }],
    ["http.tcp.web.ns1.svc.cluster.local", {
      kind: "port",
      namespace: "ns1",
      service: "web",
      port: "http",
      protocol: "tcp",
    }],
    ["1-2-3-4.ns1.pod.cluster.local", { kind: "pod", namespace: "ns1", podLabel: "1-2-3-4" }],
    ["a.b.c.web.ns1.svc.cluster.local", { kind: "invalid" }],
    // CoreDNS reads one or two labels left of a pod label as endpoint or port/protocol and
    // then ignores them: the name answers as the pod label does.
    ["a.1-2-3-4.ns1.pod.cluster.local", { kind: "pod", namespace: "ns1", podLabel: "1-2-3-4" }],
    ["_a._b.1-2-3-4.ns1.pod.cluster.local", {
      kind: "pod",
      namespace: "ns1",
      podLabel: "1-2-3-4",
    }],
    ["a.b.c.1-2-3-4.ns1.pod.cluster.local", { kind: "invalid" }],
    ["foo.cluster.local", { kind: "invalid" }],
    ["web.ns1.foo.cluster.local", { kind: "invalid" }],
    ["dns.cluster.local", { kind: "invalid" }],
  ];
  for (const [name, want] of rows) assertEquals(parseQueryName(name, Z), want, name);
});

Deno.test("parseQueryName() returns undefined outside the zone", () => {
  for (const name of ["", "local", "example.com", "xcluster.local", "cluster.local.example"]) {
    assertEquals(parseQueryName(name, Z), undefined, name);
  }
});
