/**
 * Validation of both configuration documents, reporting every problem at once.
 *
 * The kube-proxy rules, their order, their field paths (upstream's internal Go field names under
 * `KubeProxyConfiguration`) and their messages follow upstream's `validation.go`, so an operator
 * sees the same text as from upstream kube-proxy. Each message has `field.Error`'s shape:
 * `Invalid value: <value>: <detail>`, `Unsupported value: "<v>": supported values: ...`,
 * `Required value: ...`, `Forbidden: ...` or `Duplicate value: ...`.
 *
 * Differences from upstream, on purpose:
 * - `mode` accepts only `iptables`, `nftables` and blank: this build implements no other proxy
 *   mode.
 * - An empty `metricsBindAddress` (reachable only through flags) is accepted and disables the
 *   metrics server, as the `--metrics-bind-address` help text says.
 *
 * @module
 */

import type { ConfigProblem } from "./config_error.ts";

export { ConfigError, type ConfigProblem } from "./config_error.ts";
import { formatDuration } from "./duration.ts";
import { FEATURE_GATES } from "./feature_gates.ts";
import { parseCIDR, parseIP, splitHostPort } from "./ip.ts";
import type { ClusterDNSConfiguration, KubeProxyConfiguration } from "./types.ts";
import { KUBERNETES_MAJOR, KUBERNETES_MINOR } from "./version.ts";

