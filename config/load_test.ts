import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../tests/assert.ts";
import { ConfigError, type ConfigProblem } from "./config_error.ts";
import {
  defaultConfig,
  excerpt,
  loadConfig,
  parseYamlDocuments,
  readConfigFile,
  renderConfig,
} from "./load.ts";

const HEADER = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";
const DNS_HEADER =
  "---\napiVersion: dns.kubeproxy.config/v1alpha1\nkind: ClusterDNSConfiguration\n";
const FIXTURE = new URL("./testdata/upstream_defaulted_v1alpha1.yaml", import.meta.url);

function problemsOf(text: string): readonly ConfigProblem[] {
  const err = assertThrows(() => loadConfig(text, { source: "kp.yaml" }), ConfigError);
  return err.problems;
}

function onlyProblem(text: string): ConfigProblem {
  const problems = problemsOf(text);
  assertEquals(problems.length, 1, JSON.stringify(problems));
  return problems[0];
}

Deno.test("loadConfig() applies upstream's defaults to a minimal document", () => {
  const { config, dns } = loadConfig(HEADER);
  assertEquals(config, defaultConfig().config);
  assertEquals(config.bindAddress, "0.0.0.0");
  assertEquals(config.healthzBindAddress, "0.0.0.0:10256");
  assertEquals(config.metricsBindAddress, "127.0.0.1:10249");
  assertEquals(config.iptables, {
    masqueradeBit: 14,
    masqueradeAll: false,
    localhostNodePorts: true,
    syncPeriod: 30_000,
    minSyncPeriod: 1_000,
  });
  assertEquals(config.conntrack.tcpEstablishedTimeout, 86_400_000);
  assertEquals(config.conntrack.tcpCloseWaitTimeout, 3_600_000);
  assertEquals(config.conntrack.maxPerCore, 32_768);
  assertEquals(config.conntrack.min, 131_072);
  assertEquals(config.configSyncPeriod, 900_000);
  assertEquals(config.oomScoreAdj, -999);
  assertEquals(config.clientConnection.qps, 5);
  assertEquals(config.clientConnection.burst, 10);
  assertEquals(config.logging.format, "text");
  assertEquals(config.logging.flushFrequency, 5_000);
  assertEquals(config.nodePortAddresses, null);
  assertEquals(config.featureGates, {});
  assertEquals(config.mode, "");
  assertEquals(dns, {
    enabled: false,
    bindAddress: "0.0.0.0",
    port: 53,
    clusterDomain: "cluster.local",
    ttl: 5,
    upstreamServers: [],
    forwardTimeout: 2_000,
    maxConcurrentForwards: 1000,
    tcpIdleTimeout: 5_000,
    podRecords: "insecure",
    serviceIPs: [],
    allowedClients: [],
  });
});

Deno.test("loadConfig() enables DNS when the file has the DNS document, even an empty one", () => {
  assertEquals(loadConfig(HEADER + DNS_HEADER).dns.enabled, true);
  assertEquals(loadConfig(HEADER + DNS_HEADER + "enabled: false\n").dns.enabled, false);
  const { dns } = loadConfig(HEADER + DNS_HEADER + "allowedClients: [192.0.2.0/24]\n");
  assertEquals(dns.allowedClients, ["192.0.2.0/24"]);
});

Deno.test("loadConfig() re-defaults zero values of non-pointer fields but keeps pointer zeros", () => {
  const { config } = loadConfig(
    HEADER + "bindAddress: ''\nclientConnection:\n  qps: 0\n  burst: 0\niptables:\n" +
      "  minSyncPeriod: 0s\n  masqueradeBit: 0\nconntrack:\n  maxPerCore: 0\n  min: 0\n" +
      "  tcpEstablishedTimeout: 0s\noomScoreAdj: 0\n",
  );
  assertEquals(config.bindAddress, "0.0.0.0");
  assertEquals(config.clientConnection.qps, 5);
  assertEquals(config.clientConnection.burst, 10);
  assertEquals(config.iptables.minSyncPeriod, 1_000);
  assertEquals(config.iptables.masqueradeBit, 0);
  assertEquals(config.conntrack.maxPerCore, 0);
  assertEquals(config.conntrack.min, 0);
  assertEquals(config.conntrack.tcpEstablishedTimeout, 0);
  assertEquals(config.oomScoreAdj, 0);
});

