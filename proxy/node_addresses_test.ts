import { assertEquals } from "../tests/assert.ts";
import { makeNode } from "../tests/fixtures.ts";
import type { IPFamily, Node } from "../cache/objects.ts";
import { configureLogging } from "../config/log.ts";
import { bindAddressFamily, trackNodeAddresses } from "./node_addresses.ts";

const logLines: string[] = [];
configureLogging({ write: (line) => logLines.push(line) });

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

Deno.test("trackNodeAddresses() follows the Node's first address per family", () => {
  const nodeIPs: Partial<Record<IPFamily, string>> = {};
  const npa: string[] = [];
  const h = trackNodeAddresses({ bindAddress: "0.0.0.0", nodePortAddresses: null }, nodeIPs, npa);
  h.onNodeAdd(nodeWith("10.0.0.5", "10.0.0.6", "fd00::5"));
  assertEquals(nodeIPs, { IPv4: "10.0.0.5", IPv6: "fd00::5" });
  h.onNodeUpdate(nodeWith("10.0.0.5", "fd00::5"), nodeWith("10.0.0.7"));
  assertEquals(nodeIPs, { IPv4: "10.0.0.7" });
  h.onNodeDelete(nodeWith("10.0.0.7"));
  assertEquals(nodeIPs, {});
  assertEquals(npa, [], "nodePortAddresses without primary is left alone");
});

Deno.test("trackNodeAddresses() lets a specific bindAddress win for its family", () => {
  const nodeIPs: Partial<Record<IPFamily, string>> = {};
  const h = trackNodeAddresses({ bindAddress: "192.168.1.9", nodePortAddresses: [] }, nodeIPs, []);
  assertEquals(nodeIPs, { IPv4: "192.168.1.9" });
  h.onNodeAdd(nodeWith("10.0.0.5", "fd00::5"));
  assertEquals(nodeIPs, { IPv4: "192.168.1.9", IPv6: "fd00::5" });
});

Deno.test("trackNodeAddresses() resolves nodePortAddresses primary to the node IPs", () => {
  const nodeIPs: Partial<Record<IPFamily, string>> = {};
  const npa = ["primary"];
  const h = trackNodeAddresses(
    { bindAddress: "0.0.0.0", nodePortAddresses: ["primary"] },
    nodeIPs,
    npa,
  );
  assertEquals(npa, ["0.0.0.0/32"], "matches no address until the node IPs are known");
  h.onNodeAdd(nodeWith("10.0.0.5", "fd00::5"));
  assertEquals(npa, ["10.0.0.5/32", "fd00::5/128"]);
});

Deno.test("trackNodeAddresses() warns at sync when no node IP is known", () => {
  logLines.length = 0;
  const h = trackNodeAddresses({ bindAddress: "0.0.0.0", nodePortAddresses: null }, {}, []);
  h.onNodeSynced();
  assertEquals(logLines.some((l) => l.includes("Can't determine this node's IP")), true);
});
