import { assertEquals } from "../tests/assert.ts";
import { configureLogging } from "../config/log.ts";
import { configOf } from "./test_fixtures.ts";
import type { ClusterDNSConfiguration, KubeProxyConfiguration } from "../config/types.ts";
import {
  dnsInterceptFor,
  localhostNodePortsEffective,
  primaryIPFamily,
  proxierOptionsFromConfig,
} from "./proxier_options.ts";

configureLogging({ write: () => {} });

function withConfig(
  config: KubeProxyConfiguration,
  change: Partial<KubeProxyConfiguration>,
): KubeProxyConfiguration {
  return { ...config, ...change };
}

Deno.test("proxierOptionsFromConfig() carries the neutral settings, not the node's addresses", async () => {
  const { config } = await configOf(
    "--iptables-sync-period=10s",
    "--bind-address=10.0.0.5",
    "--nodeport-addresses=primary",
  );
  const opts = proxierOptionsFromConfig(config, "node-1");
  assertEquals(opts.nodeName, "node-1");
  assertEquals(opts.syncPeriodMs, 10_000);
  assertEquals(opts.minSyncPeriodMs, config.iptables.minSyncPeriod);
  assertEquals(opts.bindAddress, "10.0.0.5");
  assertEquals(opts.nodePortAddresses, ["primary"], "resolved by the proxier from the Node");
});

Deno.test("proxierOptionsFromConfig() splits clusterCIDR for the local detector", async () => {
  const { config } = await configOf("--cluster-cidr=10.244.0.0/16,fd00::/48");
  const { localDetector } = proxierOptionsFromConfig(config, "node-1");
  assertEquals(localDetector.mode, "ClusterCIDR");
  assertEquals(localDetector.clusterCIDRs, ["10.244.0.0/16", "fd00::/48"]);
  const spaced = withConfig(config, { clusterCIDR: " 10.244.0.0/16 , fd00::/48," });
  const detector = proxierOptionsFromConfig(spaced, "node-1").localDetector;
  assertEquals(detector.clusterCIDRs, ["10.244.0.0/16", "fd00::/48"]);
  assertEquals(
    proxierOptionsFromConfig(withConfig(config, { clusterCIDR: "" }), "node-1")
      .localDetector.clusterCIDRs,
    [],
  );
});

Deno.test("proxierOptionsFromConfig() passes the detect-local interface settings", async () => {
  const { config } = await configOf(
    "--detect-local-mode=InterfaceNamePrefix",
    "--pod-interface-name-prefix=veth",
  );
  const { localDetector } = proxierOptionsFromConfig(config, "node-1");
  assertEquals(localDetector.mode, "InterfaceNamePrefix");
  assertEquals(localDetector.interfaceNamePrefix, "veth");
});

Deno.test("dnsInterceptFor() intercepts DNS only with a running responder and service IPs", async () => {
  const { dns } = await configOf();
  const withIPs: ClusterDNSConfiguration = { ...dns, serviceIPs: ["10.96.0.10"] };
  assertEquals(dnsInterceptFor(withIPs, 5353), { serviceIPs: ["10.96.0.10"], port: 5353 });
  assertEquals(dnsInterceptFor(withIPs, undefined), undefined);
  assertEquals(dnsInterceptFor({ ...dns, serviceIPs: [] }, 5353), undefined);
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

Deno.test("proxierOptionsFromConfig() reads the nftables section's periods in nftables mode", async () => {
  const { configOf } = await import("./test_fixtures.ts");
  const { config } = await configOf("--proxy-mode=nftables", "--iptables-min-sync-period=2s");
  const opts = proxierOptionsFromConfig(config, "n");
  assertEquals([opts.syncPeriodMs, opts.minSyncPeriodMs], [30_000, 2000]);
  const { localhostNodePortsEffective } = await import("./proxier_options.ts");
  assertEquals(
    localhostNodePortsEffective(config),
    false,
    "no localhost NodePorts in nftables mode",
  );
});
