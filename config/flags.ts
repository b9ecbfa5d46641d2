/**
 * kube-proxy's command line: the upstream flags that matter on Linux, with upstream's names,
 * value syntax (pflag: `--flag=value`, `--flag value`, `-v 2`, `-v=2`, `--bool`,
 * `--bool=false`, repeated list flags append) and help layout. The only importer of
 * `commander`, which does the tokenizing; values are parsed here with Go's rules
 * (`strconv.ParseInt(s, 0, 32)`, `strconv.ParseBool`, `time.ParseDuration`).
 *
 * This file only parses. How the flags combine with `--config` is `options.ts`'s job; the table
 * below says which configuration field each flag maps to and which flags still apply when a
 * configuration file is given.
 *
 * @module
 */

import { Command, CommanderError, Option } from "commander";
import type { ConfigProblem } from "./config_error.ts";
import { ConfigError } from "./config_error.ts";
import { parseDuration } from "./duration.ts";
import { parseIP, splitHostPort } from "./ip.ts";
import { isQuantity, QUANTITY_FORMAT_MESSAGE } from "./schema.ts";

/** How a flag's value is parsed. */
export type FlagType =
  | "string"
  | "bool"
  | "int32"
  | "float32"
  | "duration"
  | "strings"
  | "mapStringBool"
  | "ipport"
  | "level"
  | "moduleSpec"
  | "version"
  | "backend"
  | "quantity";

/** One command-line flag. */
export interface FlagSpec {
  /** Long name without dashes. */
  readonly name: string;
  /** One-letter short name. */
  readonly short?: string;
  /** Value syntax. */
  readonly type: FlagType;
  /** Type name shown in `--help` (pflag's), when it differs from `type`. */
  readonly typeName?: string;
  /** Default shown in `--help`, already formatted (`"0.0.0.0"`, `14`, `30s`). */
  readonly def?: string;
  /** Help text. */
  readonly usage: string;
  /** The `KubeProxyConfiguration` field (JSON path) the flag sets, if it maps to one. */
  readonly target?: string;
  /** A logging flag: applied on top of `--config` when set. */
  readonly logging?: boolean;
  /** Deprecation notice; deprecated flags still work but are not listed in `--help`. */
  readonly deprecated?: string;
}

/** A parsed flag value. */
export type FlagValue =
  | string
  | boolean
  | number
  | readonly string[]
  | Readonly<Record<string, boolean>>;

const IGNORED = " This parameter is ignored if a config file is specified by --config.";

