import { assertEquals } from "../tests/assert.ts";
import { ServiceCIDRTracker, toServiceCIDR } from "./service_cidr.ts";

Deno.test("toServiceCIDR() trims the object and drops invalid CIDRs", () => {
  assertEquals(
    toServiceCIDR({
      metadata: { name: "kubernetes", resourceVersion: "7", uid: "x" },
      spec: { cidrs: ["10.96.0.7/12", "bogus", 5, "fd00::/108"] },
      status: { conditions: [] },
    }),
    { name: "kubernetes", resourceVersion: "7", cidrs: ["10.96.0.0/12", "fd00::/108"] },
  );
  assertEquals(toServiceCIDR({ spec: { cidrs: ["10.0.0.0/8"] } }), undefined);
  assertEquals(toServiceCIDR({ metadata: { name: "a" } })?.cidrs, []);
});

Deno.test("ServiceCIDRTracker reports the union once listed, and unknown when unavailable", () => {
  const seen: Array<readonly string[] | undefined> = [];
  const t = new ServiceCIDRTracker((c) => seen.push(c));
  const a = { name: "a", resourceVersion: "1", cidrs: ["10.96.0.0/16"] };
  const b = { name: "b", resourceVersion: "1", cidrs: ["10.97.0.0/16", "10.96.0.0/16"] };
  t.onServiceCIDRAdd(a);
  assertEquals(seen, [], "nothing before the first list");
  t.onServiceCIDRAdd(b);
  t.onServiceCIDRsSynced();
  t.onServiceCIDRUpdate(b, { ...b, resourceVersion: "2" });
  t.onServiceCIDRDelete(a); // b still holds both: no change
  t.onServiceCIDRDelete(b);
  t.onServiceCIDRsUnavailable();
  t.onServiceCIDRsUnavailable();
  assertEquals(seen, [["10.96.0.0/16", "10.97.0.0/16"], [], undefined]);
});
