import { assertEquals, assertThrows } from "../tests/assert.ts";
import {
  defined,
  InvalidObject,
  listAt,
  nameAt,
  objectAt,
  partBooleanAt,
  partEnumAt,
  partNameAt,
  partsAt,
  stringAt,
} from "./raw_fields.ts";
import { DNS1123_LABEL } from "./validation.ts";

function fieldOf(fn: () => unknown): string {
  const err = assertThrows(fn, InvalidObject) as InvalidObject;
  return err.field;
}

Deno.test("readers of whole-object fields return the value or throw naming the path", () => {
  assertEquals(objectAt({ a: 1 }, "spec"), { a: 1 });
  assertEquals(objectAt(null, "spec"), undefined);
  assertEquals(fieldOf(() => objectAt("x", "spec")), "spec");
  assertEquals(
    fieldOf(() => objectAt([], "endpoints[2]", ".conditions")),
    "endpoints[2].conditions",
  );
  assertEquals(listAt(null, "endpoints"), []);
  assertEquals(listAt([1], "endpoints"), [1]);
  assertEquals(fieldOf(() => listAt({ port: 80 }, "spec.ports")), "spec.ports");
  assertEquals(stringAt(undefined, "spec.type"), "");
  assertEquals(fieldOf(() => stringAt(7, "spec.type")), "spec.type");
  assertEquals(nameAt("web", DNS1123_LABEL, "metadata.name"), "web");
  assertEquals(nameAt(undefined, DNS1123_LABEL, "metadata.name"), "");
  assertEquals(
    fieldOf(() => nameAt("a b", DNS1123_LABEL, "spec.ports[0]", ".name")),
    "spec.ports[0].name",
  );
});

Deno.test("readers of parts note what they leave out and return the default", () => {
  const dropped: string[] = [];
  assertEquals(partsAt("1.2.3.4", "spec.externalIPs", dropped), []);
  assertEquals(partNameAt("node 1", DNS1123_LABEL, dropped, "endpoints[0]", ".nodeName"), "");
  assertEquals(partNameAt("node-1", DNS1123_LABEL, dropped, "endpoints[0]", ".nodeName"), "node-1");
  assertEquals(
    partEnumAt("Sticky", "spec.sessionAffinity", ["None", "ClientIP"], "None", dropped),
    "None",
  );
  assertEquals(
    partEnumAt("ClientIP", "spec.sessionAffinity", ["None", "ClientIP"], "None", dropped),
    "ClientIP",
  );
  assertEquals(partBooleanAt("true", dropped, "endpoints[1]", ".conditions.ready"), undefined);
  assertEquals(partBooleanAt(false, dropped, "endpoints[1]", ".conditions.ready"), false);
  assertEquals(dropped.map((d) => d.split(":")[0]), [
    "spec.externalIPs",
    "endpoints[0].nodeName",
    "spec.sessionAffinity",
    "endpoints[1].conditions.ready",
  ]);
});

Deno.test("defined() drops undefined entries and keeps a list without any as it is", () => {
  const full = [1, 2];
  assertEquals(defined(full) === full, true);
  assertEquals(defined([1, undefined, 3]), [1, 3]);
});