/** Every flag this build accepts, in upstream's terms. */
export const FLAGS: readonly FlagSpec[] = [
  { name: "config", type: "string", usage: "The path to the configuration file." },
  {
    name: "write-config-to",
    type: "string",
    usage: "If set, write the effective configuration (both documents, fully defaulted) to this " +
      "file and exit.",
  },
  {
    name: "cleanup",
    type: "bool",
    usage: "If true, remove the iptables rules this proxy created and exit.",
  },
  {
    name: "init-only",
    type: "bool",
    usage: "If true, do the privileged node set-up (sysctls, conntrack limits) and exit.",
  },
  {
    name: "iptables-backend",
    type: "backend",
    typeName: "string",
    def: '"auto"',
    usage: "Which iptables to drive: 'nft' (iptables-nft), 'legacy' (iptables-legacy) or 'auto' " +
      "(pick the one the node already uses). An extension of this build.",
  },
  {
    name: "feature-gates",
    type: "mapStringBool",
    target: "featureGates",
    usage: "A set of key=value pairs that describe feature gates, as Name=true|false,..." + IGNORED,
  },
  {
    name: "kubeconfig",
    type: "string",
    target: "clientConnection.kubeconfig",
    usage: "Path to a kubeconfig file with authorization information (the API server location " +
      "can be overridden by --master).",
  },
  {
    name: "master",
    type: "string",
    usage: "The address of the Kubernetes API server (overrides any value in the kubeconfig).",
  },
  {
    name: "kube-api-content-type",
    type: "string",
    target: "clientConnection.contentType",
    def: '"application/vnd.kubernetes.protobuf"',
    usage: "Content type of requests sent to the API server.",
  },
  {
    name: "kube-api-burst",
    type: "int32",
    target: "clientConnection.burst",
    def: "10",
    usage: "Burst to use while talking with the Kubernetes API server.",
  },
  {
    name: "kube-api-qps",
    type: "float32",
    target: "clientConnection.qps",
    def: "5",
    usage: "QPS to use while talking with the Kubernetes API server.",
  },
  {
    name: "hostname-override",
    type: "string",
    usage: "If non-empty, will be used as the name of the Node that kube-proxy is running on. If " +
      "unset, the node name is assumed to be the same as the node's hostname. Applied even when " +
      "--config is given.",
  },
  {
    name: "bind-address",
    type: "string",
    target: "bindAddress",
    def: '"0.0.0.0"',
    usage: "Overrides kube-proxy's idea of what its node's primary IP is. It is not a listen " +
      "address: the proxy binds no socket to it." + IGNORED,
  },
  {
    name: "healthz-bind-address",
    type: "ipport",
    target: "healthzBindAddress",
    def: "0.0.0.0:10256",
    usage: "The IP address and port for the health check server to serve on; a bare IP gets the " +
      "default port." + IGNORED,
  },
  {
    name: "metrics-bind-address",
    type: "ipport",
    target: "metricsBindAddress",
    def: "127.0.0.1:10249",
    usage: "The IP address and port for the metrics server to serve on; a bare IP gets the " +
      "default port. Set empty to disable." + IGNORED,
  },
  {
    name: "bind-address-hard-fail",
    type: "bool",
    target: "bindAddressHardFail",
    usage: "If true kube-proxy will treat failure to bind to a port as fatal and exit.",
  },
  {
    name: "profiling",
    type: "bool",
    target: "enableProfiling",
    usage: "If true enables profiling via web interface on /debug/pprof handler (not implemented " +
      "by this build)." + IGNORED,
  },
  {
    name: "show-hidden-metrics-for-version",
    type: "string",
    target: "showHiddenMetricsForVersion",
    usage: "The previous minor version for which to show hidden metrics, such as 1.35." + IGNORED,
  },
  {
    name: "proxy-mode",
    type: "string",
    typeName: "ProxyMode",
    target: "mode",
    usage: "Which proxy mode to use: this build implements only 'iptables' (the default)." +
      IGNORED,
  },
  {
    name: "iptables-masquerade-bit",
    type: "int32",
    target: "iptables.masqueradeBit",
    def: "14",
    usage: "The bit of the fwmark space to mark packets requiring SNAT with. Must be within the " +
      "range [0, 31].",
  },
  {
    name: "masquerade-all",
    type: "bool",
    target: "iptables.masqueradeAll",
    usage: "SNAT all traffic sent via Service cluster IPs.",
  },
  {
    name: "iptables-localhost-nodeports",
    type: "bool",
    target: "iptables.localhostNodePorts",
    def: "true",
    usage: "If false, kube-proxy will disable the legacy behavior of allowing NodePort services " +
      "to be accessed via localhost.",
  },
  {
    name: "iptables-sync-period",
    type: "duration",
    target: "iptables.syncPeriod",
    def: "30s",
    usage: "An interval (e.g. '5s', '1m', '2h22m') indicating how frequently various " +
      "re-synchronizing and cleanup operations are performed. Must be greater than 0.",
  },
  {
    name: "iptables-min-sync-period",
    type: "duration",
    target: "iptables.minSyncPeriod",
    def: "1s",
    usage: "The minimum period between iptables rule resyncs (e.g. '5s', '1m', '2h22m'). A value " +
      "of 0 means every Service or EndpointSlice change will result in an immediate resync.",
  },
  {
    name: "ipvs-sync-period",
    type: "duration",
    target: "ipvs.syncPeriod",
    def: "30s",
    usage: "Accepted for compatibility; this build has no IPVS mode.",
  },
  {
    name: "ipvs-min-sync-period",
    type: "duration",
    target: "ipvs.minSyncPeriod",
    def: "0s",
    usage: "Accepted for compatibility; this build has no IPVS mode.",
  },
  {
    name: "ipvs-scheduler",
    type: "string",
    target: "ipvs.scheduler",
    usage: "Accepted for compatibility; this build has no IPVS mode.",
  },
  {
    name: "ipvs-exclude-cidrs",
    type: "strings",
    target: "ipvs.excludeCIDRs",
    usage: "Accepted for compatibility; this build has no IPVS mode.",
  },
  {
    name: "ipvs-strict-arp",
    type: "bool",
    target: "ipvs.strictARP",
    usage: "Accepted for compatibility; this build has no IPVS mode.",
  },
  {
    name: "ipvs-tcp-timeout",
    type: "duration",
    target: "ipvs.tcpTimeout",
    def: "0s",
    usage: "Accepted for compatibility; this build has no IPVS mode.",
  },
  {
    name: "ipvs-tcpfin-timeout",
    type: "duration",
    target: "ipvs.tcpFinTimeout",
    def: "0s",
    usage: "Accepted for compatibility; this build has no IPVS mode.",
  },
  {
    name: "ipvs-udp-timeout",
    type: "duration",
    target: "ipvs.udpTimeout",
    def: "0s",
    usage: "Accepted for compatibility; this build has no IPVS mode.",
  },
  {
    name: "detect-local-mode",
    type: "string",
    typeName: "LocalMode",
    target: "detectLocalMode",
    usage: "Mode to use to detect local traffic: ClusterCIDR (the default), NodeCIDR, " +
      "BridgeInterface or InterfaceNamePrefix." + IGNORED,
  },
  {
    name: "pod-bridge-interface",
    type: "string",
    target: "detectLocal.bridgeInterface",
    usage: "A bridge interface name. When --detect-local-mode is BridgeInterface, traffic from " +
      "this bridge is considered local.",
  },
  {
    name: "pod-interface-name-prefix",
    type: "string",
    target: "detectLocal.interfaceNamePrefix",
    usage: "An interface name prefix. When --detect-local-mode is InterfaceNamePrefix, traffic " +
      "from interfaces with this prefix is considered local.",
  },
  {
    name: "cluster-cidr",
    type: "string",
    target: "clusterCIDR",
    usage: "The CIDR range of the pods in the cluster (for dual-stack, a comma-separated pair). " +
      "Used with --detect-local-mode=ClusterCIDR to tell traffic from pods from other traffic." +
      IGNORED,
  },
  {
    name: "nodeport-addresses",
    type: "strings",
    target: "nodePortAddresses",
    usage: "A list of CIDR ranges that contain valid node IPs, or 'primary'. Connections to " +
      "NodePort services are accepted only on node IPs in these ranges; unset means all local " +
      "IPs." + IGNORED,
  },
  {
    name: "oom-score-adj",
    type: "int32",
    target: "oomScoreAdj",
    def: "-999",
    usage: "The oom-score-adj value for the kube-proxy process. Must be within the range " +
      "[-1000, 1000]." + IGNORED,
  },
  {
    name: "conntrack-max-per-core",
    type: "int32",
    target: "conntrack.maxPerCore",
    def: "32768",
    usage: "Maximum number of NAT connections to track per CPU core (0 to leave the limit " +
      "as-is and ignore conntrack-min).",
  },
  {
    name: "conntrack-min",
    type: "int32",
    target: "conntrack.min",
    def: "131072",
    usage: "Minimum number of conntrack entries to allocate, regardless of " +
      "conntrack-max-per-core (set conntrack-max-per-core=0 to leave the limit as-is).",
  },
  {
    name: "conntrack-tcp-timeout-established",
    type: "duration",
    target: "conntrack.tcpEstablishedTimeout",
    def: "24h0m0s",
    usage: "Idle timeout for established TCP connections (0 to leave as-is).",
  },
  {
    name: "conntrack-tcp-timeout-close-wait",
    type: "duration",
    target: "conntrack.tcpCloseWaitTimeout",
    def: "1h0m0s",
    usage: "NAT timeout for TCP connections in the CLOSE_WAIT state.",
  },
  {
    name: "conntrack-tcp-be-liberal",
    type: "bool",
    target: "conntrack.tcpBeLiberal",
    usage: "Enable liberal mode for tracking TCP packets by setting nf_conntrack_tcp_be_liberal " +
      "to 1.",
  },
  {
    name: "conntrack-udp-timeout",
    type: "duration",
    target: "conntrack.udpTimeout",
    def: "0s",
    usage: "Idle timeout for UNREPLIED UDP connections (0 to leave as-is).",
  },
  {
    name: "conntrack-udp-timeout-stream",
    type: "duration",
    target: "conntrack.udpStreamTimeout",
    def: "0s",
    usage: "Idle timeout for ASSURED UDP connections (0 to leave as-is).",
  },
  {
    name: "config-sync-period",
    type: "duration",
    target: "configSyncPeriod",
    def: "15m0s",
    usage: "How often configuration from the apiserver is refreshed. Must be greater than 0.",
  },
  {
    name: "healthz-port",
    type: "int32",
    def: "10256",
    usage: "The port to bind the health check server. Use 0 to disable.",
    deprecated: "This flag is deprecated and will be removed in a future release. Please use " +
      "--healthz-bind-address instead.",
  },
  {
    name: "metrics-port",
    type: "int32",
    def: "10249",
    usage: "The port to bind the metrics server. Use 0 to disable.",
    deprecated: "This flag is deprecated and will be removed in a future release. Please use " +
      "--metrics-bind-address instead.",
  },
  {
    name: "proxy-port-range",
    type: "string",
    target: "portRange",
    usage: "This was previously used to configure the userspace proxy, but is now unused.",
    deprecated: "This flag has no effect and will be removed in a future release.",
  },
  {
    name: "v",
    short: "v",
    type: "level",
    typeName: "Level",
    target: "logging.verbosity",
    logging: true,
    usage: "number for the log level verbosity",
  },
  {
    name: "vmodule",
    type: "moduleSpec",
    typeName: "pattern=N,...",
    target: "logging.vmodule",
    logging: true,
    usage: "comma-separated list of pattern=N settings for file-filtered logging (only works " +
      "for text log format)",
  },
  {
    name: "logging-format",
    type: "string",
    target: "logging.format",
    logging: true,
    def: '"text"',
    usage: 'Sets the log format. Permitted formats: "json", "text".',
  },
  {
    name: "log-flush-frequency",
    type: "duration",
    target: "logging.flushFrequency",
    logging: true,
    def: "5s",
    usage: "Maximum number of seconds between log flushes",
  },
  {
    name: "log-json-info-buffer-size",
    type: "quantity",
    target: "logging.options.json.infoBufferSize",
    logging: true,
    usage: "[Alpha] In JSON format with split output streams, the info messages can be buffered " +
      "for a while to increase performance. The default value of zero bytes disables buffering.",
  },
  {
    name: "log-json-split-stream",
    type: "bool",
    target: "logging.options.json.splitStream",
    logging: true,
    usage: "[Alpha] In JSON format, write error messages to stderr and info messages to stdout.",
  },
  {
    name: "log-text-info-buffer-size",
    type: "quantity",
    target: "logging.options.text.infoBufferSize",
    logging: true,
    usage: "[Alpha] In text format with split output streams, the info messages can be buffered " +
      "for a while to increase performance. The default value of zero bytes disables buffering.",
  },
  {
    name: "log-text-split-stream",
    type: "bool",
    target: "logging.options.text.splitStream",
    logging: true,
    usage: "[Alpha] In text format, write error messages to stderr and info messages to stdout.",
  },
  {
    name: "version",
    type: "version",
    typeName: "version[=true]",
    usage: "--version, --version=raw prints version information and quits; --version=vX.Y.Z... " +
      "sets the reported version",
  },
  { name: "help", short: "h", type: "bool", usage: "help for kube-proxy" },
];

