import { assertEquals } from "../tests/assert.ts";
import type { ConfigProblem } from "./config_error.ts";
import { defaultConfig, loadConfig } from "./load.ts";
import type { ClusterDNSConfiguration, KubeProxyConfiguration } from "./types.ts";
import { validateConfig } from "./validate.ts";

type DeepPartial<T> = { -readonly [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

const defaults = defaultConfig();

function merge<T>(base: T, patch: unknown): T {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch as T;
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch)) {
    out[k] = merge((base as Record<string, unknown>)[k], v);
  }
  return out as T;
}

function check(
  patch: DeepPartial<KubeProxyConfiguration>,
  dnsPatch: DeepPartial<ClusterDNSConfiguration> = {},
): ConfigProblem[] {
  return validateConfig(merge(defaults.config, patch), merge(defaults.dns, dnsPatch));
}

function messages(problems: ConfigProblem[]): string[] {
  return problems.map((p) => `${p.path}: ${p.message}`);
}

const ROOT = "KubeProxyConfiguration";
const CT = `${ROOT}.KubeProxyLinuxConfiguration.KubeProxyConntrackConfiguration`;

Deno.test("validateConfig() accepts the defaults and a typical configuration", () => {
  assertEquals(validateConfig(defaults.config, defaults.dns), []);
  assertEquals(
    check({
      mode: "iptables",
      clusterCIDR: "10.244.0.0/16,fd00:10:244::/56",
      nodePortAddresses: ["10.0.0.0/8", "fd00::/64"],
      detectLocalMode: "ClusterCIDR",
      portRange: "30000-32767",
      showHiddenMetricsForVersion: "1.35",
      featureGates: { ServiceTrafficDistribution: true },
      conntrack: { maxPerCore: 0 },
      healthzBindAddress: "[::]:10256",
    }, {
      upstreamServers: ["1.1.1.1", "1.0.0.1:53", "[2606:4700::1111]:53"],
      serviceIPs: ["10.96.0.10"],
    }),
    [],
  );
  assertEquals(check({ nodePortAddresses: ["primary"], metricsBindAddress: "" }), []);
});

Deno.test("validateConfig() checks iptables.masqueradeBit within [0, 31]", () => {
  assertEquals(messages(check({ iptables: { masqueradeBit: 32 } })), [
    `${ROOT}.KubeProxyIPTablesConfiguration.MasqueradeBit: Invalid value: 32: must be within the range [0, 31]`,
  ]);
  assertEquals(check({ iptables: { masqueradeBit: -1 } }).length, 1);
  assertEquals(check({ iptables: { masqueradeBit: 31 } }), []);
  assertEquals(check({ iptables: { masqueradeBit: 0 } }), []);
});

Deno.test("validateConfig() checks conntrack values and oomScoreAdj", () => {
  assertEquals(
    messages(check({
      conntrack: {
        maxPerCore: -1,
        min: -2,
        tcpEstablishedTimeout: -1000,
        tcpCloseWaitTimeout: -60_000,
        udpTimeout: -1,
        udpStreamTimeout: -3_600_000,
      },
      oomScoreAdj: 1001,
    })),
    [
      `${CT}.MaxPerCore: Invalid value: -1: must be greater than or equal to 0`,
      `${CT}.Min: Invalid value: -2: must be greater than or equal to 0`,
      `${CT}.TCPEstablishedTimeout: Invalid value: -1s: must be greater than or equal to 0`,
      `${CT}.TCPCloseWaitTimeout: Invalid value: -1m0s: must be greater than or equal to 0`,
      `${CT}.UDPTimeout: Invalid value: -1ms: must be greater than or equal to 0`,
      `${CT}.UDPStreamTimeout: Invalid value: -1h0m0s: must be greater than or equal to 0`,
      `${ROOT}.KubeProxyLinuxConfiguration.OOMScoreAdj: Invalid value: 1001: must be within the range [-1000, 1000]`,
    ],
  );
  assertEquals(check({ oomScoreAdj: -1000 }), []);
  assertEquals(check({ oomScoreAdj: -1001 }).length, 1);
});

