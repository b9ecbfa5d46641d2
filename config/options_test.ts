import { assert, assertEquals, assertRejects, assertStringIncludes } from "../tests/assert.ts";
import { renderConfig } from "./load.ts";
import { configureLogging } from "./log.ts";
import {
  ConfigError,
  findBadConfig,
  formatConfigError,
  loadOptions,
  type LoadOptionsDeps,
  type Options,
  writeConfigFile,
} from "./options.ts";

const HEADER = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";
const FIXTURE = new URL("./testdata/upstream_defaulted_v1alpha1.yaml", import.meta.url);
const logLines: string[] = [];
configureLogging({ write: (line) => logLines.push(line) });

/** Dependencies over an in-memory file system and a fixed host name; logging is captured. */
function fakeDeps(files: Record<string, string>, logged: unknown[] = []): LoadOptionsDeps {
  return {
    readTextFile: (path) =>
      path in files
        ? Promise.resolve(files[path])
        : Promise.reject(new Deno.errors.NotFound(`No such file or directory: ${path}`)),
    hostname: () => "Worker-1.Example",
    configureLogging: (settings) => logged.push(settings),
  };
}

async function problemsOf(args: string[], files: Record<string, string> = {}): Promise<string[]> {
  const err = await assertRejects(() => loadOptions(args, fakeDeps(files)), ConfigError);
  return formatConfigError(err).split("\n");
}

Deno.test("loadOptions() without flags gives upstream's defaults plus platform defaults", async () => {
  const logged: unknown[] = [];
  const options = await loadOptions([], fakeDeps({}, logged));
  assertEquals(options.config.mode, "iptables");
  assertEquals(options.config.detectLocalMode, "ClusterCIDR");
  assertEquals(options.config.healthzBindAddress, "0.0.0.0:10256");
  assertEquals(options.config.metricsBindAddress, "127.0.0.1:10249");
  assertEquals(options.nodeName, "worker-1.example");
  assertEquals(options.dns.port, 53);
  assertEquals(options.iptablesBackend, "auto");
  assertEquals(
    [options.cleanup, options.showHelp, options.showVersion, options.writeConfigTo],
    [false, false, false, undefined],
  );
  assertEquals(logged, [{ verbosity: 0, format: "text" }]);
});

Deno.test("loadOptions() maps flags onto the configuration when there is no --config", async () => {
  const logged: unknown[] = [];
  const options = await loadOptions([
    "--kubeconfig=/k.conf",
    "--master=https://10.0.0.1:6443",
    "--hostname-override= Node-A ",
    "--cluster-cidr=10.244.0.0/16",
    "--masquerade-all",
    "--iptables-sync-period=45s",
    "--iptables-min-sync-period=0s",
    "--nodeport-addresses=primary",
    "--conntrack-max-per-core=0",
    "--conntrack-tcp-be-liberal",
    "--healthz-bind-address=127.0.0.1",
    "--metrics-port=0",
    "--iptables-backend=legacy",
    "--logging-format=json",
    "-v",
    "4",
    "--feature-gates=ServiceTrafficDistribution=true",
  ], fakeDeps({}, logged));
  const c = options.config;
  assertEquals(c.clientConnection.kubeconfig, "/k.conf");
  assertEquals(options.master, "https://10.0.0.1:6443");
  assertEquals(options.nodeName, "node-a");
  assertEquals(c.hostnameOverride, "node-a", "trimmed and lowercased, as upstream");
  assertEquals(c.clusterCIDR, "10.244.0.0/16");
  assertEquals(c.iptables.masqueradeAll, true);
  assertEquals(c.iptables.syncPeriod, 45_000);
  assertEquals(c.iptables.minSyncPeriod, 0);
  assertEquals(c.nodePortAddresses, ["primary"]);
  assertEquals(c.conntrack.maxPerCore, 0);
  assertEquals(c.conntrack.tcpBeLiberal, true);
  assertEquals(c.healthzBindAddress, "127.0.0.1:10256");
  assertEquals(c.metricsBindAddress, "", "--metrics-port=0 disables the metrics server");
  assertEquals(c.featureGates, { ServiceTrafficDistribution: true });
  assertEquals(options.iptablesBackend, "legacy");
  assertEquals(logged, [{ verbosity: 4, format: "json" }]);
});

