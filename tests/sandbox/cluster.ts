/**
 * The whole sandbox cluster, as the demo and the end-to-end tests use it: the namespaces
 * (`sandbox.ts`), the API server fixture in the underlay (`api_server.ts`) serving both Nodes, and
 * one kube-proxy per node (`proxy_node.ts`), plus helpers to create pods behind Services and to
 * send traffic and DNS queries from inside pods.
 *
 * @module
 */

import { SandboxApiServer } from "./api_server.ts";
import {
  type EndpointSliceOptions,
  makeEndpointSlice,
  makeNode,
  makePod,
  makeService,
  type ServiceOptions,
} from "./cluster_objects.ts";
import { LoopbackRelay } from "./loopback_relay.ts";
import { eventually } from "./eventually.ts";
import type { ClientResult } from "./pod_client.ts";
import type { ProxyMode } from "../node_config.ts";
import { CLUSTER_DNS_IP, ProxyNode } from "./proxy_node.ts";
import { runCommand } from "./command.ts";
import { repoPath, Sandbox, type SandboxOptions, type SandboxPod } from "./sandbox.ts";

/** Options of {@linkcode SandboxCluster.start}. */
export interface ClusterOptions extends SandboxOptions {
  /** Start the proxies (default true); false leaves them to the caller. */
  startProxies?: boolean;
  /** Proxy verbosity (`--v`). */
  verbosity?: number;
  /** Called with every proxy log line, prefixed with the node name. */
  onProxyLine?: (line: string) => void;
  /** The proxies' `mode` (default iptables). */
  mode?: ProxyMode;
}

/** A pod to create: its name, node, and whether it runs `pod_server.ts`. */
export interface PodSpec {
  name: string;
  node: string;
  server?: boolean;
  /** The Pod object's labels; default `app` = the name without a trailing `-N`. */
  labels?: Record<string, string>;
}

/**
 * The sandbox with its API server and proxies.
 *
 * @example
 * ```ts
 * const cluster = await SandboxCluster.start();
 * try {
 *   const [db] = await cluster.addPods([{ name: "db-0", node: "node2", server: true }]);
 *   await cluster.applyService("db", { clusterIP: "10.96.0.20", ports: [{ port: 80, targetPort: 8080 }] }, [db]);
 * } finally {
 *   await cluster.teardown();
 * }
 * ```
 */
export class SandboxCluster {
  /** The namespaces and pods. */
  readonly sb: Sandbox;
  /** The API server fixture. */
  readonly api: SandboxApiServer;
  /** The proxy of each node, by node name. */
  readonly proxies: Map<string, ProxyNode>;
  /**
   * A kubeconfig for the host's own namespace (the API server through the loopback relay):
   * `KUBECONFIG=<this> kubectl get svc`.
   */
  readonly kubeconfigPath: string;
  #relay: LoopbackRelay;

  private constructor(
    sb: Sandbox,
    api: SandboxApiServer,
    proxies: Map<string, ProxyNode>,
    relay: LoopbackRelay,
    kubeconfigPath: string,
  ) {
    this.sb = sb;
    this.api = api;
    this.proxies = proxies;
    this.#relay = relay;
    this.kubeconfigPath = kubeconfigPath;
  }

