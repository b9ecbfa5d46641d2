/**
 * One kube-proxy process per sandbox node: `main.ts` run inside the node's namespace with a real
 * config file and kubeconfig, exactly as the DaemonSet runs it on a node
 * (`--config FILE --kubeconfig FILE --hostname-override NODE`).
 *
 * @module
 */

import { type ProxyMode, renderNodeConfig as renderConfigFile } from "../node_config.ts";
import { runCommand } from "./command.ts";
import type { NetnsProcess } from "./netns_process.ts";
import { CLUSTER_CIDR, repoPath, type Sandbox, type SandboxNode } from "./sandbox.ts";

/** The cluster DNS service IP the sandbox's proxies intercept (as kubeadm's 10.96.0.10). */
export const CLUSTER_DNS_IP = "10.96.0.10";

/** Options of {@linkcode ProxyNode.start}. */
export interface ProxyNodeOptions {
  /** The kubeconfig text (the sandbox API server's). */
  kubeconfig: string;
  /** `iptables.minSyncPeriod`, a Go duration; default `200ms` so the demo stays quick. */
  minSyncPeriod?: string;
  /** The proxy mode written into the node's config; default iptables. */
  mode?: ProxyMode;
  /** klog verbosity (`--v`); default 0. */
  verbosity?: number;
  /** Called with every log line of the proxy. */
  onLine?: (line: string) => void;
}

/**
 * The node's config file: a `KubeProxyConfiguration` as users write it, plus this project's
 * `ClusterDNSConfiguration` document intercepting {@linkcode CLUSTER_DNS_IP}.
 *
 * Conntrack sizing and timeouts are set to 0 ("leave as-is") so that the sandbox never writes a
 * sysctl that is global to the machine (`nf_conntrack_max` is not per-namespace).
 *
 * @param node The sandbox node.
 * @param kubeconfigPath Where its kubeconfig is.
 * @param minSyncPeriod `iptables.minSyncPeriod`.
 * @param mode The proxy mode (default iptables).
 * @returns The YAML text (two documents).
 */
export function renderNodeConfig(
  node: SandboxNode,
  kubeconfigPath: string,
  minSyncPeriod = "200ms",
  mode: ProxyMode = "iptables",
): string {
  return renderConfigFile({
    mode,
    kubeconfig: kubeconfigPath,
    nodeName: node.name,
    clusterCIDR: CLUSTER_CIDR,
    healthzBindAddress: "0.0.0.0:10256",
    metricsBindAddress: "127.0.0.1:10249",
    minSyncPeriod,
    dnsBindAddress: "0.0.0.0",
    dnsPort: 53,
    podRecords: true,
    dnsServiceIPs: [CLUSTER_DNS_IP],
  });
}

/**
 * Saves the rules of `table` in `netns`: the nft backend's, and the legacy backend's too when the
 * nft backend holds no KUBE- rule (the proxy picks its backend the way upstream's wrapper does;
 * the sandbox does not guess, but avoids touching the legacy tables when it need not).
 *
 * @param netns The namespace.
 * @param table `nat` or `filter`.
 * @returns The iptables-save output (nft first).
 */
export async function saveRules(netns: string, table: "nat" | "filter"): Promise<string> {
  const nft = await runCommand(["iptables-nft-save", "-t", table], { netns, check: false });
  if (nft.stdout.includes("KUBE-")) return nft.stdout;
  const legacy = await runCommand(["iptables-legacy-save", "-t", table], { netns, check: false });
  return `${nft.stdout}\n${legacy.stdout}`;
}

/**
 * The proxy of one sandbox node.
 *
 * @example
 * ```ts
 * const proxy = await ProxyNode.start(sb, sb.node("node1"), { kubeconfig: api.kubeconfig() });
 * await proxy.waitForRules(/KUBE-SVC-/, 20_000);
 * ```
 */
export class ProxyNode {
  /** The node. */
  readonly node: SandboxNode;
  /** Path of the config file. */
  readonly configPath: string;
  /** Path of the kubeconfig. */
  readonly kubeconfigPath: string;
  #sb: Sandbox;
  #opts: ProxyNodeOptions;
  #process: NetnsProcess | undefined;