Deno.test("loadOptions() with --config ignores config-mapped flags but applies logging flags", async () => {
  const files = {
    "/kp.yaml": HEADER + "clusterCIDR: 10.1.0.0/16\nlogging:\n  verbosity: 1\n" +
      "  vmodule: [{filePattern: a.ts, verbosity: 2}]\nhostnameOverride: from-file\n",
  };
  const logged: unknown[] = [];
  const options = await loadOptions([
    "--config=/kp.yaml",
    "--cluster-cidr=10.2.0.0/16",
    "--masquerade-all",
    "--v=5",
    "--vmodule=b.ts=3",
    "--cleanup",
  ], fakeDeps(files, logged));
  assertEquals(options.config.clusterCIDR, "10.1.0.0/16");
  assertEquals(options.config.iptables.masqueradeAll, false);
  assertEquals(options.ignoredFlags, ["--masquerade-all", "--cluster-cidr"]);
  const warnings = logLines.filter((l) => l.includes("Flag ignored"));
  assertEquals(warnings.length, 2);
  assertStringIncludes(warnings[1], 'flag="--cluster-cidr"');
  assertEquals(options.config.logging.verbosity, 5);
  assertEquals(options.config.logging.vmodule, [
    { filePattern: "a.ts", verbosity: 2 },
    { filePattern: "b.ts", verbosity: 3 },
  ]);
  assertEquals(options.nodeName, "from-file");
  assertEquals(options.cleanup, true);
  assertEquals(options.configFile, "/kp.yaml");
  assertEquals(logged, [{ verbosity: 5, format: "text" }]);
  const overridden = await loadOptions(
    ["--config", "/kp.yaml", "--hostname-override=Other"],
    fakeDeps(files),
  );
  assertEquals(overridden.nodeName, "other");
  assertEquals(overridden.config.hostnameOverride, "other");
});

Deno.test("loadOptions() loads upstream's defaulted example unchanged", async () => {
  const text = await Deno.readTextFile(FIXTURE);
  const options = await loadOptions(["--config=kp.yaml"], fakeDeps({ "kp.yaml": text }));
  assertEquals(options.config.iptables.syncPeriod, 30_000);
  assertEquals(options.config.mode, "iptables");
  const written = renderConfig(options.config, options.dns).split("---\n")[0];
  const expected = text.replace('detectLocalMode: ""', "detectLocalMode: ClusterCIDR")
    .replace('mode: ""', "mode: iptables");
  assertEquals(written, expected);
});

Deno.test("loadOptions() with --write-config-to round-trips through --config", async () => {
  const files: Record<string, string> = {};
  const first = await loadOptions([
    "--write-config-to=/out.yaml",
    "--cluster-cidr=10.244.0.0/16,fd00:10:244::/56",
    "--nodeport-addresses=10.0.0.0/8",
    "--iptables-sync-period=2m",
    "--hostname-override=node-b",
    "--v=3",
  ], fakeDeps(files));
  assertEquals(first.writeConfigTo, "/out.yaml");
  await writeConfigFile(first, (path, text) => {
    files[path] = text;
    return Promise.resolve();
  });
  // Flags cannot turn DNS on: no DNS document, and reading the file back keeps it off.
  assert(!files["/out.yaml"].includes("ClusterDNSConfiguration"));
  assertStringIncludes(files["/out.yaml"], "syncPeriod: 2m0s\n");
  assert(logLines.some((l) => l.includes('"Wrote configuration" file="/out.yaml"')));
  const second = await loadOptions(["--config=/out.yaml"], fakeDeps(files));
  assertEquals(second.config, first.config);
  assertEquals(second.dns, first.dns);
  assertEquals(second.nodeName, first.nodeName);
});

Deno.test("loadOptions() short-circuits --help and --version", async () => {
  const help: Options = await loadOptions(["--help", "--config=/missing.yaml"], fakeDeps({}));
  assert(help.showHelp);
  assertStringIncludes(help.helpText, "Usage:\n  kube-proxy [flags]");
  const version = await loadOptions(["--version"], fakeDeps({}));
  assert(version.showVersion);
});

Deno.test("loadOptions() rejects ipvs and userspace modes naming the implemented ones", async () => {
  for (const mode of ["ipvs", "userspace"]) {
    const lines = await problemsOf([`--proxy-mode=${mode}`]);
    assertEquals(lines.length, 1);
    assertStringIncludes(lines[0], `Invalid value: "${mode}"`);
    assertStringIncludes(lines[0], "this build implements the iptables and nftables proxy modes");
  }
  const fromFile = await problemsOf(["--config=/kp.yaml"], { "/kp.yaml": HEADER + "mode: ipvs\n" });
  assertStringIncludes(fromFile[0], "this build implements the iptables and nftables proxy modes");
});

