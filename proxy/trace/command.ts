/**
 * `kube-proxy trace`: the subcommand `main.ts` dispatches to. It runs in five steps, each in its
 * own file:
 *
 * 1. flags (`config/trace_flags.ts`), `--from`/`--to` (`destination.ts`);
 * 2. with a Service name or `--explain`: the proxy's own options and API client
 *    (`config/options.ts`, `cache/client.ts`), the Service's cluster IP and port
 *    (`api_lookup.ts`);
 * 3. the rules, read only (`rule_source.ts`: `iptables-save` of the detected or given backend;
 *    `nft_mode.ts`: the `kube-proxy` nftables table), the node's addresses and the packet's
 *    input interface;
 * 4. the trace (`proxy/iptables/tracer.ts` or `proxy/nftables/tracer.ts`, the same tracers the
 *    packet-flow tests use) and, with
 *    `--explain`, why each endpoint is used (`explain.ts`);
 * 5. the report (`render.ts`) and the exit status (`trace_result.ts`).
 *
 * NOTE: nothing here writes to the kernel or sends a packet. The only commands run are
 * `iptables-save`/`ip6tables-save` (plus the same saves for backend detection),
 * `nft list tables` (mode detection), `nft list table ip|ip6 kube-proxy` and `ip route get`.
 *
 * Each proxy mode has a {@linkcode ModeTracer}: {@linkcode traceIptables} and
 * {@linkcode traceNftables} (`nft_mode.ts`: `nft list table ip|ip6 kube-proxy`, traced by
 * `proxy/nftables/tracer.ts`); `traceOnNode()` picks one by `--mode`, the `--config` file's mode,
 * or the `kube-proxy` table's presence. Flags, `--explain`, rendering, JSON and exit statuses are
 * shared.
 *
 * @module
 */

import { formatConfigError, loadOptions, type Options } from "../../config/options.ts";
import { ConfigError } from "../../config/config_error.ts";
import { configureLogging } from "../../config/log.ts";
import { parseTraceFlags, renderTraceHelp, type TraceFlags } from "../../config/trace_flags.ts";
import { ApiClient, loadClientConfig } from "../../cache/client.ts";
import type { IPFamily } from "../../cache/objects.ts";
import { type CommandRunner, DenoCommandRunner } from "../exec.ts";
import { detectBackend } from "../iptables/iptables.ts";
import { traceRules } from "../iptables/tracer.ts";
import { canonicalIP, ipFamilyOf, isLoopback } from "../net.ts";
import { fetchNodeLabels, fetchServiceObjects } from "./api_lookup.ts";
import {
  type AddressDestination,
  parseDestination,
  parseSource,
  type ServiceDestination,
} from "./destination.ts";
import { explainServicePort, type ServicePortExplanation } from "./explain.ts";
import { nftFamilyOf, nodeHasNftTable, readNftTable, traceNftTable } from "./nft_mode.ts";
import { renderTraceJson, renderTraceText, type TraceReport } from "./render.ts";
import { localAddresses, readIptablesRules, routeInterface } from "./rule_source.ts";
import {
  EXIT_DELIVERED,
  EXIT_DROPPED,
  EXIT_NO_RULE,
  EXIT_REJECTED,
  EXIT_TRACE_ERROR,
  EXIT_UNCERTAIN,
  EXIT_USAGE,
  exitCodeOf,
  type TracePacket,
  type TraceResult,
} from "./trace_result.ts";

/** What {@linkcode runTrace} uses from the outside world; tests replace parts. */
export interface TraceDeps {
  /** Runs iptables-save, ip route; the real one by default. */
  readonly run?: CommandRunner;
  /** The node's addresses when `--node-ip` is not given; the interfaces' by default. */
  readonly localAddresses?: () => string[];
  /** Where the report goes; stdout by default. */
  readonly print?: (text: string) => void;
  /** Where errors go; stderr by default. */
  readonly printError?: (text: string) => void;
}