Deno.test("validateConfig() rejects every proxy mode but iptables and nftables, naming what this build implements", () => {
  for (const mode of ["ipvs", "userspace", "kernelspace", "foo"]) {
    const problems = check({ mode }).filter((p) => p.path === `${ROOT}.Mode.ProxyMode`);
    assertEquals(problems.length, 1, mode);
    assertEquals(
      problems[0].message,
      `Invalid value: "${mode}": must be iptables, nftables or blank (blank means iptables): this ` +
        "build implements the iptables and nftables proxy modes (not ipvs, userspace or kernelspace)",
    );
  }
  assertEquals(check({ mode: "" }), []);
  assertEquals(check({ mode: "nftables" }), []);
});

Deno.test("validateConfig() checks the nftables section's periods in nftables mode", () => {
  assertEquals(
    messages(check({ mode: "nftables", nftables: { syncPeriod: 1000, minSyncPeriod: 5000 } })),
    [`${ROOT}.SyncPeriod: Invalid value: 5s: must be greater than or equal to ${ROOT}.MinSyncPeriod`],
  );
  assertEquals(check({ nftables: { syncPeriod: 1000, minSyncPeriod: 5000 } }), []);
});

Deno.test("validateConfig() applies the ipvs and nftables sections' rules only in their modes", () => {
  const ipvs = { tcpTimeout: -1000, tcpFinTimeout: -1000, udpTimeout: -1000, excludeCIDRs: ["x"] };
  assertEquals(check({ ipvs }), []);
  assertEquals(messages(check({ mode: "ipvs", ipvs })).slice(0, 4), [
    `${ROOT}.KubeProxyIPVSConfiguration.TCPTimeout: Invalid value: -1s: must be greater than or equal to 0`,
    `${ROOT}.KubeProxyIPVSConfiguration.TCPFinTimeout: Invalid value: -1s: must be greater than or equal to 0`,
    `${ROOT}.KubeProxyIPVSConfiguration.UDPTimeout: Invalid value: -1s: must be greater than or equal to 0`,
    `${ROOT}.KubeProxyIPVSConfiguration.ExcludeCidrs[0]: Invalid value: "x": must be a valid CIDR`,
  ]);
  assertEquals(check({ nftables: { masqueradeBit: 40 } }), []);
  assertEquals(
    messages(check({ mode: "nftables", nftables: { masqueradeBit: 40 } }))[0],
    `${ROOT}.KubeProxyNFTablesConfiguration.MasqueradeBit: Invalid value: 40: must be within the range [0, 31]`,
  );
});

Deno.test("validateConfig() rejects a negative burst and non-positive periods", () => {
  assertEquals(messages(check({ clientConnection: { burst: -1 }, configSyncPeriod: 0 })), [
    `${ROOT}.ClientConnection.Burst: Invalid value: -1: must be greater than or equal to 0`,
    `${ROOT}.ConfigSyncPeriod: Invalid value: 0s: must be greater than 0`,
  ]);
  assertEquals(messages(check({ iptables: { syncPeriod: 0, minSyncPeriod: -1000 } })), [
    `${ROOT}.SyncPeriod: Invalid value: 0s: must be greater than 0`,
    `${ROOT}.MinSyncPeriod: Invalid value: -1s: must be greater than or equal to 0`,
  ]);
});

Deno.test("validateConfig() rejects minSyncPeriod above syncPeriod", () => {
  assertEquals(messages(check({ iptables: { syncPeriod: 30_000, minSyncPeriod: 120_000 } })), [
    `${ROOT}.SyncPeriod: Invalid value: 2m0s: must be greater than or equal to ${ROOT}.MinSyncPeriod`,
  ]);
  assertEquals(check({ iptables: { syncPeriod: 30_000, minSyncPeriod: 30_000 } }), []);
});

Deno.test("validateConfig() rejects malformed IPs and host:port addresses", () => {
  assertEquals(
    messages(check({
      bindAddress: "10.0.0.256",
      healthzBindAddress: "0.0.0.0",
      metricsBindAddress: "localhost:10249",
    })),
    [
      `${ROOT}.BindAddress: Invalid value: "10.0.0.256": not a valid textual representation of an IP address`,
      `${ROOT}.HealthzBindAddress: Invalid value: "0.0.0.0": must be IP:port`,
      `${ROOT}.MetricsBindAddress: Invalid value: "localhost": must be a valid IP`,
    ],
  );
  assertEquals(
    messages(check({ healthzBindAddress: "1.2.3.4:0", metricsBindAddress: "[::1]:http" })),
    [
      `${ROOT}.HealthzBindAddress: Invalid value: "0": must be a valid port`,
      `${ROOT}.MetricsBindAddress: Invalid value: "http": must be a valid port`,
    ],
  );
  assertEquals(messages(check({ healthzBindAddress: "::1:10256" })), [
    `${ROOT}.HealthzBindAddress: Invalid value: "::1:10256": must be IP:port`,
  ]);
  assertEquals(check({ bindAddress: "010.000.000.001" }), [], "sloppy IPv4 parsing");
});