/** A flag table indexed by long and short name. */
interface FlagIndex {
  readonly byName: ReadonlyMap<string, FlagSpec>;
  readonly byShort: ReadonlyMap<string, FlagSpec>;
}

function indexFlags(table: readonly FlagSpec[]): FlagIndex {
  return {
    byName: new Map(table.map((f) => [f.name, f])),
    byShort: new Map(table.filter((f) => f.short).map((f) => [f.short!, f])),
  };
}

/** The result of parsing the command line. */
export interface ParsedFlags {
  /** Flags given explicitly, by long name, in the order first seen (list flags accumulated). */
  readonly set: ReadonlyMap<string, FlagValue>;
}

/** Go's `strconv.ParseBool`. */
function parseGoBool(text: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return undefined;
}

/** Go's `strconv.ParseInt(text, 0, bits)`, as pflag's integer flags. */
function parseGoInt(text: string, min: number, max: number): number {
  const m = text.match(/^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/);
  if (!m) {
    throw new SyntaxError(`strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`);
  }
  const body = m[2];
  let n: number;
  if (/^0[xXoObB]/.test(body)) n = Number(body.toLowerCase());
  else if (body.length > 1 && body.startsWith("0")) n = parseInt(body.slice(1), 8);
  else n = Number(body);
  if (m[1] === "-") n = -n;
  if (n < min || n > max) {
    throw new RangeError(
      `strconv.ParseInt: parsing ${JSON.stringify(text)}: value out of range`,
    );
  }
  return n;
}

