import { assertEquals } from "../tests/assert.ts";
import { makeNode } from "../tests/fixtures.ts";
import type { Node } from "../cache/objects.ts";
import { bindAddressFamily, nodeAddressesOf, sameNodeAddresses } from "./node_addresses.ts";

function nodeWith(...addresses: string[]): Node {
  return { ...makeNode("node-1"), addresses };
}

Deno.test("bindAddressFamily() names the family of a specific IP only", () => {
  assertEquals(bindAddressFamily("10.0.0.1"), "IPv4");
  assertEquals(bindAddressFamily(" fd00::1 "), "IPv6");
  assertEquals(bindAddressFamily("0.0.0.0"), undefined);
  assertEquals(bindAddressFamily("::"), undefined);
  assertEquals(bindAddressFamily("not-an-ip"), undefined);
});

Deno.test("nodeAddressesOf() takes the Node's first address per family", () => {
  const config = { bindAddress: "0.0.0.0", nodePortAddresses: null };
  const a = nodeAddressesOf(config, nodeWith("10.0.0.5", "10.0.0.6", "fd00::5"));
  assertEquals(a.nodeIPs, { IPv4: "10.0.0.5", IPv6: "fd00::5" });
  assertEquals(nodeAddressesOf(config, nodeWith("10.0.0.7")).nodeIPs, { IPv4: "10.0.0.7" });
  assertEquals(nodeAddressesOf(config, undefined).nodeIPs, {});
  assertEquals(a.nodePortAddresses, [], "nodePortAddresses without primary is left alone");
});

Deno.test("nodeAddressesOf() lets a specific bindAddress win for its family", () => {
  const config = { bindAddress: "192.168.1.9", nodePortAddresses: ["10.0.0.0/8"] };
  assertEquals(nodeAddressesOf(config, undefined).nodeIPs, { IPv4: "192.168.1.9" });
  const a = nodeAddressesOf(config, nodeWith("10.0.0.5", "fd00::5"));
  assertEquals(a.nodeIPs, { IPv4: "192.168.1.9", IPv6: "fd00::5" });
  assertEquals(a.nodePortAddresses, ["10.0.0.0/8"]);
});

Deno.test("nodeAddressesOf() resolves nodePortAddresses primary to the node IPs", () => {
  const config = { bindAddress: "0.0.0.0", nodePortAddresses: ["primary"] };
  assertEquals(
    nodeAddressesOf(config, undefined).nodePortAddresses,
    ["0.0.0.0/32"],
    "matches no address until the node IPs are known",
  );
  assertEquals(
    nodeAddressesOf(config, nodeWith("10.0.0.5", "fd00::5")).nodePortAddresses,
    ["10.0.0.5/32", "fd00::5/128"],
  );
});

Deno.test("sameNodeAddresses() compares the node IPs and the resolved nodePortAddresses", () => {
  const config = { nodePortAddresses: ["primary"] };
  const a = nodeAddressesOf(config, nodeWith("10.0.0.5"));
  assertEquals(sameNodeAddresses(a, nodeAddressesOf(config, nodeWith("10.0.0.5"))), true);
  assertEquals(sameNodeAddresses(a, nodeAddressesOf(config, nodeWith("10.0.0.6"))), false);
  assertEquals(
    sameNodeAddresses(a, nodeAddressesOf(config, nodeWith("10.0.0.5", "fd00::5"))),
    false,
  );
});