Deno.test("validateConfig() checks portRange, nodePortAddresses and showHiddenMetricsForVersion", () => {
  assertEquals(
    messages(check({
      portRange: "2000-300",
      nodePortAddresses: ["10.0.0.0/8", "primary", "10.0.0.0/33"],
      showHiddenMetricsForVersion: "1.30",
    })),
    [
      `${ROOT}.PortRange: Invalid value: "2000-300": must be a valid port range (e.g. 300-2000)`,
      `${ROOT}.NodePortAddresses[1]: Invalid value: "primary": can't use both 'primary' and CIDRs`,
      `${ROOT}.NodePortAddresses[2]: Invalid value: "10.0.0.0/33": must be a valid CIDR`,
      `${ROOT}.ShowHiddenMetricsForVersion: Invalid value: "1.30": --show-hidden-metrics-for-version ` +
      "must be omitted or have the value '1.35'. Only the previous minor version is allowed",
    ],
  );
  for (const range of ["", "300", "300-2000", "300+100", " 1-2 "]) {
    assertEquals(check({ portRange: range }), []);
  }
});

Deno.test("validateConfig() checks detectLocalMode and its settings", () => {
  assertEquals(messages(check({ detectLocalMode: "PodCIDR" })), [
    `${ROOT}.DetectLocalMode: Unsupported value: "PodCIDR": supported values: "ClusterCIDR", ` +
    `"NodeCIDR", "BridgeInterface", "InterfaceNamePrefix", ""`,
  ]);
  assertEquals(messages(check({ detectLocalMode: "BridgeInterface" })), [
    `${ROOT}.DetectLocalConfiguration.InterfaceName: Invalid value: "": must not be empty`,
  ]);
  assertEquals(messages(check({ detectLocalMode: "InterfaceNamePrefix" })), [
    `${ROOT}.DetectLocalConfiguration.InterfacePrefix: Invalid value: "": must not be empty`,
  ]);
  assertEquals(
    check({ detectLocalMode: "BridgeInterface", detectLocal: { bridgeInterface: "cbr0" } }),
    [],
  );
  assertEquals(check({ detectLocalMode: "NodeCIDR", clusterCIDR: "not-a-cidr" }), []);
});

Deno.test("validateConfig() rejects malformed cluster CIDRs", () => {
  assertEquals(messages(check({ clusterCIDR: "10.244.0.0/16,10.245.0.0/16" })), [
    `${ROOT}.DetectLocalConfiguration.ClusterCIDRs: Invalid value: []string{"10.244.0.0/16", ` +
    `"10.245.0.0/16"}: must be a either a single CIDR or dual-stack pair of CIDRs ` +
    "(e.g. [10.100.0.0/16, fde4:8dba:82e1::/48]",
  ]);
  assertEquals(messages(check({ detectLocalMode: "ClusterCIDR", clusterCIDR: "10.244.0.0" })), [
    `${ROOT}.DetectLocalConfiguration.ClusterCIDRs[0]: Invalid value: "10.244.0.0": must be a valid ` +
    "CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)",
  ]);
  assertEquals(check({ clusterCIDR: "a,b,c" }).length, 4);
  assertEquals(messages(check({ clusterCIDR: "10.0.0.0/8,fd00::/48,10.1.0.0/16" })), [
    `${ROOT}.DetectLocalConfiguration.ClusterCIDRs: Invalid value: []string{"10.0.0.0/8", ` +
    `"fd00::/48", "10.1.0.0/16"}: must be a either a single CIDR or dual-stack pair of CIDRs ` +
    "(e.g. [10.100.0.0/16, fde4:8dba:82e1::/48]",
  ]);
  assertEquals(check({ clusterCIDR: "fd00::/48,10.0.0.0/8" }), [], "either family first");
});

