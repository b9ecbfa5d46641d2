/**
 * kube-proxy with a built-in cluster DNS responder: the composition root.
 *
 * Nothing here decides how a rule looks or how a name resolves; it only wires the modules, in
 * upstream's start-up order (`cmd/kube-proxy/app/server.go`):
 * 1. command line + `--config` → validated options (`config/options.ts`); a `ConfigError` prints
 *    every problem, one `path: message` line each, and exits 2 before anything else happens;
 * 2. `--help`, `--version`, `--write-config-to`: print or write, exit 0; `kube-proxy trace ...`
 *    is dispatched before any of this to `proxy/trace/command.ts` (read only, its own flags and
 *    exit statuses);
 * 3. `--cleanup`: remove our rules in both families, both iptables backends and nftables
 *    (`proxy/backends.ts` `cleanupAllModes`), exit 0, or 1 with
 *    `encountered an error while tearing down rules`;
 * 4. the API client (`cache/client.ts`): a missing or broken kubeconfig exits 1 here, before
 *    anything on the node is read or written;
 * 5. the iptables backend (detected as upstream's wrapper does, or `--iptables-backend`) and the
 *    start-up line (version, mode, backend, node name, effective settings);
 * 6. node preparation (`proxy/node_prep.ts`): OOM score, conntrack sysctls, route_localnet,
 *    bridge check; a failure upstream treats as fatal exits 1; `--init-only` exits 0 after it;
 * 7. the watch cache (`cache/cache.ts`), the cluster DNS responder (`dns/responder.ts`: view,
 *    client filter and server; disabled or a bind failure is logged, not fatal), the health,
 *    service health and metrics servers (a bind failure exits 1 only with `bindAddressHardFail`,
 *    else it is retried every 5 s: `proxy/listen.ts`), the mode's backends, one per
 *    usable family (`proxy/backends.ts` picks them from `mode`), and the backend-neutral
 *    `Proxier` (`proxy/proxier.ts`) registered on the cache;
 * 8. the cache and the proxier's sync loop start, and the `Starting` event is posted on the Node
 *    (best effort, `cache/events.ts` `recordBirthCry`); SIGTERM or SIGINT stop everything within a
 *    second, leaving the rules in place, and exit 0; a write to the `--config` file does the
 *    same but exits 1 (`content of the proxy server's configuration file was updated`), as
 *    upstream, so that the restarted process reads the new file.
 *
 * main.ts is the only module that imports both proxy/ and dns/.
 *
 * @module
 */

import { log } from "./config/log.ts";
import {
  ConfigError,
  formatConfigError,
  loadOptions,
  type Options,
  writeConfigFile,
} from "./config/options.ts";
import { renderConfigz } from "./config/configz.ts";
import { logCacheSync, logProxier, logStartup } from "./config/startup_log.ts";
import { versionString } from "./config/version.ts";
import { type ConfigFileWatch, watchConfigFile } from "./config/watch_config_file.ts";
import { ClusterCache } from "./cache/cache.ts";
import { ServiceCIDRTracker } from "./cache/service_cidr.ts";
import { type ClientConfig, loadClientConfig } from "./cache/client.ts";
import { recordBirthCry } from "./cache/events.ts";
import { Conntrack } from "./proxy/conntrack.ts";
import { type CommandRunner, DenoCommandRunner } from "./proxy/exec.ts";
import { nodeAddressesFor, ServiceHealthServer } from "./proxy/healthcheck.ts";
import { ProxierHealthServer } from "./proxy/healthz.ts";
import { startWithRetry } from "./proxy/listen.ts";
import { MetricsServer, ProxyMetrics } from "./proxy/metrics.ts";
import { prepareNode } from "./proxy/node_prep.ts";
import { Proxier } from "./proxy/proxier.ts";
import {
  localhostNodePortsEffective,
  primaryIPFamily,
  proxierOptionsFromConfig,
} from "./proxy/proxier_options.ts";
import { cleanupAllModes, createBackends } from "./proxy/backends.ts";
import { runTrace } from "./proxy/trace/command.ts";
import { detectBackend } from "./proxy/iptables/iptables.ts";
import { startDnsResponder } from "./dns/responder.ts";

/** Exit code of a configuration error (upstream exits 1; we keep 2 apart, see config/README.md). */
export const EXIT_CONFIG_ERROR = 2;
/** Exit code of any other start-up failure, of a failed `--cleanup`, of a hard bind failure. */
export const EXIT_FAILURE = 1;

/** How long a hard stop may take before the process exits anyway. */
const STOP_DEADLINE_MS = 900;

/** What {@linkcode runKubeProxy} uses from the outside world; tests may replace parts. */
export interface RunDeps {
  /** Runs iptables, conntrack, and friends; the real one by default. */
  readonly run?: CommandRunner;
  /**
   * Resolves when the process should stop (SIGTERM/SIGINT by default); the value is only logged.
   */
  readonly stopSignal?: Promise<string>;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Something that is started once and stopped at shutdown. */
interface Stoppable {
  readonly name: string;
  stop(): Promise<void> | void;
}

/** Resolves with the name of the first SIGTERM or SIGINT. */
function signalPromise(): Promise<string> {
  return new Promise((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(sig, () => resolve(sig));
    }
  });
}

