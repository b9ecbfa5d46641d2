import { assertEquals } from "../assert.ts";
import { loadConfig } from "../../config/load.ts";
import { validateConfig } from "../../config/validate.ts";
import { CLUSTER_DNS_IP, renderNodeConfig } from "./proxy_node.ts";
import { CLUSTER_CIDR } from "./sandbox.ts";

Deno.test("renderNodeConfig() writes a config that loads and validates, with DNS interception", () => {
  const text = renderNodeConfig({
    name: "node2",
    netns: "kpsbx-test-node2",
    ip: "192.168.1.11",
    podCIDR: "10.244.2.0/24",
    bridgeIP: "10.244.2.1",
  }, "/tmp/kubeconfig");
  const { config, dns } = loadConfig(text);
  assertEquals(validateConfig(config, dns), []);
  assertEquals(config.hostnameOverride, "node2");
  assertEquals(config.clientConnection.kubeconfig, "/tmp/kubeconfig");
  assertEquals(config.clusterCIDR, CLUSTER_CIDR);
  // Nothing global to the machine: conntrack sizing and timeouts are left as they are.
  assertEquals(config.conntrack.maxPerCore, 0);
  assertEquals([dns.enabled, dns.port, dns.serviceIPs], [true, 53, [CLUSTER_DNS_IP]]);
});

Deno.test("renderNodeConfig() writes the proxy mode it is given, iptables by default", () => {
  const node = {
    name: "node1",
    netns: "kpsbx-test-node1",
    ip: "192.168.1.10",
    podCIDR: "10.244.1.0/24",
    bridgeIP: "10.244.1.1",
  };
  assertEquals(loadConfig(renderNodeConfig(node, "/tmp/kc")).config.mode, "iptables");
  const nft = loadConfig(renderNodeConfig(node, "/tmp/kc", "200ms", "nftables")).config;
  assertEquals(nft.mode, "nftables");
});
