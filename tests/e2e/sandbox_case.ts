/**
 * The frame every end-to-end test shares: a root-only test on one fresh sandbox cluster, torn
 * down (namespaces, processes, API server) even when a step fails, and the five pods the
 * Service-traffic tests spread their endpoints over.
 *
 * @module
 */

import { type ClusterOptions, SandboxCluster } from "../sandbox/cluster.ts";
import type { SandboxPod } from "../sandbox/sandbox.ts";

/** Options of {@linkcode sandboxTest}. */
export interface SandboxTestOptions {
  /** How the cluster starts (mode, proxies started or not). */
  readonly cluster?: ClusterOptions;
  /** Skip the test also when this holds (it is always skipped without root). */
  readonly ignore?: boolean;
}

/**
 * Registers a Deno test that runs `body` on a new sandbox cluster and tears it down afterwards.
 *
 * @param name The test's name.
 * @param body The test, given the cluster and the test context (for steps).
 * @param opts Cluster options and an extra reason to skip.
 */
export function sandboxTest(
  name: string,
  body: (cluster: SandboxCluster, t: Deno.TestContext) => Promise<void>,
  opts: SandboxTestOptions = {},
): void {
  Deno.test({
    name,
    ignore: Deno.uid() !== 0 || (opts.ignore ?? false),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const cluster = await SandboxCluster.start(opts.cluster);
      try {
        await body(cluster, t);
      } finally {
        await cluster.teardown();
      }
    },
  });
}

/** The pods of the traffic tests: a client and three backends spread over both nodes. */
export interface SpreadPods {
  /** `client` on node1. */
  readonly client: SandboxPod;
  /** `b-0` on node1, `b-1` and `b-2` on node2. */
  readonly b0: SandboxPod;
  readonly b1: SandboxPod;
  readonly b2: SandboxPod;
  /** `local-0` on node2 (externalTrafficPolicy Local). */
  readonly local0: SandboxPod;
}

/**
 * Adds the {@linkcode SpreadPods}, each running the pod server.
 *
 * @param cluster The sandbox cluster (nodes node1 and node2).
 * @returns The pods.
 */
export async function addSpreadPods(cluster: SandboxCluster): Promise<SpreadPods> {
  const [client, b0, b1, b2, local0] = await cluster.addPods([
    { name: "client", node: "node1" },
    { name: "b-0", node: "node1" },
    { name: "b-1", node: "node2" },
    { name: "b-2", node: "node2" },
    { name: "local-0", node: "node2" },
  ]);
  return { client, b0, b1, b2, local0 };
}