function parseValue(spec: FlagSpec, raw: string, previous: FlagValue | undefined): FlagValue {
  switch (spec.type) {
    case "string":
      return raw;
    case "bool":
    case "version": {
      const b = parseGoBool(raw);
      if (b !== undefined) return b;
      if (spec.type === "version") return raw;
      throw new SyntaxError(`strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`);
    }
    case "int32":
      return parseGoInt(raw, -(2 ** 31), 2 ** 31 - 1);
    case "level": {
      if (!/^[0-9]+$/.test(raw) || Number(raw) > 2 ** 32 - 1) {
        throw new SyntaxError(`strconv.ParseUint: parsing ${JSON.stringify(raw)}: invalid syntax`);
      }
      return Number(raw);
    }
    case "float32": {
      const trimmed = raw.trim();
      const n = trimmed === raw && raw !== "" ? Number(raw) : NaN;
      if (!Number.isFinite(n)) {
        throw new SyntaxError(`strconv.ParseFloat: parsing ${JSON.stringify(raw)}: invalid syntax`);
      }
      return n;
    }
    case "duration":
      return parseDuration(raw);
    case "strings": {
      const items = raw === "" ? [] : raw.split(",").map((s) => s.trim());
      return [...((previous as string[] | undefined) ?? []), ...items];
    }
    case "mapStringBool": {
      const out: Record<string, boolean> = { ...(previous as Record<string, boolean> ?? {}) };
      for (const item of raw.split(",")) {
        const s = item.trim();
        if (s === "") continue;
        const eq = s.indexOf("=");
        if (eq < 0) throw new SyntaxError(`missing bool value for ${s}`);
        const b = parseGoBool(s.slice(eq + 1).trim());
        if (b === undefined) {
          throw new SyntaxError(
            `invalid value of ${s}, err: strconv.ParseBool: parsing ` +
              `${JSON.stringify(s.slice(eq + 1).trim())}: invalid syntax`,
          );
        }
        out[s.slice(0, eq).trim()] = b;
      }
      return out;
    }
    case "moduleSpec": {
      const out = [...((previous as string[] | undefined) ?? [])];
      for (const item of raw.split(",")) {
        if (item === "") continue;
        const parts = item.split("=");
        if (parts.length !== 2) {
          throw new SyntaxError(`${JSON.stringify(item)} does not have the pattern=N format`);
        }
        if (!/^[0-9]+$/.test(parts[1])) {
          throw new SyntaxError(
            `parsing verbosity in ${JSON.stringify(item)}: strconv.ParseUint: ` +
              `parsing ${JSON.stringify(parts[1])}: invalid syntax`,
          );
        }
        out.push(item);
      }
      return out;
    }
    case "ipport": {
      if (raw === "" || parseIP(raw)) return raw;
      const split = splitHostPort(raw);
      if (split && parseIP(split.host) && /^[0-9]+$/.test(split.port)) return raw;
      throw new SyntaxError(`${JSON.stringify(raw)} is not in a valid format (ip or ip:port)`);
    }
    case "quantity":
      if (isQuantity(raw)) return raw;
      throw new SyntaxError(QUANTITY_FORMAT_MESSAGE);
    case "backend":
      if (raw === "auto" || raw === "nft" || raw === "legacy") return raw;
      throw new SyntaxError(`must be one of "auto", "nft" or "legacy"`);
  }
}