Deno.test("loadConfig() defaults listen addresses from an IPv6 bindAddress and appends ports", () => {
  const v6 = loadConfig(HEADER + "bindAddress: fd00::1\n").config;
  assertEquals(v6.healthzBindAddress, "[::]:10256");
  assertEquals(v6.metricsBindAddress, "[::1]:10249");
  const bare = loadConfig(HEADER + "healthzBindAddress: 10.0.0.1\nmetricsBindAddress: '::1'\n");
  assertEquals(bare.config.healthzBindAddress, "10.0.0.1:10256");
  assertEquals(bare.config.metricsBindAddress, "[::1]:10249");
});

Deno.test("loadConfig() reads a kubeadm-style file with every kind of field", () => {
  const { config, dns } = loadConfig(
    HEADER +
      `featureGates:
  ServiceTrafficDistribution: true
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0.5
clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
mode: iptables
iptables:
  masqueradeAll: yes
  syncPeriod: 1m30s
nodePortAddresses: [primary]
logging:
  verbosity: 4
  flushFrequency: 2000000000
  vmodule:
  - filePattern: proxier.ts
    verbosity: 6
showHiddenMetricsForVersion: 1.30
` + DNS_HEADER + `port: 0
ttl: 30
upstreamServers: [8.8.8.8, "[2001:db8::1]:5353"]
podRecords: disabled
serviceIPs: [10.96.0.10]
forwardTimeout: 1.5s
`,
  );
  assertEquals(config.featureGates, { ServiceTrafficDistribution: true });
  assertEquals(config.clientConnection.kubeconfig, "/var/lib/kube-proxy/kubeconfig.conf");
  assertEquals(config.clientConnection.qps, 0.5);
  assertEquals(config.clusterCIDR, "10.244.0.0/16,fd00:10:244::/56");
  assertEquals(config.iptables.masqueradeAll, true);
  assertEquals(config.iptables.syncPeriod, 90_000);
  assertEquals(config.nodePortAddresses, ["primary"]);
  assertEquals(config.logging.verbosity, 4);
  assertEquals(config.logging.flushFrequency, 2_000);
  assertEquals(config.logging.vmodule, [{ filePattern: "proxier.ts", verbosity: 6 }]);
  assertEquals(config.showHiddenMetricsForVersion, "1.3");
  assertEquals(dns.port, 0);
  assertEquals(dns.ttl, 30);
  assertEquals(dns.upstreamServers, ["8.8.8.8", "[2001:db8::1]:5353"]);
  assertEquals(dns.podRecords, "disabled");
  assertEquals(dns.serviceIPs, ["10.96.0.10"]);
  assertEquals(dns.forwardTimeout, 1_500);
  assertEquals(dns.enabled, true);
});

Deno.test("loadConfig() accepts the DNS document first and skips empty documents", () => {
  const { config, dns } = loadConfig(
    "---\n" + DNS_HEADER.slice(4) + "enabled: false\n---\n" + HEADER + "---\n",
  );
  assertEquals(dns.enabled, false);
  assertEquals(config.mode, "");
});

Deno.test("loadConfig() rejects an empty file", () => {
  for (const text of ["", "\n\n", "# only a comment\n", "---\n---\n"]) {
    const p = onlyProblem(text);
    assertEquals(p.path, "kp.yaml");
    assertStringIncludes(p.message, "the file is empty");
  }
});

Deno.test("loadConfig() rejects invalid YAML and names its line", () => {
  const p = onlyProblem(HEADER + "iptables:\n  syncPeriod: [30s\nmode: iptables\n");
  assertEquals(p.path, "kp.yaml");
  assertMatch(p.message, /^invalid YAML at line \d+, column \d+: /);
  const tab = onlyProblem(HEADER + "iptables:\n\tsyncPeriod: 30s\n");
  assertMatch(tab.message, /invalid YAML at line 4/);
});

