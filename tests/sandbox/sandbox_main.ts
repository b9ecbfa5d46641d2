/**
 * `deno task sandbox`: builds the two-node sandbox (API server with its EndpointSlice controller,
 * one kube-proxy per node, pods `web` on node1 and `db-0`, `db-1` on node2, no Services), prints
 * the `export KUBECONFIG=...` line and what to try, and keeps it up until Ctrl-C or SIGTERM.
 * `deno task sandbox --down` (from another shell) stops the kept sandboxes and removes leftovers.
 *
 *     deno task sandbox [--mode iptables|nftables] [--v=N]
 *     deno task sandbox --down
 *
 * @module
 */

import { PROXY_MODES, type ProxyMode } from "../node_config.ts";
import { SandboxCluster } from "./cluster.ts";
import { exploreHints, requireRoot, stopRunningSandboxes, teardownOnSignal } from "./explore.ts";

/** The sandbox command's options. */
export interface SandboxArgs {
  down: boolean;
  mode: ProxyMode;
  verbosity: number;
}

/**
 * Parses `deno task sandbox`'s (and the demo's shared) arguments.
 *
 * @param args The command line.
 * @param extra Other flags the caller accepts (returned as seen).
 * @returns The options, the extra flags seen, or an error message.
 */
export function parseSandboxArgs(
  args: readonly string[],
  extra: readonly string[] = [],
): SandboxArgs & { seen: string[] } | { error: string } {
  const out = { down: false, mode: "iptables" as ProxyMode, verbosity: -1, seen: [] as string[] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--down") out.down = true;
    else if (a.startsWith("--v=")) out.verbosity = Number(a.slice(4));
    else if (a === "--mode" || a.startsWith("--mode=")) {
      const value = a === "--mode" ? args[++i] : a.slice("--mode=".length);
      if (!PROXY_MODES.includes(value as ProxyMode)) {
        return { error: `--mode must be one of ${PROXY_MODES.join(", ")}, not ${value}` };
      }
      out.mode = value as ProxyMode;
    } else if (extra.includes(a)) out.seen.push(a);
    else return { error: `unknown argument ${a} (try --help)` };
  }
  return out;
}

if (import.meta.main) {
  const say = (line = "") => console.log(line);
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    say(
      "usage: deno task sandbox [--mode iptables|nftables] [--v=N]   |   deno task sandbox --down",
    );
    Deno.exit(0);
  }
  const args = parseSandboxArgs(Deno.args);
  if ("error" in args) {
    console.error(`sandbox: ${args.error}`);
    Deno.exit(2);
  }
  requireRoot("The sandbox");
  if (args.down) {
    const n = await stopRunningSandboxes(say);
    say(n === 0 ? "no sandbox was running" : `stopped ${n} sandbox(es)`);
    Deno.exit(0);
  }
  let cluster: SandboxCluster | undefined;
  const signals = teardownOnSignal(() => cluster, say);
  try {
    cluster = await SandboxCluster.start({
      kept: true,
      mode: args.mode,
      onLog: (l) => say(`   ${l}`),
      verbosity: args.verbosity >= 0 ? args.verbosity : undefined,
      onProxyLine: args.verbosity >= 0 ? (l) => say(`   [${l}]`) : undefined,
    });
    await cluster.addPods([
      { name: "web", node: "node1" },
      { name: "db-0", node: "node2" },
      { name: "db-1", node: "node2" },
    ]);
    say(`The sandbox is up (kube-proxy in ${args.mode} mode on node1 and node2). Try:`);
    for (const l of exploreHints(cluster)) say(`   ${l}`);
    say("Ctrl-C here (or `deno task sandbox --down` from another shell) tears it down.");
    await new Promise(() => {});
  } catch (err) {
    console.error(`sandbox: ${err instanceof Error ? err.message : String(err)}`);
    if (!signals.interrupted()) await cluster?.teardown();
    Deno.exit(1);
  }
}
