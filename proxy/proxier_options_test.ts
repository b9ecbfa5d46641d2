import { assertEquals } from "../tests/assert.ts";
import { configureLogging } from "../config/log.ts";
import { loadOptions } from "../config/options.ts";
import type { ClusterDNSConfiguration, KubeProxyConfiguration } from "../config/types.ts";
import {
  localhostNodePortsEffective,
  type NodeFacts,
  primaryIPFamily,
  proxierOptionsFromConfig,
} from "./proxier_options.ts";

configureLogging({ write: () => {} });

/** The configuration as loaded from these flags (no `--config`). */
async function configOf(...args: string[]) {
  return await loadOptions(args, {
    readTextFile: () => Promise.reject(new Deno.errors.NotFound("no file")),
    hostname: () => "node-1",
    configureLogging: () => {},
  });
}

function withConfig(
  config: KubeProxyConfiguration,
  change: Partial<KubeProxyConfiguration>,
): KubeProxyConfiguration {
  return { ...config, ...change };
}

const FACTS: NodeFacts = {
  nodeName: "node-1",
  families: ["IPv4"],
  nodeIPs: { IPv4: "10.0.0.5" },
  nodePortAddresses: ["10.0.0.0/8"],
  tcpBeLiberal: false,
  randomFully: true,
};

Deno.test("proxierOptionsFromConfig() carries the iptables settings and the node facts", async () => {
  const { config, dns } = await configOf("--masquerade-all", "--iptables-sync-period=10s");
  const opts = proxierOptionsFromConfig(config, dns, FACTS);
  assertEquals(opts.nodeName, "node-1");
  assertEquals(opts.families, ["IPv4"]);
  assertEquals(opts.nodeIPs, FACTS.nodeIPs);
  assertEquals(opts.nodePortAddresses, FACTS.nodePortAddresses);
  assertEquals(opts.masqueradeAll, true);
  assertEquals(opts.masqueradeBit, 14);
  assertEquals(opts.syncPeriodMs, 10_000);
  assertEquals(opts.minSyncPeriodMs, config.iptables.minSyncPeriod);
  assertEquals(opts.randomFully, true);
  assertEquals(opts.tcpBeLiberal, false);
});

Deno.test("proxierOptionsFromConfig() shares the live node IP objects, not copies", async () => {
  const { config, dns } = await configOf();
  const nodeIPs = {};
  const nodePortAddresses: string[] = [];
  const opts = proxierOptionsFromConfig(config, dns, { ...FACTS, nodeIPs, nodePortAddresses });
  assertEquals(opts.nodeIPs === nodeIPs, true);
  assertEquals(opts.nodePortAddresses === nodePortAddresses, true);
});

Deno.test("proxierOptionsFromConfig() splits clusterCIDR for the local detector", async () => {
  const { config, dns } = await configOf("--cluster-cidr=10.244.0.0/16,fd00::/48");
  const { localDetector } = proxierOptionsFromConfig(config, dns, FACTS);
  assertEquals(localDetector.mode, "ClusterCIDR");
  assertEquals(localDetector.clusterCIDRs, ["10.244.0.0/16", "fd00::/48"]);
  const spaced = withConfig(config, { clusterCIDR: " 10.244.0.0/16 , fd00::/48," });
  const detector = proxierOptionsFromConfig(spaced, dns, FACTS).localDetector;
  assertEquals(detector.clusterCIDRs, ["10.244.0.0/16", "fd00::/48"]);
  assertEquals(
    proxierOptionsFromConfig(withConfig(config, { clusterCIDR: "" }), dns, FACTS)
      .localDetector.clusterCIDRs,
    [],
  );
});

Deno.test("proxierOptionsFromConfig() passes the detect-local interface settings", async () => {
  const { config, dns } = await configOf(
    "--detect-local-mode=InterfaceNamePrefix",
    "--pod-interface-name-prefix=veth",
  );
  const { localDetector } = proxierOptionsFromConfig(config, dns, FACTS);
  assertEquals(localDetector.mode, "InterfaceNamePrefix");
  assertEquals(localDetector.interfaceNamePrefix, "veth");
});

Deno.test("proxierOptionsFromConfig() intercepts DNS only with a running responder and service IPs", async () => {
  const { config, dns } = await configOf();
  const withIPs: ClusterDNSConfiguration = { ...dns, serviceIPs: ["10.96.0.10"] };
  assertEquals(
    proxierOptionsFromConfig(config, withIPs, { ...FACTS, dnsPort: 5353 }).dnsIntercept,
    { serviceIPs: ["10.96.0.10"], port: 5353 },
  );
  assertEquals(proxierOptionsFromConfig(config, withIPs, FACTS).dnsIntercept, undefined);
  const noIPs: ClusterDNSConfiguration = { ...dns, serviceIPs: [] };
  assertEquals(
    proxierOptionsFromConfig(config, noIPs, { ...FACTS, dnsPort: 5353 }).dnsIntercept,
    undefined,
  );
});

Deno.test("localhostNodePortsEffective() needs the flag and loopback-allowing nodePortAddresses", async () => {
  const { config } = await configOf();
  const on = { ...config.iptables, localhostNodePorts: true };
  const off = { ...config.iptables, localhostNodePorts: false };
  const cases: [KubeProxyConfiguration, boolean][] = [
    [withConfig(config, { iptables: on, nodePortAddresses: null }), true],
    [withConfig(config, { iptables: on, nodePortAddresses: ["127.0.0.0/8"] }), true],
    [withConfig(config, { iptables: on, nodePortAddresses: ["10.0.0.0/8"] }), false],
    [withConfig(config, { iptables: off, nodePortAddresses: null }), false],
  ];
  for (const [c, want] of cases) {
    assertEquals(localhostNodePortsEffective(c), want, JSON.stringify(c.nodePortAddresses));
  }
});

Deno.test("primaryIPFamily() follows a specific bindAddress and defaults to IPv4", async () => {
  const { config } = await configOf();
  assertEquals(primaryIPFamily(withConfig(config, { bindAddress: "0.0.0.0" })), "IPv4");
  assertEquals(primaryIPFamily(withConfig(config, { bindAddress: "::" })), "IPv4");
  assertEquals(primaryIPFamily(withConfig(config, { bindAddress: "fd00::1" })), "IPv6");
});