/**
 * Runs kube-proxy with these arguments until it is told to stop.
 *
 * @param args The command line after the program name.
 * @param deps Command runner and stop signal (tests); real ones by default.
 * @returns The process exit code (for `trace`, the trace's: see `proxy/trace/README.md`): 0
 *   after `--help`, `--version`, `--write-config-to`, a good `--cleanup`, `--init-only` or a
 *   signal; 2 on a configuration error; 1 on any other failure and when the `--config` file was
 *   updated while running.
 */
export async function runKubeProxy(args: string[], deps: RunDeps = {}): Promise<number> {
  // `kube-proxy trace ...` is a read-only subcommand with its own flags (proxy/trace/).
  if (args[0] === "trace") {
    return await runTrace(args.slice(1), deps.run !== undefined ? { run: deps.run } : {});
  }
  let options: Options;
  try {
    options = await loadOptions(args);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(formatConfigError(err));
      return EXIT_CONFIG_ERROR;
    }
    console.error(`kube-proxy: failed to load the configuration: ${errorMessage(err)}`);
    return EXIT_FAILURE;
  }
  if (options.showHelp) {
    console.log(options.helpText);
    return 0;
  }
  if (options.showVersion) {
    console.log(versionString());
    return 0;
  }
  if (options.writeConfigTo !== undefined) {
    try {
      await writeConfigFile(options);
      return 0;
    } catch (err) {
      log.error("Failed to write configuration", err, { file: options.writeConfigTo });
      return EXIT_FAILURE;
    }
  }
  const run = deps.run ?? new DenoCommandRunner();
  if (options.cleanup) {
    logStartup(options, options.iptablesBackend);
    if (await cleanupAllModes(run)) {
      log.error("encountered an error while tearing down rules");
      return EXIT_FAILURE;
    }
    log.info("Removed kube-proxy rules");
    return 0;
  }
  try {
    return await runProxy(options, run, deps.run !== undefined, deps.stopSignal ?? signalPromise());
  } catch (err) {
    // Any start-up failure past the configuration (API client, node preparation, backends, a
    // hard bind failure) ends here.
    log.error("Error running ProxyServer", err);
    return EXIT_FAILURE;
  }
}

