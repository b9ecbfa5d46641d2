/**
 * Keeping a sandbox up for exploring with kubectl (`deno task demo --keep`, `deno task sandbox`):
 * the lines that tell the user how to reach it (the `export KUBECONFIG=...` line, a kubectl
 * apply, a request from a pod's namespace, a trace), the root check, the teardown on Ctrl-C or
 * SIGTERM, and `--down`, which stops running sandboxes from another shell.
 *
 * @module
 */

import { PROXY_MODES, type ProxyMode } from "../node_config.ts";
import type { ClusterOptions, SandboxCluster } from "./cluster.ts";
import { isAlive, readStates, removeLeftovers } from "./sandbox_state.ts";
import { repoPath } from "./sandbox.ts";

/** A Service selecting the sandbox's `app=db` pods (their server listens on 8080). */
export const DB_SERVICE_YAML = dbServiceYaml(5432);

/** {@linkcode DB_SERVICE_YAML} with another Service port. */
export function dbServiceYaml(port: number): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: default
spec:
  selector:
    app: db
  ports:
    - name: pg
      port: ${port}
      targetPort: 8080
`;
}

/**
 * How to explore the running cluster, one line each, ready to print.
 *
 * @param cluster The running cluster (a `web` pod on node1 is used as the client when present).
 * @returns The lines.
 */
export function exploreHints(cluster: SandboxCluster): string[] {
  const deno = Deno.execPath();
  const client = cluster.sb.pods.find((p) => p.name === "web") ?? cluster.sb.pods[0];
  const node = cluster.sb.nodes.find((n) => n.name === client?.node) ?? cluster.sb.nodes[0];
  const lines = [
    `export KUBECONFIG=${cluster.kubeconfigPath}`,
    "kubectl get nodes,pods,svc,endpointslices -A -o wide",
    "kubectl apply -f - <<'EOF'",
    ...DB_SERVICE_YAML.trimEnd().split("\n"),
    "EOF",
    "kubectl get endpointslices -l kubernetes.io/service-name=db -w   # the controller's slice",
    'kubectl edit svc db        # or: kubectl patch svc db -p \'{"spec":{"selector":{"app":"web"}}}\'',
  ];
  if (client !== undefined) {
    lines.push(
      `# a request from the ${client.name} pod's namespace to the Service (its ClusterIP):`,
      `ip netns exec ${client.netns} ${deno} run -A ${repoPath("tests/sandbox/pod_client.ts")} ` +
        `tcp $(kubectl get svc db -o jsonpath='{.spec.clusterIP}') 5432`,
      `# the path of that packet through ${node.name}'s rules:`,
      `ip netns exec ${node.netns} ${deno} run -A ${repoPath("main.ts")} trace ` +
        `--from ${client.ip} --to $(kubectl get svc db -o jsonpath='{.spec.clusterIP}'):5432/tcp`,
      `ip netns exec ${node.netns} iptables-save -t nat | grep default/db`,
    );
  }
  lines.push("kubectl delete svc db");
  return lines;
}

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

/**
 * The cluster options of a demo or sandbox run.
 *
 * @param args The parsed command line.
 * @param kept Whether the run stays up for exploring (what `--down` stops).
 * @param say Prints a line (narration, and the proxies' logs with `--v`).
 * @returns The options of `SandboxCluster.start()`.
 */
export function clusterOptions(
  args: SandboxArgs,
  kept: boolean,
  say: (line: string) => void,
): ClusterOptions {
  return {
    kept,
    mode: args.mode,
    onLog: (l) => say(`   ${l}`),
    verbosity: args.verbosity >= 0 ? args.verbosity : undefined,
    onProxyLine: args.verbosity >= 0 ? (l) => say(`   [${l}]`) : undefined,
  };
}

/** Exits with a message unless running as root (the sandbox creates network namespaces). */
export function requireRoot(what: string): void {
  if (Deno.uid() === 0) return;
  console.error(
    `${what} needs root: it creates network namespaces, veth pairs and bridges for a two-node\n` +
      "cluster, and each node's kube-proxy programs iptables inside its namespace (nothing is\n" +
      "changed in the host's own namespace). Run it as root, e.g. sudo ./scripts/demo.sh",
  );
  Deno.exit(1);
}

/**
 * Tears the cluster down on Ctrl-C or SIGTERM, then exits 130.
 *
 * @param cluster Returns the cluster once it exists.
 * @param say Prints a line.
 * @returns `interrupted()`: whether a signal started the teardown (the caller then must not).
 */
export function teardownOnSignal(
  cluster: () => SandboxCluster | undefined,
  say: (line: string) => void,
): { interrupted: () => boolean } {
  let interrupted = false;
  const onSignal = async () => {
    if (interrupted) return;
    interrupted = true;
    say("\ninterrupted: tearing the sandbox down");
    await cluster()?.teardown();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  return { interrupted: () => interrupted };
}

/**
 * Stops every sandbox of this machine kept up for exploring (SIGTERM to its process, which tears
 * down; test runs are left alone), waits for them to exit, then removes what any dead run left
 * behind.
 *
 * @param say Prints a line.
 * @param waitMs How long to wait for a run to exit before its leftovers are removed anyway.
 * @returns The number of runs stopped.
 */
export async function stopRunningSandboxes(
  say: (line: string) => void,
  waitMs = 20_000,
): Promise<number> {
  const live = readStates().filter((s) => s.kept && s.pid !== Deno.pid && isAlive(s.pid));
  for (const s of live) {
    say(`stopping sandbox ${s.runId} (process ${s.pid})`);
    try {
      Deno.kill(s.pid, "SIGTERM");
    } catch {
      // it exited meanwhile
    }
  }
  const deadline = Date.now() + waitMs;
  while (live.some((s) => isAlive(s.pid)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const s of live) {
    if (isAlive(s.pid)) {
      say(`sandbox ${s.runId} did not exit; killing process ${s.pid}`);
      try {
        Deno.kill(s.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }
  // SIGKILL is asynchronous: give the killed processes a moment before their state counts as dead.
  while (live.some((s) => isAlive(s.pid)) && Date.now() < deadline + 5000) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const removed = await removeLeftovers();
  if (removed.length > 0) say(`removed ${removed.length} leftover namespaces`);
  return live.length;
}