  private constructor(sb: Sandbox, node: SandboxNode, dir: string, opts: ProxyNodeOptions) {
    this.#sb = sb;
    this.node = node;
    this.#opts = opts;
    this.configPath = `${dir}/${node.name}-kube-proxy-config.yaml`;
    this.kubeconfigPath = `${dir}/${node.name}-kubeconfig`;
  }

  /**
   * Writes the node's config and kubeconfig and starts its proxy.
   *
   * @param sb The sandbox.
   * @param node The node.
   * @param opts Kubeconfig text, sync period, verbosity.
   * @returns The running proxy.
   */
  static async start(sb: Sandbox, node: SandboxNode, opts: ProxyNodeOptions): Promise<ProxyNode> {
    const dir = await sb.makeTempDir();
    const proxy = new ProxyNode(sb, node, dir, opts);
    await Deno.writeTextFile(proxy.kubeconfigPath, opts.kubeconfig);
    await Deno.writeTextFile(
      proxy.configPath,
      renderNodeConfig(node, proxy.kubeconfigPath, opts.minSyncPeriod, opts.mode),
    );
    proxy.launch();
    return proxy;
  }

  /** The command line the node runs. */
  argv(...extra: string[]): string[] {
    return [
      Deno.execPath(),
      "run",
      "-A",
      repoPath("main.ts"),
      "--config",
      this.configPath,
      "--kubeconfig",
      this.kubeconfigPath,
      "--hostname-override",
      this.node.name,
      ...(this.#opts.verbosity ? [`--v=${this.#opts.verbosity}`] : []),
      ...extra,
    ];
  }

  /** Starts the proxy process (again, after {@linkcode ProxyNode.stop}). */
  launch(): NetnsProcess {
    this.#process = this.#sb.startProcess(this.node.netns, this.argv(), {
      label: `kube-proxy ${this.node.name}`,
      onLine: this.#opts.onLine,
    });
    return this.#process;
  }

  /** The running process (undefined when stopped). */
  get process(): NetnsProcess | undefined {
    return this.#process;
  }

  /**
   * Stops the proxy (SIGTERM, as the kubelet does), leaving its rules in place.
   *
   * @returns The exit status.
   */
  async stop(): Promise<Deno.CommandStatus | undefined> {
    const p = this.#process;
    if (!p) return undefined;
    this.#process = undefined;
    await this.#sb.stopProcess(p);
    return p.exitStatus;
  }

  /**
   * Runs `main.ts --cleanup` in the node (with the same config), as an operator removing
   * kube-proxy from a node does.
   *
   * @returns Exit code and output.
   */
  cleanup() {
    return this.#sb.exec(this.node.netns, this.argv("--cleanup"));
  }

  /** The proxy mode of the node's config. */
  get mode(): ProxyMode {
    return this.#opts.mode ?? "iptables";
  }

  /**
   * The node's `nat` and `filter` rules (both iptables backends); in nftables mode, the
   * `kube-proxy` table of family `ip` first.
   */
  async rules(): Promise<string> {
    const [nat, filter, nft] = await Promise.all([
      saveRules(this.node.netns, "nat"),
      saveRules(this.node.netns, "filter"),
      this.mode === "nftables"
        ? runCommand(["nft", "list", "table", "ip", "kube-proxy"], {
          netns: this.node.netns,
          check: false,
        }).then((r) => r.stdout)
        : "",
    ]);
    return `${nft}\n${nat}\n${filter}`;
  }

  /**
   * Polls the node's rules until they match `pattern`.
   *
   * @param pattern What the rules must contain.
   * @param timeoutMs Deadline.
   * @returns The rules.
   * @throws {Error} On timeout (with the proxy's last log lines), or when the proxy exits.
   */
  async waitForRules(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const rules = await this.rules();
      if (pattern.test(rules)) return rules;
      const p = this.#process;
      if (p?.exitStatus) {
        throw new Error(
          `kube-proxy on ${this.node.name} exited with code ${p.exitStatus.code}:\n${p.tail(30)}`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(
          `kube-proxy on ${this.node.name} did not write rules matching ${pattern} in time:\n` +
            (p?.tail(30) ?? "(not running)"),
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