/** Steps 4 to 8 of the module comment. */
async function runProxy(
  options: Options,
  run: CommandRunner,
  injectedRun: boolean,
  stopSignal: Promise<string>,
): Promise<number> {
  const { config, dns } = options;
  let exitCode = 0;
  let clientConfig: ClientConfig = await loadClientConfig({
    kubeconfig: config.clientConnection.kubeconfig,
    master: options.master,
  });
  if (config.clientConnection.kubeconfig === "" && options.master === undefined) {
    log.info(
      "Neither kubeconfig file nor master URL was specified, falling back to in-cluster config",
    );
  }

  // Only now, with a usable configuration and API client, is anything on the node touched.
  const backend = options.iptablesBackend === "auto"
    ? await detectBackend(run)
    : options.iptablesBackend;
  logStartup(options, backend);
  logProxier(options);

  const localhostNodePorts = localhostNodePortsEffective(config);
  // Upstream decides on the INVALID drop rule from the kernel's value after start-up.
  const prep = await prepareNode({
    conntrack: config.conntrack,
    localhostNodePorts,
    oomScoreAdj: config.oomScoreAdj,
  }, injectedRun ? { run } : {});
  log.v(2).info("Prepared the node", {
    applied: prep.applied.join(","),
    nfConntrackMax: prep.conntrackMax,
  });
  const tcpBeLiberal = prep.tcpBeLiberal;
  if (options.initOnly) {
    log.info("Node prepared, exiting (--init-only)");
    return 0;
  }

  const primary = primaryIPFamily(config);
  const stopping = new AbortController();
  const stoppables: Stoppable[] = [];
  // Upstream exits when the --config file is written or renamed, so that it is restarted and
  // reads the new file (there is no live reload).
  let configWatch: ConfigFileWatch | undefined;
  if (options.configFile !== undefined) {
    const watch = configWatch = watchConfigFile(options.configFile);
    stoppables.push({ name: "configuration file watch", stop: () => watch.close() });
  }
  const metrics = new ProxyMetrics({
    featureGates: config.featureGates,
    apiServerHost: new URL(clientConfig.server).host,
    dns: dns.enabled,
  });
  clientConfig = { ...clientConfig, onRequest: (r) => metrics.observeRestRequest(r) };
  const cache = new ClusterCache(clientConfig, options.nodeName);

  try {
    // Cluster DNS first: the interception rules need the port it really listens on.
    const dnsServer = await startDnsResponder(cache, config, dns, metrics.dns);
    if (dnsServer !== undefined) {
      stoppables.push({ name: "cluster DNS", stop: () => dnsServer.stop() });
    }
    const dnsPort = dnsServer?.address.udpPort;

    const proxierOptions = proxierOptionsFromConfig(config, options.nodeName);
    let healthz: ProxierHealthServer | undefined;
    if (config.healthzBindAddress !== "") {
      healthz = new ProxierHealthServer({
        bindAddress: config.healthzBindAddress,
        healthTimeoutMs: 2 * proxierOptions.syncPeriodMs,
        metrics,
      });
    }
    const serviceHealth = new ServiceHealthServer({
      hostname: options.nodeName,
      // TODO(#5): with `nodePortAddresses: [primary]` the health check servers listen on every
      // address: the node IPs are not known yet when this is built.
      addresses: nodeAddressesFor(config.nodePortAddresses?.filter((a) => a !== "primary") ?? []),
      proxyHealthy: () => healthz?.health().healthy ?? true,
      onEvent: (e) =>
        log.warn(e.message, { service: e.service, reason: e.reason, action: e.action }),
    });
    stoppables.push({ name: "service health checks", stop: () => serviceHealth.stop() });

    // The mode's backends, one per usable family (the DNS interception needs the responder's port).
    const backends = await createBackends(config.mode, {
      config,
      dns,
      primary,
      run,
      tcpBeLiberal,
      dnsPort,
      iptablesBackend: backend,
      metrics,
      watchServiceCIDRs: (onChange) =>
        cache.addServiceCIDRHandler(new ServiceCIDRTracker(onChange)),
    });
    const families = backends.map((b) => b.family);
    metrics.showFamilies(families);
    if (families.length === 2) {
      log.info("kube-proxy running in dual-stack mode", { primaryIPFamily: primary });
    } else {
      log.info("kube-proxy running in single-stack mode", { ipFamily: primary });
    }
    const proxier = new Proxier(proxierOptions, {
      backends,
      conntrack: new Conntrack(run),
      health: healthz,
      serviceHealthServer: serviceHealth,
      metrics,
    });
    cache.addServiceHandler(proxier);
    cache.addEndpointSliceHandler(proxier);
    cache.addNodeHandler(proxier);

    if (healthz !== undefined) {
      await startWithRetry("proxy healthz", healthz, config.bindAddressHardFail, stopping.signal);
      stoppables.push({ name: "healthz", stop: () => healthz!.stop() });
    }
    if (config.metricsBindAddress !== "") {
      const metricsServer = new MetricsServer({
        bindAddress: config.metricsBindAddress,
        metrics,
        config: renderConfigz(config, dns),
        proxyMode: config.mode,
      });
      await startWithRetry(
        "metrics server",
        metricsServer,
        config.bindAddressHardFail,
        stopping.signal,
      );
      stoppables.push({ name: "metrics", stop: () => metricsServer.stop() });
    }

    logCacheSync(cache.synced);
    await cache.start();
    stoppables.unshift({ name: "cluster cache", stop: () => cache.stop() });
    proxier.start();
    stoppables.unshift({ name: "proxier", stop: () => proxier.stop() });
    log.info("kube-proxy started", { families: families.join(","), backend });
    recordBirthCry(clientConfig, options.nodeName);

    const configUpdated = configWatch?.updated.then(() => "configuration file updated");
    const reason = await Promise.race(configUpdated ? [stopSignal, configUpdated] : [stopSignal]);
    if (reason === "configuration file updated") {
      log.error("content of the proxy server's configuration file was updated", undefined, {
        file: options.configFile,
      });
      exitCode = EXIT_FAILURE;
    }
    log.info("Stopping kube-proxy, leaving the rules in place", { signal: reason });
  } finally {
    stopping.abort();
    await stopAll(stoppables);
  }
  return exitCode;
}

/** Stops everything in order, giving up (with a log line) after {@linkcode STOP_DEADLINE_MS}. */
async function stopAll(stoppables: readonly Stoppable[]): Promise<void> {
  const work = (async () => {
    for (const s of stoppables) {
      try {
        await s.stop();
      } catch (err) {
        log.error("Failed to stop", err, { component: s.name });
      }
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), STOP_DEADLINE_MS);
  });
  const outcome = await Promise.race([work.then(() => "done" as const), deadline]);
  clearTimeout(timer);
  if (outcome === "late") log.warn("Stopping took too long, exiting anyway");
}

/**
 * A daemon must not die on a stray rejection or on an exception thrown in a timer or event
 * callback: log it (it is a bug) and keep serving, with the rules in place. (A component that
 * stops syncing because of it makes `/healthz` go stale, which is what restarts the process.)
 */
export function installCrashGuards(): void {
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    log.error("Unhandled promise rejection", e.reason);
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    log.error("Uncaught exception", e.error ?? e.message);
  });
}

if (import.meta.main) {
  installCrashGuards();
  Deno.exit(await runKubeProxy(Deno.args));
}