Deno.test("loadOptions() applies nftables mode's defaults: iptables-named flags, primary NodePorts", async () => {
  const flags = await loadOptions(
    [
      "--proxy-mode=nftables",
      "--iptables-sync-period=20s",
      "--masquerade-all",
      "--iptables-masquerade-bit=10",
    ],
    fakeDeps({}),
  );
  assertEquals(flags.config.mode, "nftables");
  assertEquals(flags.config.nftables, {
    masqueradeBit: 10,
    masqueradeAll: true,
    syncPeriod: 20_000,
    minSyncPeriod: 1000,
  });
  assertEquals(flags.config.nodePortAddresses, ["primary"]);
  const file = await loadOptions(
    ["--config=/kp.yaml"],
    fakeDeps({
      "/kp.yaml": HEADER + "mode: nftables\nnodePortAddresses: [10.0.0.0/8]\n" +
        "nftables: {masqueradeBit: 12, syncPeriod: 45s}\n",
    }),
  );
  assertEquals(file.config.nftables.masqueradeBit, 12);
  assertEquals(file.config.nftables.syncPeriod, 45_000);
  assertEquals(file.config.nodePortAddresses, ["10.0.0.0/8"]);
  const iptables = await loadOptions([], fakeDeps({}));
  assertEquals(iptables.config.nodePortAddresses, null);
});

Deno.test("loadOptions() reports each bad input with its path, all at once", async () => {
  assertEquals(await problemsOf(["--config=/kp.yaml"], { "/kp.yaml": "" }), [
    "/kp.yaml: the file is empty; expected a KubeProxyConfiguration document",
  ]);
  assertEquals(await problemsOf(["--config=/nope.yaml"]), [
    '--config: failed to read configuration file "/nope.yaml": No such file or directory: /nope.yaml',
  ]);
  assertEquals(await problemsOf(["--no-such-flag", "--v=1"]), ["--no-such-flag: unknown flag"]);
  assertEquals(await problemsOf(["--hostname-override=  "]), [
    "--hostname-override: empty hostname-override is invalid",
  ]);
  const lines = await problemsOf(["--config=/kp.yaml"], {
    "/kp.yaml": HEADER +
      "iptables: {masqueradeBit: 32, syncPeriod: 10s, minSyncPeriod: 1m}\n" +
      "clientConnection: {burst: -1}\nbindAddress: 1.2.3\nhealthzBindAddress: '1.2.3.4:99999'\n" +
      "nodePortAddresses: [10.0.0.0/40]\n---\n" +
      "apiVersion: dns.kubeproxy.config/v1alpha1\nkind: ClusterDNSConfiguration\n" +
      "upstreamServers: ['8.8.8.8:x']\n",
  });
  assertEquals(lines, [
    "KubeProxyConfiguration.KubeProxyIPTablesConfiguration.MasqueradeBit: Invalid value: 32: " +
    "must be within the range [0, 31]",
    "KubeProxyConfiguration.ClientConnection.Burst: Invalid value: -1: must be greater than or " +
    "equal to 0",
    "KubeProxyConfiguration.SyncPeriod: Invalid value: 1m0s: must be greater than or equal to " +
    "KubeProxyConfiguration.MinSyncPeriod",
    'KubeProxyConfiguration.BindAddress: Invalid value: "1.2.3": not a valid textual ' +
    "representation of an IP address",
    'KubeProxyConfiguration.HealthzBindAddress: Invalid value: "99999": must be a valid port',
    'KubeProxyConfiguration.NodePortAddresses[0]: Invalid value: "10.0.0.0/40": must be a ' +
    "valid CIDR",
    'ClusterDNSConfiguration.upstreamServers[0]: Invalid value: "8.8.8.8:x": must have a valid ' +
    "port",
  ]);
  logLines.length = 0;
  const lenient = await loadOptions(
    ["--config=/kp.yaml"],
    fakeDeps({
      "/kp.yaml": HEADER + "newUpstreamField: {a: 1}\n---\n" +
        "apiVersion: dns.kubeproxy.config/v1alpha1\n" +
        "kind: ClusterDNSConfiguration\nupstreams: [1.1.1.1]\n",
    }),
  );
  assertEquals(lenient.config.mode, "iptables");
  const warning = logLines.find((l) => l.includes("Using lenient decoding"));
  assert(warning !== undefined, logLines.join("\n"));
  assertStringIncludes(warning, "KubeProxyConfiguration.newUpstreamField (line 3)");
  assertStringIncludes(warning, "ClusterDNSConfiguration.upstreams (line 7)");
});

Deno.test("findBadConfig() warns about unset nodePortAddresses and a missing clusterCIDR", async () => {
  const loose = await loadOptions([], fakeDeps({}));
  const warnings = findBadConfig(loose.config);
  assertEquals(warnings.length, 2);
  assertStringIncludes(warnings[0], "nodePortAddresses is unset");
  assertStringIncludes(warnings[1], "Missing clusterCIDR");
  assert(logLines.some((l) => l.startsWith("W") && l.includes("nodePortAddresses is unset")));
  const tight = await loadOptions(
    ["--nodeport-addresses=primary", "--cluster-cidr=10.244.0.0/16"],
    fakeDeps({}),
  );
  assertEquals(findBadConfig(tight.config), []);
});