/** Rewrites `-v=2` (pflag's shorthand-with-equals) as `-v 2`, which commander understands. */
function normalizeShorthand(args: readonly string[], index: FlagIndex): string[] {
  const out: string[] = [];
  for (const arg of args) {
    const m = arg.match(/^-([a-zA-Z])=(.*)$/s);
    if (m && index.byShort.has(m[1])) out.push(`-${m[1]}`, m[2]);
    else out.push(arg);
  }
  return out;
}

/**
 * Finds what pflag would take as positional arguments (which kube-proxy rejects): a word after
 * a boolean flag given without `=`, anything after `--`, any other stray word.
 */
function findStrayArguments(args: readonly string[], index: FlagIndex): string[] {
  const stray: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") return [...stray, ...args.slice(i + 1)];
    if (!arg.startsWith("-") || arg === "-") {
      stray.push(arg);
      continue;
    }
    if (arg.includes("=")) continue;
    const spec = arg.startsWith("--")
      ? index.byName.get(arg.slice(2))
      : index.byShort.get(arg.slice(1));
    if (!spec) continue;
    if (spec.type !== "bool" && spec.type !== "version") i++; // the flag's value
  }
  return stray;
}

/**
 * Parses the command line with pflag's rules. Every bad value is reported, not only the first.
 *
 * @param args The arguments after the program name.
 * @returns The flags given explicitly.
 * @throws {ConfigError} For an unknown flag, a flag without its value, a value that does not
 * parse (`--iptables-sync-period=5x`), or a stray argument.
 * @example
 * ```ts
 * parseFlags(["--v=2", "--masquerade-all"]).set; // Map { "v" => 2, "masquerade-all" => true }
 * ```
 */