  /**
   * Builds the sandbox, starts the API server with both Nodes and the `default` and
   * `kube-system` Namespaces (and its EndpointSlice controller), relays it to the host's
   * loopback for kubectl, and starts one proxy per node.
   *
   * @param opts Narration, proxy verbosity and log callback.
   * @returns The cluster; call {@linkcode SandboxCluster.teardown} in a `finally`.
   */
  static async start(opts: ClusterOptions = {}): Promise<SandboxCluster> {
    await prefetchModules();
    const sb = await Sandbox.create(opts);
    let relay: LoopbackRelay | undefined;
    try {
      const dir = await sb.makeTempDir();
      const api = await SandboxApiServer.start(sb, `${dir}/apiserver.sock`);
      relay = LoopbackRelay.start(`${dir}/apiserver.sock`);
      const kubeconfigPath = `${dir}/kubeconfig`;
      await Deno.writeTextFile(kubeconfigPath, api.kubeconfig(`http://127.0.0.1:${relay.port}`));
      for (const ns of ["default", "kube-system"]) {
        await api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
      }
      for (const node of sb.nodes) await api.apply(makeNode(node));
      const proxies = new Map<string, ProxyNode>();
      if (opts.startProxies !== false) {
        for (const node of sb.nodes) {
          proxies.set(
            node.name,
            await ProxyNode.start(sb, node, {
              kubeconfig: api.kubeconfig(),
              verbosity: opts.verbosity,
              mode: opts.mode,
              onLine: opts.onProxyLine && ((l) => opts.onProxyLine!(`${node.name}: ${l}`)),
            }),
          );
        }
      }
      return new SandboxCluster(sb, api, proxies, relay, kubeconfigPath);
    } catch (err) {
      relay?.close();
      await sb.teardown();
      throw err;
    }
  }

  /** The proxy of `nodeName`. */
  proxy(nodeName: string): ProxyNode {
    const p = this.proxies.get(nodeName);
    if (!p) throw new Error(`No proxy runs on ${nodeName}`);
    return p;
  }

  /**
   * Creates pods (namespaces), starts their servers in parallel, then publishes their Pod
   * objects (labels, node, IP, Ready), which the EndpointSlice controller follows.
   *
   * @param specs The pods.
   * @returns The pods, in the order given.
   */
  async addPods(specs: readonly PodSpec[]): Promise<SandboxPod[]> {
    const pods: SandboxPod[] = [];
    for (const s of specs) pods.push(await this.sb.addPod(s.name, s.node));
    await Promise.all(
      specs.map((s, i) => s.server === false ? undefined : this.sb.startPodServer(pods[i])),
    );
    for (const [i, s] of specs.entries()) {
      await this.api.apply(makePod(pods[i], { labels: s.labels }));
    }
    return pods;
  }

  /**
   * Deletes a pod: its Pod object first (so its endpoints go), then its namespace.
   *
   * @param name The pod's name.
   */
  async deletePod(name: string): Promise<void> {
    await this.api.remove("Pod", "default", name).catch(() => {});
    await this.sb.deletePod(name);
  }

  /**
   * Applies a Service and its EndpointSlice (the pods given, as the EndpointSlice controller
   * would list them).
   *
   * @param name Service name (in `default` unless `opts.namespace`).
   * @param opts The Service's spec.
   * @param pods Its endpoints.
   * @param sliceOpts Hostnames, readiness.
   * @returns The Service object applied.
   */
  async applyService(
    name: string,
    opts: ServiceOptions,
    pods: readonly SandboxPod[],
    sliceOpts: EndpointSliceOptions = {},
  ) {
    const svc = makeService(name, opts);
    await this.api.apply(svc);
    await this.api.apply(makeEndpointSlice(svc, pods, sliceOpts));
    return svc;
  }

  /**
   * Replaces the endpoints of a Service applied by {@linkcode SandboxCluster.applyService}.
   *
   * @param svc The Service object.
   * @param pods Its new endpoints.
   * @param sliceOpts Hostnames, readiness.
   */
  async setEndpoints(
    svc: ReturnType<typeof makeService>,
    pods: readonly SandboxPod[],
    sliceOpts: EndpointSliceOptions = {},
  ): Promise<void> {
    await this.api.apply(makeEndpointSlice(svc, pods, sliceOpts));
  }

  /**
   * Waits until every running proxy has written rules for `namespace/name` (in its mode).
   *
   * @param name Service name.
   * @param timeoutMs Deadline.
   * @param namespace Its namespace.
   */
  async waitForServiceRules(name: string, timeoutMs = 30_000, namespace = "default") {
    // iptables: the "ns/name:port cluster IP" comment; nftables: a `service-HASH-ns/name/proto/port`
    // chain.
    const patterns = {
      iptables: new RegExp(`"${namespace}/${name}(:[^ "]*)? cluster IP"`),
      nftables: new RegExp(`service-[A-Z2-7]{8}-${namespace}/${name}/`),
    };
    for (const proxy of this.proxies.values()) {
      if (proxy.process) await proxy.waitForRules(patterns[proxy.mode], timeoutMs);
    }
  }

