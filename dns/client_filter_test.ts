import { assertEquals } from "../tests/assert.ts";
import type { Node } from "../cache/objects.ts";
import { ClientFilter } from "./client_filter.ts";

function node(podCIDRs: string[], addresses: string[]): Node {
  return { name: "node1", resourceVersion: "1", labels: {}, podCIDRs, addresses };
}

Deno.test("ClientFilter allows the cluster CIDRs, allowedClients and loopback, and no one else", () => {
  const filter = new ClientFilter({
    clusterCIDRs: ["10.244.0.0/16", " fd00:10:244::/56"],
    allowedClients: ["192.0.2.0/24"],
  });
  const allowed = ["10.244.7.9", "fd00:10:244::5", "192.0.2.200", "127.0.0.1", "127.1.2.3", "::1"];
  const refused = ["10.245.0.1", "198.51.100.1", "fd00:10:245::1", "8.8.8.8", "", "not-an-ip"];
  assertEquals(allowed.map((a) => filter.allows(a)), allowed.map(() => true));
  assertEquals(refused.map((a) => filter.allows(a)), refused.map(() => false));
  // A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6 addresses.
  assertEquals(filter.allows("::ffff:10.244.1.1"), true);
  assertEquals(filter.allows("::ffff:198.51.100.1"), false);
});

Deno.test("ClientFilter follows the Node's podCIDRs and addresses, and the local addresses", () => {
  const filter = new ClientFilter({ clusterCIDRs: [], allowedClients: [] });
  assertEquals(filter.allows("10.10.1.5"), false); // remembered as refused ...
  filter.onNodeAdd(node(["10.10.1.0/24"], ["172.18.0.2"]));
  assertEquals(filter.allows("10.10.1.5"), true); // ... until the rules change
  assertEquals(filter.allows("172.18.0.2"), true);
  assertEquals(filter.allows("172.18.0.3"), false);
  filter.onNodeUpdate(node(["10.10.1.0/24"], ["172.18.0.2"]), node(["10.10.2.0/24"], []));
  assertEquals([filter.allows("10.10.1.5"), filter.allows("10.10.2.5")], [false, true]);
  assertEquals(filter.allows("172.18.0.2"), false);
  filter.setLocalAddresses(["172.18.0.9", "fd00::9"]);
  assertEquals([filter.allows("172.18.0.9"), filter.allows("fd00:0::9")], [true, true]);
  filter.onNodeDelete(node(["10.10.2.0/24"], []));
  assertEquals([filter.allows("10.10.2.5"), filter.allows("172.18.0.9")], [false, true]);
});
