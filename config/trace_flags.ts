/**
 * The command line of `kube-proxy trace`: its flag table, parsed with pflag's rules by
 * `flags.ts` (the only importer of `commander`), and its `--help` text. It only parses; what the
 * flags mean is `proxy/trace/command.ts`'s business. The API connection flags have the proxy's
 * names and are handed to `loadOptions()` unchanged, so `--config`, `--kubeconfig`, `--master`
 * and `--hostname-override` mean what they mean for the proxy.
 *
 * @module
 */

import { ConfigError } from "./config_error.ts";
import { type FlagSpec, type FlagValue, parseFlagTable, renderFlagRows } from "./flags.ts";

/** What `kube-proxy trace` was asked. */
export interface TraceFlags {
  /** `--from`: the packet's source address ("" when not given). */
  readonly from: string;
  /** `--to`: `IP:port[/proto]` or `service.namespace:port[/proto]` ("" when not given). */
  readonly to: string;
  readonly explain: boolean;
  readonly output: "text" | "json";
  readonly iptablesBackend: "auto" | "nft" | "legacy";
  /**
   * `--mode`: whose rules to read, `iptables` or `nftables`; "" means the `--config` file's mode,
   * else detected (the `kube-proxy` nftables table exists).
   */
  readonly mode: "" | "iptables" | "nftables";
  /** `--node-ip`: the node's addresses; empty means "read them from the system". */
  readonly nodeIPs: readonly string[];
  /** `--in-interface`: the packet's input interface; "" means "ask the routing table". */
  readonly inInterface: string;
  /** The proxy flags to hand to `loadOptions()` (API connection, node name). */
  readonly proxyArgs: readonly string[];
  readonly help: boolean;
}

/** The proxy flags `kube-proxy trace` accepts and passes on. */
const PROXY_FLAGS = ["config", "kubeconfig", "master", "hostname-override"] as const;

/** Every flag of `kube-proxy trace`. */
const TRACE_FLAGS: readonly FlagSpec[] = [
  {
    name: "from",
    type: "string",
    usage: "Source address of the packet: a pod, another host, or this node (required).",
  },
  {
    name: "to",
    type: "string",
    usage: "Destination: IP:port[/tcp|udp|sctp] ([IPv6]:port), or service.namespace:port[/proto] " +
      "(port number or name, resolved through the API server) (required).",
  },
  {
    name: "explain",
    type: "bool",
    usage: "Also read the Service and its EndpointSlices from the API server and say why each " +
      "endpoint is or is not used.",
  },
  {
    name: "output",
    short: "o",
    type: "string",
    def: '"text"',
    usage: "Output format: text or json.",
  },
  {
    name: "mode",
    type: "string",
    usage: "Which proxy mode's rules to read: 'iptables' or 'nftables' (default: the --config " +
      "file's mode, else nftables when the kube-proxy nftables table exists, else iptables).",
  },
  {
    name: "iptables-backend",
    type: "backend",
    typeName: "string",
    def: '"auto"',
    usage: "Which iptables-save to read: 'nft', 'legacy' or 'auto' (detected as the proxy does).",
  },
  {
    name: "node-ip",
    type: "strings",
    usage: "This node's addresses, for NodePort and local-source detection (default: the " +
      "addresses of this host's interfaces).",
  },
  {
    name: "in-interface",
    type: "string",
    usage: "Interface the packet arrives on (default: the route back to --from).",
  },
  {
    name: "config",
    type: "string",
    usage: "The proxy's configuration file (API connection, node name).",
  },
  {
    name: "kubeconfig",
    type: "string",
    usage: "Path to a kubeconfig file, as for the proxy.",
  },
  { name: "master", type: "string", usage: "The address of the Kubernetes API server." },
  {
    name: "hostname-override",
    type: "string",
    usage: "This node's name, if not the host name (which endpoints are local).",
  },
  { name: "help", short: "h", type: "bool", usage: "help for trace" },
];

/**
 * Parses the arguments after `kube-proxy trace`.
 *
 * @param args the arguments.
 * @returns the request.
 * @throws {ConfigError} For unknown flags, bad values, a missing `--from`/`--to`, or an output
 *   format other than text and json.
 * @example
 * ```ts
 * parseTraceFlags(["--from", "10.244.1.5", "--to", "10.96.0.20:5432/tcp"]).to; // "10.96.0.20:5432/tcp"
 * ```
 */
export function parseTraceFlags(args: readonly string[]): TraceFlags {
  const { set } = parseFlagTable(args, TRACE_FLAGS, "kube-proxy trace");
  const str = (name: string) => (set.get(name) as string | undefined) ?? "";
  const help = set.get("help") === true;
  const output = str("output") || "text";
  const mode = str("mode");
  const problems = [];
  if (!help) {
    if (str("from") === "") problems.push({ path: "--from", message: "required" });
    if (str("to") === "") problems.push({ path: "--to", message: "required" });
    if (mode !== "" && mode !== "iptables" && mode !== "nftables") {
      problems.push({
        path: "--mode",
        message: `must be iptables or nftables, got ${JSON.stringify(mode)}`,
      });
    }
    if (output !== "text" && output !== "json") {
      problems.push({
        path: "--output",
        message: `must be text or json, got ${JSON.stringify(output)}`,
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const proxyArgs: string[] = [];
  for (const name of PROXY_FLAGS) {
    const v: FlagValue | undefined = set.get(name);
    if (typeof v === "string") proxyArgs.push(`--${name}=${v}`);
  }
  return {
    from: str("from"),
    to: str("to"),
    explain: set.get("explain") === true,
    output: output as "text" | "json",
    iptablesBackend: (str("iptables-backend") || "auto") as TraceFlags["iptablesBackend"],
    mode: mode as TraceFlags["mode"],
    nodeIPs: (set.get("node-ip") as readonly string[] | undefined) ?? [],
    inInterface: str("in-interface"),
    proxyArgs,
    help,
  };
}

/**
 * The `kube-proxy trace --help` text.
 *
 * @param exitStatus the paragraph on exit statuses (the command owns those numbers).
 * @returns the text, ending with a newline.
 */
export function renderTraceHelp(exitStatus: string): string {
  return [
    "Follows a packet through the kube-proxy rules this node's kernel holds now (iptables-save of",
    "the detected backend, or `nft list table ip|ip6 kube-proxy` in nftables mode; read only:",
    "nothing is changed and no packet is sent) and prints its path hop by hop, the verdict (DNAT",
    "to which endpoints with what share, REJECT, DROP, or no kube-proxy rule) and whether it is",
    "masqueraded and why. Works on rules written by upstream kube-proxy too; a rule shape it does",
    "not know is reported, never guessed.",
    "",
    "A packet from this node's own addresses enters at nat OUTPUT; any other at nat PREROUTING.",
    "",
    "Usage:",
    "  kube-proxy trace --from <ip> --to <ip>:<port>[/<proto>] [flags]",
    "  kube-proxy trace --from <ip> --to <service>.<namespace>:<port>[/<proto>] [flags]",
    "",
    "Examples:",
    "  kube-proxy trace --from 10.244.1.5 --to 10.96.0.20:5432/tcp",
    "  kube-proxy trace --from 192.168.1.100 --to 192.168.1.11:30081 --explain",
    "  kube-proxy trace --kubeconfig /etc/kube-proxy/kubeconfig --from 10.244.1.5 --to db.default:5432 -o json",
    "",
    exitStatus,
    "",
    "Flags:",
    ...renderFlagRows(TRACE_FLAGS),
    "",
  ].join("\n");
}
