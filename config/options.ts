/**
 * The one entry point `main.ts` calls: command line + configuration file → validated options.
 *
 * Precedence follows upstream's `Options.Complete`:
 * 1. Without `--config`, the configuration is upstream's defaults with every explicitly set
 *    flag applied on top; the deprecated `--healthz-port`/`--metrics-port` are folded into the
 *    listen addresses (port 0 disables the server) unless `--write-config-to` is given.
 * 2. With `--config`, the file replaces all of that: config-mapped flags are ignored (and a
 *    warning names them), except the logging flags (`-v`, `--vmodule` appended,
 *    `--logging-format`, `--log-flush-frequency`, `--log-*`), which are copied onto the file's
 *    `logging` section. `--hostname-override`, `--master`, `--cleanup`, `--init-only`,
 *    `--write-config-to` and `--iptables-backend` always apply.
 * 3. Then the platform defaults: `mode: ""` → `iptables`, `detectLocalMode: ""` → `ClusterCIDR`.
 * 4. Then `--hostname-override` and the node name (trimmed, lowercased; else the host name).
 * 5. Then validation of both documents: every problem is reported in one `ConfigError`.
 *
 * @module
 */

import { ConfigError, type ConfigProblem } from "./config_error.ts";
import { FLAGS, type FlagValue, parseFlags, renderHelp } from "./flags.ts";
import {
  DEFAULT_HEALTHZ_PORT,
  DEFAULT_METRICS_PORT,
  defaultConfig,
  loadConfig,
  readConfigFile,
  renderConfig,
} from "./load.ts";
import { appendPortIfNeeded } from "./ip.ts";
import { configureLogging, log, type LogFormat } from "./log.ts";
import type { ClusterDNSConfiguration, KubeProxyConfiguration } from "./types.ts";
import { validateConfig } from "./validate.ts";

export { ConfigError, formatConfigError } from "./config_error.ts";

/** Which iptables binaries to drive (`--iptables-backend`, an extension of this build). */
export type IptablesBackend = "auto" | "nft" | "legacy";

/** Everything `main.ts` needs to start (or to print help, the version, or write the config). */
export interface Options {
  /** The effective kube-proxy configuration, validated, with platform defaults applied. */
  readonly config: KubeProxyConfiguration;
  /** The effective DNS configuration, validated. */
  readonly dns: ClusterDNSConfiguration;
  /** This node's name: `hostnameOverride` or the host name, trimmed and lowercased. */
  readonly nodeName: string;
  /** `--cleanup`: remove this proxy's rules and exit. */
  readonly cleanup: boolean;
  /** `--init-only`: do the privileged node set-up and exit. */
  readonly initOnly: boolean;
  /** `--write-config-to`: write `renderConfig(config, dns)` here and exit. */
  readonly writeConfigTo?: string;
  /** `--version` was given: print `versionString()` and exit. */
  readonly showVersion: boolean;
  /** `--help` was given: print `helpText` and exit. */
  readonly showHelp: boolean;
  /** The `--help` text. */
  readonly helpText: string;
  /** `--master`: API server URL overriding the kubeconfig's. */
  readonly master?: string;
  /** `--iptables-backend`. */
  readonly iptablesBackend: IptablesBackend;
  /** The file given with `--config`, if any. */
  readonly configFile?: string;
  /** Config-mapped flags that were given but ignored because `--config` was given. */
  readonly ignoredFlags: readonly string[];
}

/** What {@linkcode loadOptions} reads from the outside world; tests replace it. */
export interface LoadOptionsDeps {
  /** Reads the `--config` file. Default `readConfigFile` (UTF-8 checked). */
  readonly readTextFile?: (path: string) => Promise<string>;
  /** The host name. Default `Deno.hostname()`. */
  readonly hostname?: () => string;
  /** Environment lookup. Accepted for callers that pass it; no setting is read from it. */
  readonly env?: (name: string) => string | undefined;
  /** Applies the logging settings. Default `configureLogging` from `log.ts`. */
  readonly configureLogging?: (settings: { verbosity: number; format: LogFormat }) => void;
}

type Json = Record<string, unknown>;

/** Deep-copies the configuration into a mutable tree. */
function mutable(config: KubeProxyConfiguration): Json {
  return structuredClone(config) as unknown as Json;
}

function setPath(target: Json, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key] as Json;
  node[keys[keys.length - 1]] = value;
}

