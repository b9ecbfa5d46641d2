import { assertEquals, assertThrows } from "../assert.ts";
import { jsonPatch, mergePatch, strategicMerge } from "./patch.ts";

Deno.test("strategicMerge merges keyed lists and follows kubectl's directives", () => {
  const svc = {
    kind: "Service",
    metadata: { labels: { a: "1", b: "2" }, finalizers: ["x"] },
    spec: {
      ports: [{ port: 80, name: "http" }, { port: 443, name: "https" }],
      externalIPs: ["1.2.3.4"],
    },
  };
  const out = strategicMerge("Service", svc, {
    metadata: { labels: { b: null, c: "3" }, finalizers: ["y"] },
    spec: {
      "$setElementOrder/ports": [{ port: 8080 }, { port: 80 }],
      ports: [{ port: 8080, name: "alt" }, { port: 443, $patch: "delete" }, {
        port: 80,
        targetPort: 9,
      }],
      externalIPs: ["5.6.7.8"],
    },
  });
  assertEquals(out.metadata, { labels: { a: "1", c: "3" }, finalizers: ["x", "y"] });
  assertEquals(out.spec.ports, [{ port: 8080, name: "alt" }, {
    port: 80,
    name: "http",
    targetPort: 9,
  }]);
  assertEquals(out.spec.externalIPs, ["5.6.7.8"], "lists without a merge key are replaced");
  assertEquals(svc.spec.ports.length, 2, "the original is not changed");
  const replaced = strategicMerge("Service", svc, { spec: { $patch: "replace", type: "X" } });
  assertEquals(replaced.spec, { type: "X" });
  const retained = strategicMerge("Service", svc, {
    spec: { $retainKeys: ["ports"], ports: [{ port: 80 }] },
  });
  assertEquals(Object.keys(retained.spec), ["ports"]);
  const pod = strategicMerge("Pod", { spec: { containers: [{ name: "c", image: "a" }] } }, {
    spec: { containers: [{ name: "c", image: "b" }] },
  });
  assertEquals(pod.spec.containers, [{ name: "c", image: "b" }]);
});

Deno.test("mergePatch and jsonPatch follow RFC 7386 and RFC 6902", () => {
  assertEquals(mergePatch({ a: { b: 1, c: 2 }, d: [1] }, { a: { b: null }, d: [2] }), {
    a: { c: 2 },
    d: [2],
  });
  const doc = { a: { b: [1, 2] }, c: "x" };
  assertEquals(
    jsonPatch(doc, [
      { op: "add", path: "/a/b/-", value: 3 },
      { op: "add", path: "/a/b/0", value: 0 },
      { op: "remove", path: "/c" },
      { op: "copy", from: "/a/b", path: "/d" },
      { op: "move", from: "/d", path: "/e~1f" },
      { op: "test", path: "/a/b/1", value: 1 },
    ]),
    { a: { b: [0, 1, 2, 3] }, "e/f": [0, 1, 2, 3] },
  );
  assertThrows(() => jsonPatch(doc, [{ op: "test", path: "/c", value: "y" }]), Error, "test");
  assertThrows(() => jsonPatch(doc, [{ op: "replace", path: "/zz", value: 1 }]), Error);
});