Deno.test("validateConfig() checks feature gates and logging", () => {
  assertEquals(messages(check({ featureGates: { NoSuchGate: true, AllAlpha: false } })), [
    `${ROOT}.featureGates: Invalid value: map[string]bool{"AllAlpha":false, "NoSuchGate":true}: ` +
    "unrecognized feature gate: NoSuchGate",
  ]);
  assertEquals(
    messages(check({
      logging: {
        format: "xml",
        verbosity: 2 ** 31,
        vmodule: [{ filePattern: "", verbosity: 1 }, { filePattern: "a=b", verbosity: 1 }],
      },
    })),
    [
      `${ROOT}.logging.format: Unsupported value: "xml": supported values: "json", "text"`,
      `${ROOT}.logging.verbosity: Invalid value: 2147483648: Must be <= 2147483647`,
      `${ROOT}.logging.vmodule: Forbidden: Only supported for text log format`,
      `${ROOT}.logging.vmodule[0]: Required value: File pattern must not be empty`,
      `${ROOT}.logging.vmodule[1]: Invalid value: "a=b": File pattern must not contain equal sign or comma`,
    ],
  );
  assertEquals(check({ logging: { format: "json" } }), []);
});

Deno.test("validateConfig() checks every DNS field", () => {
  const D = "ClusterDNSConfiguration";
  assertEquals(
    messages(check({}, {
      bindAddress: "any",
      port: 65536,
      clusterDomain: "Cluster.Local.",
      ttl: 3601,
      upstreamServers: ["8.8.8.8:0", "dns.google", "[::1]:53", "1.1.1.1:"],
      forwardTimeout: 0,
      maxConcurrentForwards: 0,
      tcpIdleTimeout: -1,
      podRecords: "verified" as "insecure",
      serviceIPs: ["10.96.0.10", "10.96.0.10", "10.96.0"],
      allowedClients: ["10.0.0.0/8", "192.0.2.1", "fd00::/129"],
    })),
    [
      `${D}.bindAddress: Invalid value: "any": must be a valid IP address`,
      `${D}.port: Invalid value: 65536: must be within the range [0, 65535]`,
      `${D}.clusterDomain: Invalid value: "Cluster.Local.": a lowercase RFC 1123 subdomain must ` +
      "consist of lower case alphanumeric characters, '-' or '.', and must start and end with an " +
      "alphanumeric character (e.g. 'example.com', regex used for validation is " +
      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      `${D}.ttl: Invalid value: 3601: must be within the range [0, 3600]`,
      `${D}.upstreamServers[0]: Invalid value: "8.8.8.8:0": must have a valid port`,
      `${D}.upstreamServers[1]: Invalid value: "dns.google": must be an IP address or IP:port ` +
      "(IPv6 as [IP]:port)",
      `${D}.upstreamServers[3]: Invalid value: "1.1.1.1:": must have a valid port`,
      `${D}.forwardTimeout: Invalid value: 0s: must be greater than 0`,
      `${D}.maxConcurrentForwards: Invalid value: 0: must be greater than 0`,
      `${D}.tcpIdleTimeout: Invalid value: -1ms: must be greater than 0`,
      `${D}.podRecords: Unsupported value: "verified": supported values: "disabled", "insecure"`,
      `${D}.serviceIPs[1]: Duplicate value: "10.96.0.10"`,
      `${D}.serviceIPs[2]: Invalid value: "10.96.0": must be a valid IP address`,
      `${D}.allowedClients[1]: Invalid value: "192.0.2.1": must be a valid CIDR`,
      `${D}.allowedClients[2]: Invalid value: "fd00::/129": must be a valid CIDR`,
    ],
  );
  assertEquals(check({}, { port: 0, ttl: 0, enabled: false, bindAddress: "::" }), []);
});

Deno.test("validateConfig() reports every problem of a loaded file at once", () => {
  const { config, dns } = loadConfig(
    "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n" +
      "iptables: {masqueradeBit: 32, syncPeriod: 1s, minSyncPeriod: 5s}\n" +
      "clientConnection: {burst: -1}\nmode: ipvs\n---\n" +
      "apiVersion: dns.kubeproxy.config/v1alpha1\nkind: ClusterDNSConfiguration\nttl: -5\n",
  );
  assertEquals(validateConfig(config, dns).map((p) => p.path), [
    `${ROOT}.KubeProxyIPTablesConfiguration.MasqueradeBit`,
    `${ROOT}.Mode.ProxyMode`,
    `${ROOT}.ClientConnection.Burst`,
    "ClusterDNSConfiguration.ttl",
  ]);
});