function flagValueForConfig(name: string, value: FlagValue): unknown {
  if (name === "vmodule") {
    return (value as string[]).map((item) => {
      const [filePattern, verbosity] = item.split("=");
      return { filePattern, verbosity: Number(verbosity) };
    });
  }
  if (Array.isArray(value)) return [...value];
  if (typeof value === "object") return { ...value };
  return value;
}

/**
 * Parses the command line, reads and decodes `--config` if given, merges flags and file with
 * upstream's precedence, applies platform defaults, validates everything, and configures
 * logging from the result.
 *
 * With `--help` or `--version` nothing is read or validated: the returned configuration is the
 * defaults.
 *
 * @param args The arguments after the program name (`Deno.args`).
 * @param deps File, host name and logging hooks (for tests).
 * @returns The options to run with.
 * @throws {ConfigError} With every problem found (print it with `formatConfigError`).
 * @example
 * ```ts
 * try {
 *   const options = await loadOptions(Deno.args);
 * } catch (err) {
 *   console.error(formatConfigError(err));
 *   Deno.exit(2);
 * }
 * ```
 */
export async function loadOptions(args: string[], deps: LoadOptionsDeps = {}): Promise<Options> {
  const { set } = parseFlags(args);
  const str = (name: string) => set.get(name) as string | undefined;
  const configFile = str("config") || undefined;
  const writeConfigTo = str("write-config-to") || undefined;
  const showHelp = set.get("help") === true;
  const showVersion = set.has("version") && set.get("version") !== false;
  const base = defaultConfig();
  const common = {
    cleanup: set.get("cleanup") === true,
    initOnly: set.get("init-only") === true,
    writeConfigTo,
    showVersion,
    showHelp,
    helpText: renderHelp(),
    master: str("master") || undefined,
    iptablesBackend: (str("iptables-backend") ?? "auto") as IptablesBackend,
    configFile,
  };
  if (showHelp || showVersion) {
    return { ...common, ...base, nodeName: "", ignoredFlags: [] };
  }

  let raw: Json;
  let dns: ClusterDNSConfiguration;
  const ignoredFlags: string[] = [];
  let unknownFields: readonly string[] = [];
  if (configFile !== undefined) {
    let text: string;
    try {
      text = await (deps.readTextFile ?? readConfigFile)(configFile);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError([{
        path: "--config",
        message: `failed to read configuration file ${JSON.stringify(configFile)}: ` +
          (err instanceof Error ? err.message : String(err)),
      }]);
    }
    const loaded = loadConfig(text, { source: configFile });
    raw = mutable(loaded.config);
    dns = loaded.dns;
    unknownFields = loaded.unknownFields;
    for (const spec of FLAGS) {
      if (!set.has(spec.name) || !spec.target) continue;
      if (spec.logging) {
        let value = flagValueForConfig(spec.name, set.get(spec.name)!);
        if (spec.name === "vmodule") {
          value = [...(raw.logging as Json).vmodule as unknown[], ...(value as unknown[])];
        }
        setPath(raw, spec.target, value);
      } else {
        ignoredFlags.push(`--${spec.name}`);
      }
    }
  } else {
    raw = mutable(base.config);
    dns = base.dns;
    for (const spec of FLAGS) {
      if (set.has(spec.name) && spec.target) {
        setPath(raw, spec.target, flagValueForConfig(spec.name, set.get(spec.name)!));
      }
    }
    if (writeConfigTo === undefined) {
      // Upstream's addressFromDeprecatedFlags: the deprecated port flags win, 0 disables.
      const fold = (address: string, port: number) =>
        port === 0 ? "" : appendPortIfNeeded(address, port);
      raw.healthzBindAddress = fold(
        raw.healthzBindAddress as string,
        (set.get("healthz-port") as number | undefined) ?? DEFAULT_HEALTHZ_PORT,
      );
      raw.metricsBindAddress = fold(
        raw.metricsBindAddress as string,
        (set.get("metrics-port") as number | undefined) ?? DEFAULT_METRICS_PORT,
      );
    }
  }
  // Platform defaults (Linux).
  if (raw.mode === "") raw.mode = "iptables";
  if (raw.detectLocalMode === "") raw.detectLocalMode = "ClusterCIDR";
  if (raw.mode === "nftables") {
    applyNFTablesDefaults(raw, configFile === undefined ? set : undefined);
  }

  const problems: ConfigProblem[] = [];
  // Upstream's processHostnameOverrideFlag: the flag's value, trimmed and lowercased, replaces
  // the configuration's (so --write-config-to and /configz show it that way too).
  const override = str("hostname-override");
  let nodeName = "";
  if (override !== undefined && override !== "" && override.trim() === "") {
    problems.push({ path: "--hostname-override", message: "empty hostname-override is invalid" });
  } else {
    if (override !== undefined && override !== "") {
      raw.hostnameOverride = override.trim().toLowerCase();
    }
    const hostname = (raw.hostnameOverride as string) || (deps.hostname ?? Deno.hostname)();
    nodeName = hostname.trim().toLowerCase();
    if (nodeName === "") problems.push({ path: "hostname", message: "empty hostname is invalid" });
  }
  const config = raw as unknown as KubeProxyConfiguration;
  problems.push(...validateConfig(config, dns));
  if (problems.length > 0) throw new ConfigError(problems);

  (deps.configureLogging ?? configureLogging)({
    verbosity: config.logging.verbosity,
    format: config.logging.format as LogFormat,
  });
  if (unknownFields.length > 0) {
    // Upstream's lenient fallback: the strict error, logged, and the file's known fields used.
    log.warn("Using lenient decoding as strict decoding failed", {
      err: `strict decoding error: ${unknownFields.map((f) => `unknown field ${f}`).join(", ")}`,
      file: configFile,
    });
  }
  for (const flag of ignoredFlags) {
    log.warn("Flag ignored because a configuration file is given by --config", { flag });
  }
  for (const warning of findBadConfig(config)) log.warn(warning);
  return { ...common, config, dns, nodeName, ignoredFlags };
}