export function parseFlags(args: readonly string[]): ParsedFlags {
  return parseFlagTable(args, FLAGS, "kube-proxy");
}

/**
 * Parses a command line against any flag table with pflag's rules, as {@linkcode parseFlags}
 * does for kube-proxy's own flags (subcommands such as `kube-proxy trace` have their own table).
 *
 * @param args The arguments after the program (and subcommand) name.
 * @param table The flags accepted.
 * @param command The command's name, for the stray-argument message.
 * @returns The flags given explicitly.
 * @throws {ConfigError} As {@linkcode parseFlags}.
 * @example
 * ```ts
 * parseFlagTable(["--output=json"], [{ name: "output", type: "string", usage: "" }], "kube-proxy trace");
 * ```
 */
export function parseFlagTable(
  args: readonly string[],
  table: readonly FlagSpec[],
  command: string,
): ParsedFlags {
  const index = indexFlags(table);
  const problems: ConfigProblem[] = [];
  const set = new Map<string, FlagValue>();
  const program = new Command(command)
    .exitOverride()
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  for (const spec of table) {
    const boolish = spec.type === "bool" || spec.type === "version";
    const names = (spec.short ? `-${spec.short}, ` : "") +
      `--${spec.name} ${boolish ? "[value]" : "<value>"}`;
    const option = new Option(names).argParser((raw: string) => {
      try {
        set.set(spec.name, parseValue(spec, raw, set.get(spec.name)));
      } catch (err) {
        problems.push({
          path: `--${spec.name}`,
          message: `invalid argument ${JSON.stringify(raw)}: ${(err as Error).message}`,
        });
      }
      return raw;
    });
    if (boolish) option.preset("true");
    program.addOption(option);
  }
  const normalized = normalizeShorthand(args, index);
  try {
    program.parse(normalized, { from: "user" });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    const m = err.message.match(/option '(?:-\w, )?(--[\w-]+)/);
    problems.push({
      path: m ? m[1] : "command line",
      message: err.code === "commander.optionMissingArgument"
        ? "flag needs an argument"
        : err.message.replace(/^error: /, ""),
    });
    throw new ConfigError(problems);
  }
  const unknown = program.args.filter((a) => a.startsWith("-") && a !== "-" && a !== "--");
  for (const arg of unknown) {
    const name = arg.split("=")[0];
    problems.push({ path: name, message: "unknown flag" });
  }
  if (unknown.length === 0) {
    const stray = findStrayArguments(normalized, index);
    if (stray.length > 0) {
      problems.push({
        path: "command line",
        message: `"${command}" does not take any arguments, got ${
          JSON.stringify(stray)
        } (a boolean flag takes its value as --flag=false)`,
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { set };
}

/**
 * The `--help` text, laid out as cobra/pflag print it: a description, `Usage:`, then one line
 * per flag, sorted, with the type name and the default.
 *
 * @returns The help text, ending with a newline.
 */
export function renderHelp(): string {
  return [
    "The Kubernetes network proxy runs on each node. This build implements the iptables proxy",
    "mode and answers cluster DNS queries from the same watch of the Kubernetes API: Services",
    "and EndpointSlices become iptables rules (ClusterIP, NodePort, LoadBalancer, externalIPs)",
    "and DNS records (<service>.<namespace>.svc.<cluster domain>).",
    "",
    "Usage:",
    "  kube-proxy [flags]",
    "",
    "Flags:",
    ...renderFlagRows(FLAGS),
    "",
    "Commands:",
    "  trace   follow a packet through this node's rules (kube-proxy trace --help)",
    "",
  ].join("\n");
}

/**
 * The flag lines of a `--help` text, as pflag prints them: sorted, with the type name and the
 * default, deprecated flags left out.
 *
 * @param table The flags.
 * @returns One line per flag.
 */
export function renderFlagRows(table: readonly FlagSpec[]): string[] {
  const rows = table.filter((f) => !f.deprecated)
    .slice()
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((f) => {
      let left = f.short ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
      if (f.type !== "bool") left += ` ${f.typeName ?? f.type}`;
      const usage = f.def !== undefined && f.def !== "false" && f.def !== "0s"
        ? `${f.usage} (default ${f.def})`
        : f.usage;
      return [left, usage] as const;
    });
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, usage]) => `${left.padEnd(width)}   ${usage}`);
}