/** The exit-status paragraph of `--help`, from the constants themselves. */
const EXIT_STATUS_HELP = [
  `Exit status: ${EXIT_DELIVERED} delivered (DNAT, REDIRECT, or accepted for the node), ` +
  `${EXIT_REJECTED} rejected,`,
  `${EXIT_DROPPED} dropped, ${EXIT_NO_RULE} no kube-proxy rule, ${EXIT_UNCERTAIN} uncertain (a rule ` +
  `shape the tracer does not know),`,
  `${EXIT_TRACE_ERROR} the trace could not run, ${EXIT_USAGE} bad flags.`,
].join("\n");

/** A failure with the exit status to report it with. */
class TraceError extends Error {
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.name = "TraceError";
    this.code = code;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The API connection and node name, loaded as the proxy loads them. */
interface ApiContext {
  readonly client: ApiClient;
  readonly nodeName: string;
}

/** The proxy's options from the trace's proxy flags (`--config`, ...), loaded as the proxy does. */
async function loadProxyOptions(flags: TraceFlags): Promise<Options> {
  try {
    // The proxy's own start-up warnings (unset nodePortAddresses, ...) are not the trace's
    // business: the proxy's logger stays silent, the trace reports on stdout and stderr.
    return await loadOptions([...flags.proxyArgs], {
      configureLogging: (settings) => configureLogging({ ...settings, write: () => {} }),
    });
  } catch (err) {
    if (err instanceof ConfigError) throw new TraceError(formatConfigError(err), EXIT_USAGE);
    throw err;
  }
}

async function connect(options: Options): Promise<ApiContext> {
  const config = await loadClientConfig({
    kubeconfig: options.config.clientConnection.kubeconfig,
    master: options.master,
  });
  return { client: new ApiClient(config), nodeName: options.nodeName };
}

/** The Service's cluster IP and port for a `--to service.namespace:port`. */
async function resolveService(
  api: ApiContext,
  dest: ServiceDestination,
): Promise<AddressDestination> {
  const objects = await fetchServiceObjects(api.client, dest.namespace, dest.name);
  const what = `service ${dest.namespace}/${dest.name}`;
  if (objects === undefined) {
    throw new TraceError(`Cannot resolve --to: no ${what}`, EXIT_TRACE_ERROR);
  }
  const svc = objects.service;
  const port = svc.ports.find((p) =>
    (p.name === dest.port || String(p.port) === dest.port) &&
    (dest.protocol === undefined || p.protocol.toLowerCase() === dest.protocol)
  );
  if (port === undefined) {
    throw new TraceError(`Cannot resolve --to: ${what} has no port ${dest.port}`, EXIT_TRACE_ERROR);
  }
  const ip = svc.clusterIPs.map(canonicalIP).find((x) => x !== undefined);
  if (ip === undefined) {
    throw new TraceError(`Cannot resolve --to: ${what} has no cluster IP`, EXIT_TRACE_ERROR);
  }
  return {
    kind: "address",
    ip,
    port: port.port,
    protocol: port.protocol.toLowerCase() as AddressDestination["protocol"],
  };
}

/** What a mode's tracer needs to know about this node. */
export interface NodeFacts {
  readonly run: CommandRunner;
  /** The node's addresses (`--node-ip`, or the interfaces'). */
  readonly nodeIPs: readonly string[];
  /** `--iptables-backend`. */
  readonly iptablesBackend: TraceFlags["iptablesBackend"];
}

/**
 * Reads one proxy mode's rules on this node, read only, and traces a packet through them:
 * {@linkcode traceIptables} or {@linkcode traceNftables}, chosen in {@linkcode traceOnNode}.
 */
export type ModeTracer = (packet: TracePacket, node: NodeFacts) => Promise<TraceResult>;

/**
 * The iptables mode: `iptables-save`/`ip6tables-save` of the packet's family and the backend
 * (given, or detected as the proxy detects it), traced by `proxy/iptables/tracer.ts`.
 */
export const traceIptables: ModeTracer = async (packet, node) => {
  const family: IPFamily = ipFamilyOf(packet.destIP);
  const backend = node.iptablesBackend === "auto"
    ? await detectBackend(node.run)
    : node.iptablesBackend;
  const rules = await readIptablesRules(family, backend, node.run);
  return traceRules(rules.tables, packet, { nodeIPs: node.nodeIPs, ruleSource: rules.source });
};

/**
 * The nftables mode: `nft list table ip|ip6 kube-proxy` of the packet's family, parsed by
 * `proxy/nftables/listing.ts` and traced by `proxy/nftables/tracer.ts` (`nft_mode.ts`).
 */
export const traceNftables: ModeTracer = async (packet, node) => {
  const family: IPFamily = ipFamilyOf(packet.destIP);
  const table = await readNftTable(family, node.run);
  return traceNftTable(table, packet, node.nodeIPs, nftFamilyOf(family));
};

/**
 * Which mode's rules to trace: `--mode`, else the `--config` file's `mode`, else nftables when
 * this node has a `kube-proxy` nftables table, else iptables.
 */
async function modeTracer(
  flags: TraceFlags,
  configMode: string,
  run: CommandRunner,
): Promise<ModeTracer> {
  const mode = flags.mode || configMode ||
    (await nodeHasNftTable(run) ? "nftables" : "iptables");
  return mode === "nftables" ? traceNftables : traceIptables;
}

/**
 * Gathers the node's addresses and the packet's input interface, then traces with the tracer of
 * the node's proxy mode.
 *
 * @param packet the packet.
 * @param flags the mode and backend choice and node addresses.
 * @param configMode the `--config` file's mode (platform default applied), or "" without one.
 * @param deps the command runner and address source.
 * @returns the trace.
 */
async function traceOnNode(
  packet: TracePacket,
  flags: TraceFlags,
  configMode: string,
  deps: TraceDeps,
): Promise<TraceResult> {
  const run = deps.run ?? new DenoCommandRunner();
  const nodeIPs = flags.nodeIPs.length > 0
    ? flags.nodeIPs.map((ip) => canonicalIP(ip) ?? ip)
    : (deps.localAddresses ?? localAddresses)();
  const fromNode = isLoopback(packet.sourceIP) || nodeIPs.includes(packet.sourceIP);
  const inInterface = packet.inInterface !== "" || fromNode
    ? packet.inInterface
    : await routeInterface(packet.sourceIP, run);
  const tracer = await modeTracer(flags, configMode, run);
  return await tracer({ ...packet, inInterface }, {
    run,
    nodeIPs,
    iptablesBackend: flags.iptablesBackend,
  });
}

/** `ns/name:port` (or `ns/name`) split for the API. */
function splitServicePort(name: string): { namespace: string; name: string; port: string } {
  const [namespace, rest] = name.split("/", 2);
  const colon = rest.indexOf(":");
  return colon < 0
    ? { namespace, name: rest, port: "" }
    : { namespace, name: rest.slice(0, colon), port: rest.slice(colon + 1) };
}

async function explain(
  api: ApiContext,
  trace: TraceResult,
  requested: ServiceDestination | undefined,
): Promise<{ explanations: ServicePortExplanation[]; errors: string[] }> {
  const explanations: ServicePortExplanation[] = [];
  const errors: string[] = [];
  const targets = trace.services.map(splitServicePort);
  if (targets.length === 0 && requested !== undefined) targets.push(requested);
  if (targets.length === 0) {
    errors.push("no Service is on the path: nothing to explain");
    return { explanations, errors };
  }
  let labels: Readonly<Record<string, string>> = {};
  try {
    labels = await fetchNodeLabels(api.client, api.nodeName);
  } catch (err) {
    errors.push(`cannot read Node ${api.nodeName} (topology labels unknown): ${message(err)}`);
  }
  const family = ipFamilyOf(trace.packet.destIP);
  for (const t of targets) {
    try {
      const objects = await fetchServiceObjects(api.client, t.namespace, t.name);
      if (objects === undefined) {
        errors.push(`${t.namespace}/${t.name}: no such Service in the API server (deleted?)`);
        continue;
      }
      const x = explainServicePort(objects.service, objects.slices, t.port, {
        name: api.nodeName,
        labels,
        family,
      });
      if (x === undefined) {
        errors.push(`${t.namespace}/${t.name}: no port ${t.port || "(unnamed)"} in ${family}`);
      } else explanations.push(x);
    } catch (err) {
      errors.push(`${t.namespace}/${t.name}: ${message(err)}`);
    }
  }
  return { explanations, errors };
}

async function runTraceSteps(flags: TraceFlags, deps: TraceDeps): Promise<TraceReport> {
  let sourceIP: string;
  let dest;
  try {
    sourceIP = parseSource(flags.from);
    dest = parseDestination(flags.to);
  } catch (err) {
    throw new TraceError(message(err), EXIT_USAGE);
  }
  const needsApi = dest.kind === "service" || flags.explain;
  const hasConfig = flags.proxyArgs.some((a) => a.startsWith("--config="));
  const options = needsApi || hasConfig ? await loadProxyOptions(flags) : undefined;
  const api = needsApi ? await connect(options!) : undefined;
  const address = dest.kind === "service" ? await resolveService(api!, dest) : dest;
  if (ipFamilyOf(sourceIP) !== ipFamilyOf(address.ip)) {
    throw new TraceError(
      `--from ${sourceIP} and the destination ${address.ip} are of different IP families`,
      EXIT_USAGE,
    );
  }
  const trace = await traceOnNode(
    {
      sourceIP,
      destIP: address.ip,
      destPort: address.port,
      protocol: address.protocol,
      inInterface: flags.inInterface,
    },
    flags,
    hasConfig ? options!.config.mode : "",
    deps,
  );
  const requested = dest.kind === "service" ? dest : undefined;
  const report: TraceReport = {
    ...(requested !== undefined ? { requested: flags.to } : {}),
    trace,
  };
  if (!flags.explain) return report;
  const { explanations, errors } = await explain(api!, trace, requested);
  return {
    ...report,
    explanations,
    ...(errors.length > 0 ? { explainErrors: errors } : {}),
  };
}

/**
 * Runs `kube-proxy trace` with these arguments (those after `trace`).
 *
 * @param args the arguments.
 * @param deps command runner, address source and output (tests).
 * @returns the exit status: 0 delivered, 3 rejected, 4 dropped, 5 no rule, 6 uncertain, 1 when
 *   the trace could not run, 2 for bad flags.
 * @example
 * ```ts
 * Deno.exit(await runTrace(["--from", "10.244.1.5", "--to", "10.96.0.20:5432/tcp"]));
 * ```
 */
export async function runTrace(args: readonly string[], deps: TraceDeps = {}): Promise<number> {
  const print = deps.print ?? ((t: string) => Deno.stdout.writeSync(new TextEncoder().encode(t)));
  const printError = deps.printError ?? ((t: string) => console.error(t));
  let flags: TraceFlags;
  try {
    flags = parseTraceFlags(args);
  } catch (err) {
    printError(err instanceof ConfigError ? formatConfigError(err) : message(err));
    return EXIT_USAGE;
  }
  if (flags.help) {
    print(renderTraceHelp(EXIT_STATUS_HELP));
    return 0;
  }
  try {
    const report = await runTraceSteps(flags, deps);
    print(flags.output === "json" ? renderTraceJson(report) : renderTraceText(report));
    return exitCodeOf(report.trace.outcome);
  } catch (err) {
    printError(`kube-proxy trace: ${message(err)}`);
    return err instanceof TraceError ? err.code : EXIT_TRACE_ERROR;
  }
}
