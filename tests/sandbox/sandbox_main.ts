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

import { SandboxCluster } from "./cluster.ts";
import {
  clusterOptions,
  exploreHints,
  parseSandboxArgs,
  requireRoot,
  stopRunningSandboxes,
  teardownOnSignal,
} from "./explore.ts";

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
    cluster = await SandboxCluster.start(clusterOptions(args, true, say));
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
