import { assert, assertEquals, assertStringIncludes } from "../tests/assert.ts";
import {
  DNS1035_LABEL,
  DNS1123_LABEL,
  DNS1123_SUBDOMAIN,
  IANA_SVC_NAME,
  LABEL_VALUE,
  labelsProblem,
  nameProblem,
  type NameRule,
  QUALIFIED_NAME,
  shown,
} from "./validation.ts";

/** Strings every rule refuses: the bytes of an injection attempt. */
const HOSTILE = [
  "",
  "a b",
  'a"b',
  "a'b",
  "a\nb",
  "a\tb",
  "a;b",
  "a}b",
  "-j",
  "a -j DNAT",
  "é",
  "a\u0000b",
  "a\u2028b",
  "web\n",
];

const CASES: [string, NameRule, string[], string[]][] = [
  [
    "DNS1123_LABEL",
    DNS1123_LABEL,
    ["a", "0", "web", "my-svc-1", "1abc", "a".repeat(63)],
    ["A", "web.x", "-web", "web-", "my_svc", "a".repeat(64)],
  ],
  [
    "DNS1123_SUBDOMAIN",
    DNS1123_SUBDOMAIN,
    ["a", "node-1.example.com", "1.2.3.4", `${"a".repeat(63)}.${"b".repeat(63)}`],
    ["Node1", "a..b", ".a", "a.", "a_b", "a.-b", `${"a.".repeat(126)}ab`],
  ],
  [
    "DNS1035_LABEL",
    DNS1035_LABEL,
    ["a", "web", "my-svc-1", "a".repeat(63)],
    ["1abc", "0", "Web", "-web", "web-", "a".repeat(64)],
  ],
  [
    "IANA_SVC_NAME",
    IANA_SVC_NAME,
    ["http", "dns-tcp", "h2c", "a".repeat(15), "1a"],
    ["123", "a--b", "-http", "http-", "Http", "a".repeat(16), "web.x"],
  ],
  [
    "QUALIFIED_NAME",
    QUALIFIED_NAME,
    ["app", "App_1.x", "kubernetes.io/service-name", "example.com/A", "a".repeat(63)],
    ["/x", "x/", "Example.com/x", "a/b/c", "_a", "a_", "a".repeat(64)],
  ],
  [
    "LABEL_VALUE",
    LABEL_VALUE,
    ["", "web", "Web_1.x-y", "a".repeat(63)],
    ["_a", "a_", "a/b", "a".repeat(64)],
  ],
];

Deno.test("name rules accept Kubernetes' valid names and refuse the rest", () => {
  for (const [ruleName, rule, valid, invalid] of CASES) {
    for (const s of valid) assert(rule.test(s), `${ruleName} should accept ${JSON.stringify(s)}`);
    for (const s of valid) {
      // shared(): the first copy seen, then that same copy for an equal string.
      const first = rule.shared(s.split("").join(""));
      assertEquals(first, s, `${ruleName} shared ${JSON.stringify(s)}`);
      assert(rule.shared(s.split("").join("")) === first);
    }
    for (const s of [...invalid, ...HOSTILE]) {
      if (ruleName === "LABEL_VALUE" && s === "") continue; // an empty label value is valid
      assert(!rule.test(s), `${ruleName} should refuse ${JSON.stringify(s)}`);
      assertEquals(rule.shared(s), undefined, `${ruleName} should not share ${JSON.stringify(s)}`);
    }
  }
});

Deno.test("nameProblem() says what is wrong and what the rule wants", () => {
  assertEquals(nameProblem("web", DNS1123_LABEL), undefined);
  assertEquals(nameProblem(7, DNS1123_LABEL), "not a string: 7");
  const problem = nameProblem('a"\nb', DNS1123_LABEL)!;
  assertStringIncludes(problem, 'invalid "a\\"\\nb"');
  assertStringIncludes(problem, "DNS-1123 label");
});

Deno.test("labelsProblem() checks the map, each key and each value", () => {
  assertEquals(labelsProblem(undefined), undefined);
  assertEquals(labelsProblem(null), undefined);
  assertEquals(
    labelsProblem({ app: "web", "kubernetes.io/service-name": "web", x: "" }),
    undefined,
  );
  assertEquals(labelsProblem(["app=web"])?.field, "metadata.labels");
  assertStringIncludes(labelsProblem(["app=web"])!.problem, "not a map");
  assertEquals(labelsProblem("app=web")?.field, "metadata.labels");
  const badKey = labelsProblem({ app: "web", "a b": "x" })!;
  assertEquals(badKey.field, "metadata.labels");
  assertStringIncludes(badKey.problem, 'invalid key "a b"');
  assertEquals(labelsProblem({ app: "a\nb" })?.field, 'metadata.labels["app"]');
  assertEquals(labelsProblem({ app: 3 })?.problem, "not a string: 3");
});

Deno.test("shown() quotes and cuts long values", () => {
  assertEquals(shown("a\nb"), '"a\\nb"');
  assertEquals(shown(undefined), "undefined");
  assertEquals(shown({ a: 1 }), '{"a":1}');
  const long = shown("x".repeat(1000));
  assertEquals(long.length, 64 + 3);
  assert(long.endsWith("..."));
});
