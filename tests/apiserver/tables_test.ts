import { assertEquals } from "../assert.ts";
import { humanAge, toTable, wantsTable } from "./tables.ts";

Deno.test("humanAge prints ages as kubectl does", () => {
  assertEquals([5, 119, 125, 600, 7200, 9000, 18060, 86400, 90000, 864000].map(humanAge), [
    "5s",
    "119s",
    "2m5s",
    "10m",
    "120m",
    "150m",
    "5h1m",
    "24h",
    "25h",
    "10d",
  ]);
});

Deno.test("toTable prints Service, Pod and EndpointSlice columns; wantsTable reads Accept", () => {
  assertEquals(wantsTable("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"), true);
  assertEquals(wantsTable("application/json"), false);
  const svc = {
    metadata: { name: "web" },
    spec: {
      type: "NodePort",
      clusterIP: "10.96.0.5",
      ports: [{ port: 80, nodePort: 30080, protocol: "TCP" }, { port: 53, protocol: "UDP" }],
      selector: { app: "web" },
    },
  };
  const t = toTable("Service", [svc], { resourceVersion: "7" }, "None");
  assertEquals(t.rows[0].cells.slice(0, 5), [
    "web",
    "NodePort",
    "10.96.0.5",
    "<none>",
    "80:30080/TCP,53/UDP",
  ]);
  assertEquals(t.rows[0].cells[6], "app=web");
  assertEquals(t.rows[0].object, undefined);
  const pod = {
    metadata: { name: "db-0" },
    spec: { nodeName: "node2", containers: [{ name: "c" }] },
    status: {
      phase: "Running",
      podIP: "10.244.2.2",
      conditions: [{ type: "Ready", status: "True" }],
    },
  };
  const p = toTable("Pod", [pod], {}, "Object");
  assertEquals(p.rows[0].cells.filter((_: unknown, i: number) => i !== 4), [
    "db-0",
    "1/1",
    "Running",
    0,
    "10.244.2.2",
    "node2",
  ]);
  assertEquals(p.rows[0].object, pod);
  const slice = { metadata: { name: "db-x" }, addressType: "IPv4", ports: [{ port: 8080 }] };
  assertEquals(toTable("EndpointSlice", [slice], {}).rows[0].cells.slice(0, 4), [
    "db-x",
    "IPv4",
    "8080",
    "<none>",
  ]);
});