/**
 * The iptables-named flags nftables mode reads (there are no `--nftables-*` flags): each, when
 * given on the command line without `--config`, sets the `nftables:` field.
 */
const NFTABLES_FLAG_FIELDS = [
  ["iptables-sync-period", "syncPeriod"],
  ["iptables-min-sync-period", "minSyncPeriod"],
  ["masquerade-all", "masqueradeAll"],
  ["iptables-masquerade-bit", "masqueradeBit"],
] as const;

/**
 * Upstream's platform defaults of nftables mode: the iptables-named flags feed the `nftables:`
 * section, and an empty `nodePortAddresses` means the primary node IPs (`["primary"]`).
 *
 * @param raw The configuration being completed (changed in place).
 * @param flags The flags given on the command line, when no `--config` file replaced them.
 */
function applyNFTablesDefaults(raw: Json, flags: ReadonlyMap<string, unknown> | undefined): void {
  const iptables = raw.iptables as Json, nftables = raw.nftables as Json;
  for (const [flag, field] of NFTABLES_FLAG_FIELDS) {
    if (flags?.has(flag)) nftables[field] = iptables[field];
  }
  const addresses = raw.nodePortAddresses as unknown[] | null;
  if (addresses === null || addresses.length === 0) raw.nodePortAddresses = ["primary"];
}

/**
 * Upstream's `checkBadConfig`: settings that are valid but probably not what the operator
 * wants. They are logged as warnings, never errors.
 *
 * @param config The validated configuration.
 * @returns One message per finding.
 */
export function findBadConfig(config: KubeProxyConfiguration): string[] {
  const warnings: string[] = [];
  if (config.nodePortAddresses === null || config.nodePortAddresses.length === 0) {
    warnings.push(
      "nodePortAddresses is unset; NodePort connections will be accepted on all local IPs. " +
        "Consider using `--nodeport-addresses primary`",
    );
  }
  if (config.detectLocalMode === "ClusterCIDR" && config.clusterCIDR === "") {
    warnings.push(
      "Missing clusterCIDR for detectLocalMode ClusterCIDR; all traffic to ClusterIPs will be " +
        "treated as coming from pods (consider --cluster-cidr or another --detect-local-mode)",
    );
  }
  return warnings;
}

/**
 * Writes the effective configuration for `--write-config-to`: both documents, fully defaulted,
 * in the form `--config` reads back to the same values.
 *
 * @param options The loaded options (with `writeConfigTo` set).
 * @param writeTextFile Writes the file. Default `Deno.writeTextFile`.
 * @throws {Error} When the file cannot be written.
 */
export async function writeConfigFile(
  options: Options,
  writeTextFile: (path: string, text: string) => Promise<void> = Deno.writeTextFile,
): Promise<void> {
  if (options.writeConfigTo === undefined) return;
  await writeTextFile(options.writeConfigTo, renderConfig(options.config, options.dns));
  log.info("Wrote configuration", { file: options.writeConfigTo });
}