const ROOT = "KubeProxyConfiguration";
const DNS_ROOT = "ClusterDNSConfiguration";
const LOCAL_MODES = ["ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix", ""];
const POD_RECORD_MODES = ["disabled", "insecure"];
const DNS_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS_SUBDOMAIN = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*$`);
const RFC1123_SUBDOMAIN_MESSAGE = "a lowercase RFC 1123 subdomain must consist of lower case " +
  "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character " +
  `(e.g. 'example.com', regex used for validation is '${DNS_LABEL}(\\.${DNS_LABEL})*')`;

/** Go's `%q` for the strings we print (JSON quoting matches it for printable text). */
function q(value: string): string {
  return JSON.stringify(value);
}

function goStringSlice(values: readonly string[]): string {
  return `[]string{${values.map(q).join(", ")}}`;
}

/** Collects problems with upstream's `field.Error` message shapes. */
class Problems {
  readonly list: ConfigProblem[] = [];

  invalid(path: string, shownValue: string, detail: string): void {
    this.list.push({ path, message: `Invalid value: ${shownValue}: ${detail}` });
  }

  notSupported(path: string, value: string, supported: readonly string[]): void {
    this.list.push({
      path,
      message: `Unsupported value: ${q(value)}: supported values: ${supported.map(q).join(", ")}`,
    });
  }

  nonNegative(path: string, value: number, shown = String(value)): void {
    if (value < 0) this.invalid(path, shown, "must be greater than or equal to 0");
  }

  nonNegativeDuration(path: string, ms: number): void {
    this.nonNegative(path, ms, formatDuration(ms));
  }

  inRange(path: string, value: number, min: number, max: number): void {
    if (value < min || value > max) {
      this.invalid(path, String(value), `must be within the range [${min}, ${max}]`);
    }
  }

  /** Upstream's `validateHostPort`. */
  hostPort(path: string, input: string): void {
    const split = splitHostPort(input);
    if (!split) {
      this.invalid(path, q(input), "must be IP:port");
      return;
    }
    if (!parseIP(split.host)) this.invalid(path, q(split.host), "must be a valid IP");
    const port = /^[+-]?[0-9]+$/.test(split.port) ? Number(split.port) : NaN;
    if (!(port >= 1 && port <= 65535)) this.invalid(path, q(split.port), "must be a valid port");
  }
}

/** Upstream's `utilnet.ParsePortRange`: `""`, `N`, `A-B` or `A+N` within [0, 65535]. */
function isPortRange(text: string): boolean {
  const value = text.trim();
  if (value === "") return true;
  const m = value.match(/^([0-9]+)(?:([-+])([0-9]+))?$/);
  if (!m) return false;
  const low = Number(m[1]);
  let high = low;
  if (m[2] === "-") high = Number(m[3]);
  if (m[2] === "+") high = low + Number(m[3]);
  return low <= 65535 && high <= 65535 && low <= high;
}

function validateFeatureGates(cfg: KubeProxyConfiguration, p: Problems): void {
  const unknown = Object.keys(cfg.featureGates).filter((g) => !Object.hasOwn(FEATURE_GATES, g))
    .sort();
  if (unknown.length === 0) return;
  const shown = `map[string]bool{${
    Object.entries(cfg.featureGates).sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${q(k)}:${v}`).join(", ")
  }}`;
  p.invalid(`${ROOT}.featureGates`, shown, `unrecognized feature gate: ${unknown[0]}`);
}

function validateDetectLocal(cfg: KubeProxyConfiguration, p: Problems): void {
  const mode = cfg.detectLocalMode;
  if (!LOCAL_MODES.includes(mode)) {
    p.notSupported(`${ROOT}.DetectLocalMode`, mode, LOCAL_MODES);
    return;
  }
  const path = `${ROOT}.DetectLocalConfiguration`;
  if (mode === "BridgeInterface" && cfg.detectLocal.bridgeInterface === "") {
    p.invalid(`${path}.InterfaceName`, q(""), "must not be empty");
  }
  if (mode === "InterfaceNamePrefix" && cfg.detectLocal.interfaceNamePrefix === "") {
    p.invalid(`${path}.InterfacePrefix`, q(""), "must not be empty");
  }
  if ((mode === "ClusterCIDR" || mode === "") && cfg.clusterCIDR !== "") {
    const cidrs = cfg.clusterCIDR.split(",");
    const parsed = cidrs.map(parseCIDR);
    const dualStack = cidrs.length === 2 && parsed[0] && parsed[1] &&
      parsed[0].ip.family !== parsed[1].ip.family;
    if (cidrs.length > 2 || (cidrs.length === 2 && parsed.every(Boolean) && !dualStack)) {
      p.invalid(
        `${path}.ClusterCIDRs`,
        goStringSlice(cidrs),
        "must be a either a single CIDR or dual-stack pair of CIDRs " +
          "(e.g. [10.100.0.0/16, fde4:8dba:82e1::/48]",
      );
    }
    cidrs.forEach((cidr, i) => {
      if (!parsed[i]) {
        p.invalid(
          `${path}.ClusterCIDRs[${i}]`,
          q(cidr),
          "must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)",
        );
      }
    });
  }
}

function validateLogging(cfg: KubeProxyConfiguration, p: Problems): void {
  const path = `${ROOT}.logging`;
  const logging = cfg.logging;
  if (logging.format !== "text" && logging.format !== "json") {
    p.notSupported(`${path}.format`, logging.format, ["json", "text"]);
  }
  if (logging.verbosity > 2 ** 31 - 1) {
    p.invalid(`${path}.verbosity`, String(logging.verbosity), `Must be <= ${2 ** 31 - 1}`);
  }
  if (logging.vmodule.length > 0 && logging.format !== "text") {
    p.list.push({
      path: `${path}.vmodule`,
      message: "Forbidden: Only supported for text log format",
    });
  }
  logging.vmodule.forEach((item, i) => {
    const where = `${path}.vmodule[${i}]`;
    if (item.filePattern === "") {
      p.list.push({ path: where, message: "Required value: File pattern must not be empty" });
    }
    if (/[=,]/.test(item.filePattern)) {
      p.invalid(where, q(item.filePattern), "File pattern must not contain equal sign or comma");
    }
    if (item.verbosity > 2 ** 31 - 1) {
      p.invalid(where, String(item.verbosity), `Must be <= ${2 ** 31 - 1}`);
    }
  });
}

function validateKubeProxy(cfg: KubeProxyConfiguration, p: Problems): void {
  validateFeatureGates(cfg, p);
  p.inRange(
    `${ROOT}.KubeProxyIPTablesConfiguration.MasqueradeBit`,
    cfg.iptables.masqueradeBit,
    0,
    31,
  );
  if (cfg.mode === "ipvs") {
    const ipvs = `${ROOT}.KubeProxyIPVSConfiguration`;
    p.nonNegativeDuration(`${ipvs}.TCPTimeout`, cfg.ipvs.tcpTimeout);
    p.nonNegativeDuration(`${ipvs}.TCPFinTimeout`, cfg.ipvs.tcpFinTimeout);
    p.nonNegativeDuration(`${ipvs}.UDPTimeout`, cfg.ipvs.udpTimeout);
    (cfg.ipvs.excludeCIDRs ?? []).forEach((cidr, i) => {
      if (!parseCIDR(cidr)) {
        p.invalid(`${ipvs}.ExcludeCidrs[${i}]`, q(cidr), "must be a valid CIDR");
      }
    });
  }
  if (cfg.mode === "nftables") {
    p.inRange(
      `${ROOT}.KubeProxyNFTablesConfiguration.MasqueradeBit`,
      cfg.nftables.masqueradeBit,
      0,
      31,
    );
  }
  const ct = `${ROOT}.KubeProxyLinuxConfiguration.KubeProxyConntrackConfiguration`;
  p.nonNegative(`${ct}.MaxPerCore`, cfg.conntrack.maxPerCore);
  p.nonNegative(`${ct}.Min`, cfg.conntrack.min);
  p.nonNegativeDuration(`${ct}.TCPEstablishedTimeout`, cfg.conntrack.tcpEstablishedTimeout);
  p.nonNegativeDuration(`${ct}.TCPCloseWaitTimeout`, cfg.conntrack.tcpCloseWaitTimeout);
  p.nonNegativeDuration(`${ct}.UDPTimeout`, cfg.conntrack.udpTimeout);
  p.nonNegativeDuration(`${ct}.UDPStreamTimeout`, cfg.conntrack.udpStreamTimeout);
  p.inRange(`${ROOT}.KubeProxyLinuxConfiguration.OOMScoreAdj`, cfg.oomScoreAdj, -1000, 1000);
  if (cfg.mode !== "" && cfg.mode !== "iptables" && cfg.mode !== "nftables") {
    p.invalid(
      `${ROOT}.Mode.ProxyMode`,
      q(cfg.mode),
      "must be iptables, nftables or blank (blank means iptables): this build implements the " +
        "iptables and nftables proxy modes (not ipvs, userspace or kernelspace)",
    );
  }
  p.nonNegative(`${ROOT}.ClientConnection.Burst`, cfg.clientConnection.burst);
  if (cfg.configSyncPeriod <= 0) {
    p.invalid(
      `${ROOT}.ConfigSyncPeriod`,
      formatDuration(cfg.configSyncPeriod),
      "must be greater than 0",
    );
  }
  const periods = cfg.mode === "ipvs"
    ? cfg.ipvs
    : cfg.mode === "nftables"
    ? cfg.nftables
    : cfg.iptables;
  if (periods.syncPeriod <= 0) {
    p.invalid(`${ROOT}.SyncPeriod`, formatDuration(periods.syncPeriod), "must be greater than 0");
  }
  p.nonNegativeDuration(`${ROOT}.MinSyncPeriod`, periods.minSyncPeriod);
  if (periods.minSyncPeriod > periods.syncPeriod) {
    p.invalid(
      `${ROOT}.SyncPeriod`,
      formatDuration(periods.minSyncPeriod),
      `must be greater than or equal to ${ROOT}.MinSyncPeriod`,
    );
  }
  if (!parseIP(cfg.bindAddress)) {
    p.invalid(
      `${ROOT}.BindAddress`,
      q(cfg.bindAddress),
      "not a valid textual representation of an IP address",
    );
  }
  if (cfg.healthzBindAddress !== "") {
    p.hostPort(`${ROOT}.HealthzBindAddress`, cfg.healthzBindAddress);
  }
  if (cfg.metricsBindAddress !== "") {
    p.hostPort(`${ROOT}.MetricsBindAddress`, cfg.metricsBindAddress);
  }
  if (!isPortRange(cfg.portRange)) {
    p.invalid(`${ROOT}.PortRange`, q(cfg.portRange), "must be a valid port range (e.g. 300-2000)");
  }
  const addresses = cfg.nodePortAddresses ?? [];
  for (let i = 0; i < addresses.length; i++) {
    if (addresses[i] === "primary") {
      if (addresses.length !== 1) {
        p.invalid(
          `${ROOT}.NodePortAddresses[${i}]`,
          q(addresses[i]),
          "can't use both 'primary' and CIDRs",
        );
      }
      continue;
    }
    if (!parseCIDR(addresses[i])) {
      p.invalid(`${ROOT}.NodePortAddresses[${i}]`, q(addresses[i]), "must be a valid CIDR");
    }
  }
  const hidden = cfg.showHiddenMetricsForVersion;
  const previous = `${KUBERNETES_MAJOR}.${KUBERNETES_MINOR - 1}`;
  if (hidden !== "" && hidden !== previous) {
    p.invalid(
      `${ROOT}.ShowHiddenMetricsForVersion`,
      q(hidden),
      `--show-hidden-metrics-for-version must be omitted or have the value '${previous}'. ` +
        "Only the previous minor version is allowed",
    );
  }
  validateDetectLocal(cfg, p);
  validateLogging(cfg, p);
}

function validateDns(dns: ClusterDNSConfiguration, p: Problems): void {
  if (!parseIP(dns.bindAddress)) {
    p.invalid(`${DNS_ROOT}.bindAddress`, q(dns.bindAddress), "must be a valid IP address");
  }
  p.inRange(`${DNS_ROOT}.port`, dns.port, 0, 65535);
  const domain = dns.clusterDomain;
  if (domain.length > 253 || !DNS_SUBDOMAIN.test(domain)) {
    p.invalid(`${DNS_ROOT}.clusterDomain`, q(domain), RFC1123_SUBDOMAIN_MESSAGE);
  }
  p.inRange(`${DNS_ROOT}.ttl`, dns.ttl, 0, 3600);
  dns.upstreamServers.forEach((server, i) => {
    const where = `${DNS_ROOT}.upstreamServers[${i}]`;
    if (parseIP(server)) return;
    const split = splitHostPort(server);
    if (!split || !parseIP(split.host)) {
      p.invalid(where, q(server), "must be an IP address or IP:port (IPv6 as [IP]:port)");
      return;
    }
    const port = /^[0-9]+$/.test(split.port) ? Number(split.port) : NaN;
    if (!(port >= 1 && port <= 65535)) p.invalid(where, q(server), "must have a valid port");
  });
  if (dns.forwardTimeout <= 0) {
    p.invalid(
      `${DNS_ROOT}.forwardTimeout`,
      formatDuration(dns.forwardTimeout),
      "must be greater than 0",
    );
  }
  if (dns.maxConcurrentForwards <= 0) {
    p.invalid(
      `${DNS_ROOT}.maxConcurrentForwards`,
      String(dns.maxConcurrentForwards),
      "must be greater than 0",
    );
  }
  if (dns.tcpIdleTimeout <= 0) {
    p.invalid(
      `${DNS_ROOT}.tcpIdleTimeout`,
      formatDuration(dns.tcpIdleTimeout),
      "must be greater than 0",
    );
  }
  if (!POD_RECORD_MODES.includes(dns.podRecords)) {
    p.notSupported(`${DNS_ROOT}.podRecords`, dns.podRecords, POD_RECORD_MODES);
  }
  const seen = new Set<string>();
  dns.serviceIPs.forEach((ip, i) => {
    const where = `${DNS_ROOT}.serviceIPs[${i}]`;
    if (!parseIP(ip)) {
      p.invalid(where, q(ip), "must be a valid IP address");
    } else if (seen.has(ip)) {
      p.list.push({ path: where, message: `Duplicate value: ${q(ip)}` });
    }
    seen.add(ip);
  });
  dns.allowedClients.forEach((cidr, i) => {
    if (!parseCIDR(cidr)) {
      p.invalid(`${DNS_ROOT}.allowedClients[${i}]`, q(cidr), "must be a valid CIDR");
    }
  });
}

/**
 * Validates the resolved configuration (file or flags, after defaulting) and returns every
 * problem, in upstream's order, then those of the DNS document. An empty list means valid.
 *
 * @param cfg The kube-proxy document.
 * @param dns The DNS document.
 * @returns The problems, each `{ path, message }`.
 * @example
 * ```ts
 * const { config, dns } = defaultConfig();
 * validateConfig({ ...config, oomScoreAdj: 2000 }, dns);
 * // [{ path: "KubeProxyConfiguration.KubeProxyLinuxConfiguration.OOMScoreAdj",
 * //    message: "Invalid value: 2000: must be within the range [-1000, 1000]" }]
 * ```
 */
export function validateConfig(
  cfg: KubeProxyConfiguration,
  dns: ClusterDNSConfiguration,
): ConfigProblem[] {
  const p = new Problems();
  validateKubeProxy(cfg, p);
  validateDns(dns, p);
  return p.list;
}
