import { assert, assertEquals } from "../../tests/assert.ts";
import {
  affinitySetNameOf,
  chainNameOf,
  endpointBase,
  isServiceChainName,
  nftComment,
  servicePortBase,
} from "./names.ts";

Deno.test("chainNameOf() gives upstream's names (hashes from upstream's goldens)", () => {
  assertEquals(chainNameOf("service-", "ns1/svc1/tcp/p80"), "service-ULMVA6XW-ns1/svc1/tcp/p80");
  assertEquals(
    chainNameOf(
      "endpoint-",
      endpointBase(servicePortBase("ns1", "svc1", "tcp", "p80"), "10.180.0.1", 80),
    ),
    "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80",
  );
  assertEquals(
    chainNameOf("affinity-", "ns5/svc5/tcp/p80__10.180.0.3/80"),
    "affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80",
  );
  assertEquals(
    chainNameOf("service-", "default/kubernetes/tcp/https"),
    "service-2QRHZV4L-default/kubernetes/tcp/https",
  );
  assertEquals(endpointBase("a/b/tcp/", "fd00::1", 80), "a/b/tcp/__fd00..1/80");
});

Deno.test("chainNameOf() keeps hostile text out of the identifier and truncates long names", () => {
  const name = chainNameOf("service-", 'ns/a"b;c}\nd/tcp/p');
  assert(/^service-[A-Z2-7]{8}-[A-Za-z0-9/_.-]+$/.test(name), name);
  assert(name !== chainNameOf("service-", "ns/a_b_c__d/tcp/p"));
  const long = chainNameOf("service-", "n/" + "x".repeat(300));
  assertEquals(long.length, "service-".length + 240);
  assert(long.endsWith("..."));
  assert(isServiceChainName(name));
  assert(!isServiceChainName("services"));
});

Deno.test("nftComment() cannot be broken out of", () => {
  assertEquals(nftComment('ns/x";} drop\nadd'), `comment "ns/x';} drop?add"`);
  assertEquals(nftComment("é").length, 'comment "?"'.length);
  assertEquals(nftComment("y".repeat(200)), `comment "${"y".repeat(128)}"`);
});

Deno.test("affinitySetNameOf() is short, shares the endpoint chain's hash, and differs per endpoint", () => {
  const base = endpointBase(servicePortBase("ns5", "svc5", "tcp", "p80"), "10.180.0.3", 80);
  const name = affinitySetNameOf(base);
  assert(/^affinity-[A-Z2-7]{16}$/.test(name), name);
  // The first 8 characters are upstream's hash, as in the endpoint chain's name.
  assert(name.startsWith("affinity-GTK6MW7G"), name);
  assert(chainNameOf("endpoint-", base).startsWith("endpoint-GTK6MW7G-"));
  assert(name !== affinitySetNameOf(endpointBase("ns5/svc5/tcp/p80", "10.180.0.4", 80)));
});