  /**
   * Sends requests from `netns` (see `Sandbox.request`).
   *
   * @returns One result per request.
   */
  request(
    netns: string,
    mode: "tcp" | "http" | "udp",
    target: string,
    count = 1,
  ): Promise<ClientResult[]> {
    return this.sb.request(netns, mode, target, count);
  }

  /**
   * Asks the cluster DNS service IP from inside `netns` with `dig`.
   *
   * @param netns Where dig runs (a pod).
   * @param name The name to resolve.
   * @param type Record type (A by default).
   * @returns The answer lines of `dig +short` and dig's status (`NOERROR`, `NXDOMAIN`, ...).
   */
  async dig(
    netns: string,
    name: string,
    type = "A",
  ): Promise<{ status: string; answers: string[] }> {
    const res = await this.sb.exec(netns, [
      "dig",
      `@${CLUSTER_DNS_IP}`,
      name,
      type,
      "+time=1",
      "+tries=1",
      "+noall",
      "+answer",
      "+comments",
    ]);
    const status = res.stdout.match(/status: ([A-Z]+)/)?.[1] ?? "NO-REPLY";
    const answers = res.stdout.split("\n")
      .filter((l) => l && !l.startsWith(";"))
      .map((l) => l.trim().split(/\s+/).slice(-1)[0]);
    return { status, answers };
  }

  /**
   * Resolves `name` through the cluster DNS IP until it answers (bounded polling).
   *
   * @returns The answers.
   */
  resolve(netns: string, name: string, type = "A", timeoutMs = 15_000): Promise<string[]> {
    return eventually(`DNS answer for ${name}`, async () => {
      const r = await this.dig(netns, name, type);
      if (r.status !== "NOERROR" || r.answers.length === 0) {
        throw new Error(`dig said ${r.status} with ${r.answers.length} answers`);
      }
      return r.answers;
    }, timeoutMs);
  }

  /** Stops the relay and the proxies, then tears the sandbox down. Safe to call twice. */
  async teardown(): Promise<void> {
    this.#relay.close();
    await this.sb.teardown();
  }
}

/** The programs the sandbox runs inside its namespaces. */
const SANDBOX_PROGRAMS = [
  "main.ts",
  "tests/sandbox/api_server_main.ts",
  "tests/sandbox/pod_server.ts",
  "tests/sandbox/pod_client.ts",
];

/**
 * Downloads the npm packages of every program the sandbox runs, from the root namespace: the
 * sandbox's namespaces have no route to the internet, so a fresh machine's first run would
 * otherwise fail there.
 *
 * @throws {Error} When `deno install` fails (the message quotes its output).
 */
export async function prefetchModules(): Promise<void> {
  await runCommand([
    Deno.execPath(),
    "install",
    "--entrypoint",
    ...SANDBOX_PROGRAMS.map(repoPath),
  ]);
}

/**
 * The pod name in a pod server's reply (`db-0 10.244.1.2:41234` → `db-0`).
 *
 * @param result One request's result.
 * @returns The name, or undefined for a failed request.
 */
export function answeredBy(result: ClientResult): string | undefined {
  return result.ok ? result.reply?.split(" ")[0] : undefined;
}

/**
 * The client address a pod server saw (`db-0 10.244.1.2:41234` → `10.244.1.2`).
 *
 * @param result One request's result.
 * @returns The source IP, or undefined for a failed request.
 */
export function seenSource(result: ClientResult): string | undefined {
  if (!result.ok) return undefined;
  const addr = result.reply?.split(" ")[1];
  return addr?.slice(0, addr.lastIndexOf(":"));
}
