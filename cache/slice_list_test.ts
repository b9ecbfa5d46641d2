import { assert, assertEquals } from "../tests/assert.ts";
import type { EndpointSlice } from "./objects.ts";
import { NO_SLICES, withoutSlice, withSlice } from "./slice_list.ts";

function slice(name: string, rv = "1"): EndpointSlice {
  return {
    namespace: "ns",
    name,
    resourceVersion: rv,
    serviceName: "svc",
    addressType: "IPv4",
    ports: [],
    endpoints: [],
  };
}

Deno.test("withSlice() replaces a slice of the same name in place and appends new ones", () => {
  const a = slice("a"), b = slice("b"), a2 = slice("a", "2");
  const one = withSlice(undefined, a);
  const two = withSlice(one, b);
  const three = withSlice(two, a2);
  assertEquals(one, [a]);
  assertEquals(two.map((s) => s.name), ["a", "b"]);
  assert(three[0] === a2 && three[1] === b);
  assert(two[0] === a, "the earlier list is unchanged");
  assert(Object.isFrozen(three));
});

Deno.test("withoutSlice() removes by name and returns the same list when absent", () => {
  const a = slice("a"), b = slice("b");
  const both = withSlice(withSlice(undefined, a), b);
  assertEquals(withoutSlice(both, "a"), [b]);
  assert(withoutSlice(both, "c") === both);
  assert(withoutSlice(withoutSlice(both, "a"), "b") === NO_SLICES);
  assertEquals(both.length, 2);
});