Deno.test("loadConfig() rejects a wrong apiVersion or kind", () => {
  const version = onlyProblem(
    "apiVersion: kubeproxy.config.k8s.io/v1alpha2\nkind: KubeProxyConfiguration\n",
  );
  assertEquals(version.path, "KubeProxyConfiguration.apiVersion");
  assertStringIncludes(
    version.message,
    'unsupported apiVersion "kubeproxy.config.k8s.io/v1alpha2"',
  );
  assertStringIncludes(version.message, "(line 1)");
  const kind = onlyProblem(
    "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n",
  );
  assertEquals(kind.path, "KubeletConfiguration.kind");
  assertStringIncludes(
    kind.message,
    "got unexpected config type: kubeproxy.config.k8s.io/v1alpha1, Kind=KubeletConfiguration",
  );
  const missing = onlyProblem("mode: iptables\n");
  assertStringIncludes(missing.message, "Object 'Kind' or 'apiVersion' is missing");
  const dnsVersion = onlyProblem(
    HEADER + "---\napiVersion: dns.kubeproxy.config/v2\nkind: ClusterDNSConfiguration\n",
  );
  assertStringIncludes(dnsVersion.message, "this build reads dns.kubeproxy.config/v1alpha1");
  const onlyDns = onlyProblem(DNS_HEADER);
  assertStringIncludes(onlyDns.message, "no KubeProxyConfiguration document");
  const twice = onlyProblem(HEADER + "---\n" + HEADER);
  assertStringIncludes(twice.message, "more than one KubeProxyConfiguration document");
  const list = onlyProblem("- a\n- b\n");
  assertStringIncludes(list.message, "not a YAML mapping: the document is a list");
});

Deno.test("loadConfig() ignores unknown fields and reports each with its path and line", () => {
  const { config, dns, unknownFields } = loadConfig(
    HEADER + "iptables:\n  masqueradeBits: 14\nconntrak: {}\nmode: iptables\n" + DNS_HEADER +
      "ttls: 5\nttl: 7\n",
  );
  assertEquals(unknownFields, [
    "KubeProxyConfiguration.iptables.masqueradeBits (line 4)",
    "KubeProxyConfiguration.conntrak (line 5)",
    "ClusterDNSConfiguration.ttls (line 10)",
  ]);
  // The known fields around them are read.
  assertEquals(config.mode, "iptables");
  assertEquals(config.iptables.masqueradeBit, 14 /* the default: the misspelt key is ignored */);
  assertEquals(dns.ttl, 7);
  assertEquals(loadConfig(HEADER).unknownFields, []);
});

Deno.test("loadConfig() still refuses a wrong type or a duplicate next to an unknown field", () => {
  const problems = problemsOf(
    HEADER + "newField: 1\nmode: iptables\nmode: ipvs\nbindAddress: []\n",
  );
  assertEquals(problems.map((p) => p.path), [
    "KubeProxyConfiguration.mode",
    "KubeProxyConfiguration.bindAddress",
  ]);
});

