import { assertEquals, assertThrows } from "../assert.ts";
import { ServiceAllocator } from "./allocator.ts";
import type { RawObject } from "./errors.ts";

function svc(name: string, spec: RawObject): RawObject {
  return { metadata: { name }, spec: { type: "ClusterIP", ...spec } };
}

Deno.test("ServiceAllocator hands out the dynamic band first, then wraps, and never a held value", () => {
  // A /24 keeps its lowest 16 addresses for fixed requests: the first dynamic one is .17.
  const big = new ServiceAllocator("10.1.0.0/24");
  const first = svc("first", {});
  big.assign("default/first", first, undefined, true);
  assertEquals(first.spec.clusterIP, "10.1.0.17");
  // A /28: 14 usable addresses, a static band of 16 covers them all, so allocation starts at the
  // end of the range and wraps to its start.
  const alloc = new ServiceAllocator("10.0.0.0/28", [30000, 30003]);
  const ips: string[] = [];
  for (let i = 0; i < 14; i++) {
    const s = svc(`s${i}`, {});
    alloc.assign(`default/s${i}`, s, undefined, true);
    alloc.record(`default/s${i}`, s.spec, undefined);
    ips.push(String(s.spec.clusterIP));
  }
  assertEquals(new Set(ips).size, 14);
  assertEquals(
    ips.includes("10.0.0.0") || ips.includes("10.0.0.15"),
    false,
    "no network/broadcast",
  );
  assertThrows(() => alloc.assign("default/full", svc("full", {}), undefined, true), Error, "full");
  alloc.record("default/s3", undefined, { clusterIP: ips[3], clusterIPs: [ips[3]] });
  const again = svc("again", {});
  alloc.assign("default/again", again, undefined, true);
  assertEquals(again.spec.clusterIP, ips[3], "the released address");
});

Deno.test("ServiceAllocator keeps a Service's own values on update and refuses others' when strict", () => {
  const alloc = new ServiceAllocator();
  const a = svc("a", { type: "NodePort", ports: [{ port: 80 }] });
  alloc.assign("default/a", a, undefined, true);
  alloc.record("default/a", a.spec, undefined);
  const held = a.spec;
  const update = svc("a", { type: "NodePort", ports: [{ port: 80 }] });
  alloc.assign("default/a", update, a, true);
  assertEquals(update.spec, a.spec, "the same IP and node port on update");
  const b = svc("b", { clusterIP: held.clusterIP });
  assertThrows(() => alloc.assign("default/b", b, undefined, true), Error, "already allocated");
  const c = svc("c", { type: "NodePort", ports: [{ port: 1, nodePort: held.ports[0].nodePort }] });
  assertThrows(() => alloc.assign("default/c", c, undefined, true), Error, "nodePort");
  alloc.assign("default/c", c, undefined, false); // the in-process apply accepts it
  const lb = svc("lb", { type: "LoadBalancer", externalTrafficPolicy: "Local", ports: [] });
  alloc.assign("default/lb", lb, undefined, true);
  assertEquals(typeof lb.spec.healthCheckNodePort, "number");
});