Deno.test("loadConfig() describes binary garbage without echoing it", () => {
  const garbage = String.fromCharCode(
    ...Array.from({ length: 3000 }, (_, i) => [0x1b, 0x07, 0xfffd, 0x41, 0x9b][i % 5]),
  );
  const problem = onlyProblem(garbage);
  assertEquals(problem.path, "kp.yaml");
  assert(problem.message.length < 200, problem.message);
  assertMatch(problem.message, /^not a YAML mapping: the document is string "/);
  assertMatch(problem.message, /\(3000 characters\)/);
  // Printable ASCII only: control characters and the rest are escaped.
  assertMatch(problem.message, /^[\x20-\x7e]*$/);
  assertStringIncludes(problem.message, "\\u001b");
});

Deno.test("excerpt() quotes short text as is and cuts and escapes the rest", () => {
  assertEquals(excerpt("ipvs"), '"ipvs"');
  assertEquals(excerpt("a\u0000\u00ff"), '"a\\u0000\\u00ff"');
  assertEquals(excerpt("x".repeat(50)), `"${"x".repeat(48)}..." (50 characters)`);
});

Deno.test("readConfigFile() names the first byte that is not UTF-8 and quotes none", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeFile(path, new Uint8Array([0x61, 0x3a, 0x20, 0xc3, 0xa9, 0xff, 0x1b, 0x5b]));
    const err = await assertRejects(() => readConfigFile(path), ConfigError);
    assertEquals(err.problems.length, 1);
    assertEquals(err.problems[0].path, path);
    assertMatch(err.problems[0].message, /^not valid UTF-8 at byte 5 \(8 bytes\)/);
    await Deno.writeTextFile(path, HEADER + "mode: iptables # é\n");
    assertEquals(await readConfigFile(path), HEADER + "mode: iptables # é\n");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("loadConfig() rejects duplicate fields", () => {
  const problems = problemsOf(
    HEADER + "mode: iptables\nmode: ipvs\nfeatureGates:\n  A: true\n  A: false\n",
  );
  assertEquals(problems, [
    { path: "KubeProxyConfiguration.mode", message: 'duplicate field "mode" (line 4)' },
    { path: "KubeProxyConfiguration.featureGates.A", message: 'duplicate field "A" (line 7)' },
  ]);
});

Deno.test("loadConfig() rejects values of the wrong type, reporting all of them", () => {
  const problems = problemsOf(
    HEADER +
      `iptables:
  masqueradeBit: "14"
  masqueradeAll: "true"
  syncPeriod: 30
clientConnection:
  burst: 1.5
  qps: fast
conntrack:
  min: 4294967296
logging:
  verbosity: -1
nodePortAddresses: 10.0.0.0/8
featureGates: {A: maybe}
detectLocal: []
hostnameOverride: {a: b}
` + DNS_HEADER + "enabled: 1\nport: '53'\n",
  );
  assertEquals(problems.map((p) => p.path.replace(/^\w+Configuration\./, "")), [
    "iptables.masqueradeBit",
    "iptables.masqueradeAll",
    "iptables.syncPeriod",
    "clientConnection.burst",
    "clientConnection.qps",
    "conntrack.min",
    "logging.verbosity",
    "nodePortAddresses",
    "featureGates.A",
    "detectLocal",
    "hostnameOverride",
    "enabled",
    "port",
  ]);
  assertEquals(problems[0].message, 'cannot unmarshal string "14" into int32 (line 4)');
  assertStringIncludes(problems[2].message, "cannot unmarshal number 30 into a duration");
  assertEquals(
    problems[7].message,
    'cannot unmarshal string "10.0.0.0/8" into a list of strings (line 14)',
  );
  assertEquals(problems[8].message, 'cannot unmarshal string "maybe" into bool (line 15)');
  assertEquals(problems[11].path, "ClusterDNSConfiguration.enabled");
});

Deno.test("loadConfig() rejects malformed durations with Go's message", () => {
  const problems = problemsOf(
    HEADER + "iptables:\n  syncPeriod: 30\n  minSyncPeriod: 1d\nconfigSyncPeriod: '15'\n" +
      DNS_HEADER + "tcpIdleTimeout: soon\n",
  );
  assertEquals(problems, [
    {
      path: "KubeProxyConfiguration.iptables.syncPeriod",
      message: 'cannot unmarshal number 30 into a duration (a string such as "30s") (line 4)',
    },
    {
      path: "KubeProxyConfiguration.iptables.minSyncPeriod",
      message: 'time: unknown unit "d" in duration "1d" (line 5)',
    },
    {
      path: "KubeProxyConfiguration.configSyncPeriod",
      message: 'time: missing unit in duration "15" (line 6)',
    },
    {
      path: "ClusterDNSConfiguration.tcpIdleTimeout",
      message: 'time: invalid duration "soon" (line 10)',
    },
  ]);
});

Deno.test("loadConfig() follows YAML anchors and treats null as absent", () => {
  const { config } = loadConfig(
    HEADER +
      "iptables: &p\n  syncPeriod: 10s\nnftables: *p\noomScoreAdj: null\nnodePortAddresses:\n",
  );
  assertEquals(config.iptables.syncPeriod, 10_000);
  assertEquals(config.nftables.syncPeriod, 10_000);
  assertEquals(config.oomScoreAdj, -999);
  assertEquals(config.nodePortAddresses, null);
});

Deno.test("loadConfig() expands YAML merge keys, the mapping's own fields winning", () => {
  const { config } = loadConfig(
    HEADER + "iptables: &p\n  syncPeriod: 10s\n  minSyncPeriod: 2s\n" +
      "nftables:\n  minSyncPeriod: 3s\n  <<: *p\n" +
      "conntrack:\n  <<: [{min: 5}, {min: 6, maxPerCore: 7}]\n",
  );
  assertEquals(config.nftables.syncPeriod, 10_000);
  assertEquals(config.nftables.minSyncPeriod, 3_000);
  assertEquals(config.conntrack.min, 5, "the first merged mapping wins");
  assertEquals(config.conntrack.maxPerCore, 7);
  assertEquals(
    loadConfig(HEADER + "x: &a {syncPeriods: 1s}\niptables:\n  <<: *a\n").unknownFields,
    ["KubeProxyConfiguration.x (line 3)", "KubeProxyConfiguration.iptables.syncPeriods (line 3)"],
  );
  assertEquals(
    onlyProblem(HEADER + "iptables:\n  <<: 5\n").message,
    "a merge key (<<) needs a mapping or a list of them (line 4)",
  );
});

Deno.test("renderConfig() writes upstream's defaulted example back unchanged", async () => {
  const text = await Deno.readTextFile(FIXTURE);
  const { config, dns } = loadConfig(text);
  const rendered = renderConfig(config, dns);
  // No DNS document in the file: DNS is off and none is written, so upstream reads it too.
  assertEquals(rendered, text);
  assertEquals(config, defaultConfig().config);
  const [kubeProxy, clusterDns] = renderConfig(config, { ...dns, enabled: true }).split("---\n");
  assertEquals(kubeProxy, text);
  assertStringIncludes(clusterDns, "kind: ClusterDNSConfiguration\n");
  assertStringIncludes(clusterDns, "forwardTimeout: 2s\n");
  assertStringIncludes(clusterDns, "enabled: true\n");
});

Deno.test("renderConfig() output loads back to the same configuration", () => {
  const original = loadConfig(
    HEADER +
      `featureGates: {ServiceTrafficDistribution: true, AllAlpha: false}
mode: iptables
clusterCIDR: 10.244.0.0/16
hostnameOverride: "yes"
showHiddenMetricsForVersion: "1.35"
iptables: {syncPeriod: 1h30m, minSyncPeriod: 250ms, masqueradeAll: true}
ipvs: {excludeCIDRs: [10.0.0.0/8]}
nodePortAddresses: [10.0.0.0/8, 192.168.0.0/16]
conntrack: {maxPerCore: 0, udpTimeout: 1.5s}
logging:
  format: json
  flushFrequency: 1500us
  vmodule: [{filePattern: "a.ts", verbosity: 3}]
  options: {json: {splitStream: true, infoBufferSize: 64Ki}}
` + DNS_HEADER + `port: 5353
clusterDomain: example.org
upstreamServers: ["1.1.1.1:53"]
serviceIPs: [10.96.0.10, fd00::a]
`,
  );
  const text = renderConfig(original.config, original.dns);
  const again = loadConfig(text);
  assertEquals(again, original);
  assertEquals(renderConfig(again.config, again.dns), text);
  assertStringIncludes(text, 'hostnameOverride: "yes"\n');
  assertStringIncludes(text, "syncPeriod: 1h30m0s\n");
  assertStringIncludes(text, "flushFrequency: 1.5ms\n");
  assertStringIncludes(
    text,
    "featureGates:\n  AllAlpha: false\n  ServiceTrafficDistribution: true\n",
  );
  assert(text.indexOf("apiVersion: kubeproxy") < text.indexOf("---\n"));
});

Deno.test("loadConfig() keeps date-like text a string and tolerates a BOM and CRLF lines", () => {
  const { config } = loadConfig(
    "\ufeff" + HEADER.replaceAll("\n", "\r\n") +
      "hostnameOverride: 2001-12-14\r\nmode: iptables\r\n",
  );
  assertEquals(config.hostnameOverride, "2001-12-14");
  assertEquals(config.mode, "iptables");
});

Deno.test("parseYamlDocuments() reads every document with the YAML 1.2 core schema", () => {
  assertEquals(parseYamlDocuments("a: 1\n---\nb: [x, yes]\n---\n"), [
    { a: 1 },
    { b: ["x", "yes"] },
    null,
  ]);
  assertEquals(parseYamlDocuments('{"k": "v"}'), [{ k: "v" }]);
  assertEquals(parseYamlDocuments(""), []);
  assertEquals(parseYamlDocuments("# only a comment\n"), []);
  assertEquals(parseYamlDocuments("expiry: 2019-01-01T00:00:00Z\n"), [{
    expiry: "2019-01-01T00:00:00Z",
  }]);
  for (const bad of ["a: 1\na: 2\n", "a: [1\n", "---\nok: 1\n---\n  - x\n y: 2\n"]) {
    assertThrows(() => parseYamlDocuments(bad), SyntaxError);
  }
});

Deno.test("loadConfig() cuts and escapes an unknown kind and apiVersion in its message", () => {
  const long = "\u001b[31m" + "K".repeat(200);
  const problem = onlyProblem(`apiVersion: "${long}"\nkind: "${long}"\n`);
  assertMatch(problem.message, /^got unexpected config type: \\u001b\[31mK+\.\.\., Kind=\\u001b/);
  assertMatch(problem.message, /^[\x20-\x7e]*$/);
  assert(problem.message.length < 250, problem.message);
});
