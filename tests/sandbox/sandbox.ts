/**
 * A two-node cluster's network, built from network namespaces on one machine.
 *
 *                       kpsbx-<run>-underlay: bridge br0 192.168.1.2/24 (the API server listens here)
 *             ┌──────────────────────┼───────────────────────┐
 *   kpsbx-<run>-node1          kpsbx-<run>-node2          kpsbx-<run>-client
 *   eth0 192.168.1.10          eth0 192.168.1.11          eth0 192.168.1.100 (the "underlay client")
 *   cbr0 10.244.1.1/24         cbr0 10.244.2.1/24
 *   10.244.2.0/24 via .11      10.244.1.0/24 via .10
 *     │ veth                     │ veth
 *   kpsbx-<run>-pod-<name>     kpsbx-<run>-pod-<name>     (eth0 10.244.N.x, default via 10.244.N.1)
 *
 * Nodes forward (`ip_forward=1`) and pass bridged traffic through iptables
 * (`bridge-nf-call-iptables=1`, per namespace since Linux 5.3), as a kubenet node does; pod ports
 * on cbr0 are in hairpin mode so that a pod can reach itself through a Service. Nothing is created
 * in the root namespace: even the veth pairs are created directly between sandbox namespaces.
 *
 * Every run records what it made in a state file (see `sandbox_state.ts`); {@linkcode Sandbox.create}
 * first removes what dead runs left, and {@linkcode Sandbox.teardown} removes everything.
 *
 * @module
 */

import { runCommand } from "./command.ts";
import type { ClientResult } from "./pod_client.ts";
import { NetnsProcess, type NetnsProcessOptions } from "./netns_process.ts";
import {
  deleteNamespace,
  removeLeftovers,
  removeState,
  SANDBOX_PREFIX,
  type SandboxState,
  writeState,
} from "./sandbox_state.ts";

/** One node of the sandbox. */
export interface SandboxNode {
  /** Node name, as the Node object and `--hostname-override` give it: `node1`, `node2`. */
  readonly name: string;
  readonly netns: string;
  /** The node's underlay (InternalIP) address. */
  readonly ip: string;
  readonly podCIDR: string;
  /** The pod bridge's address: the pods' default gateway. */
  readonly bridgeIP: string;
}

/** One pod: a namespace with a veth into its node's bridge. */
export interface SandboxPod {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  /** Name of the node it runs on. */
  readonly node: string;
}

/** Options of {@linkcode Sandbox.create}. */
export interface SandboxOptions {
  /** Called with one line per step, for narration (`--v`-style detail). */
  onLog?: (line: string) => void;
  /** Recorded in the state file: the run is kept up for exploring (see `explore.ts`). */
  kept?: boolean;
}

/** Address of the underlay bridge in the underlay namespace; the API server listens there. */
export const UNDERLAY_BRIDGE_IP = "192.168.1.2";
/** Address of the underlay client namespace. */
export const UNDERLAY_CLIENT_IP = "192.168.1.100";
/** The cluster's pod network (both nodes' pod CIDRs). */
export const CLUSTER_CIDR = "10.244.0.0/16";
/** The Service CIDR the sandbox's ClusterIPs come from. */
export const SERVICE_CIDR = "10.96.0.0/12";
/** The port {@linkcode Sandbox.startPodServer} listens on (TCP and UDP). */
export const POD_SERVER_PORT = 8080;

const ROOT = new URL("../..", import.meta.url).pathname;

/** Path of a file in the repository, by its path from the repository root. */
export function repoPath(relative: string): string {
  return ROOT + relative;
}

/**
 * The sandbox: namespaces, links, routes, and the processes started inside them.
 *
 * @example
 * ```ts
 * const sb = await Sandbox.create();
 * try {
 *   const db = await sb.addPod("db-0", "node2");
 *   await sb.startPodServer(db);
 * } finally {
 *   await sb.teardown();
 * }
 * ```
 */
export class Sandbox {
  /** Short random id in every name this run creates. */
  readonly runId: string;
  /** The namespace holding the underlay bridge (and the API server). */
  readonly underlayNetns: string;
  /** The underlay client's namespace (NodePort and externalTrafficPolicy tests). */
  readonly clientNetns: string;
  /** The two nodes. */
  readonly nodes: readonly SandboxNode[];
  #state: SandboxState;
  #pods = new Map<string, SandboxPod>();
  #podProcesses = new Map<string, NetnsProcess[]>();
  #processes = new Set<NetnsProcess>();
  #nextHost = new Map<string, number>();
  #vethCount = 0;
  #log: (line: string) => void;
  #tornDown = false;

  private constructor(runId: string, opts: SandboxOptions) {
    this.runId = runId;
    this.#log = opts.onLog ?? (() => {});
    const prefix = `${SANDBOX_PREFIX}${runId}`;
    this.underlayNetns = `${prefix}-underlay`;
    this.clientNetns = `${prefix}-client`;
    this.nodes = [1, 2].map((i) => ({
      name: `node${i}`,
      netns: `${prefix}-node${i}`,
      ip: `192.168.1.${9 + i}`,
      podCIDR: `10.244.${i}.0/24`,
      bridgeIP: `10.244.${i}.1`,
    }));
    this.#state = {
      runId,
      pid: Deno.pid,
      namespaces: [],
      dirs: [],
      pids: [],
      ...(opts.kept ? { kept: true } : {}),
    };
  }

  /**
   * Removes leftovers of dead runs, then builds the underlay, both nodes and the client.
   *
   * @param opts Narration callback.
   * @returns The sandbox; call {@linkcode Sandbox.teardown} in a `finally`.
   * @throws {Error} When not root, or when a command fails (what was built is torn down first).
   */
  static async create(opts: SandboxOptions = {}): Promise<Sandbox> {
    if (Deno.uid() !== 0) {
      throw new Error("Cannot build the sandbox: creating network namespaces needs root");
    }
    const removed = await removeLeftovers();
    if (removed.length > 0) {
      opts.onLog?.(`removed ${removed.length} namespaces left by a previous run`);
    }
    const runId = crypto.randomUUID().slice(0, 6);
    const sb = new Sandbox(runId, opts);
    writeState(sb.#state);
    try {
      await sb.#build();
    } catch (err) {
      await sb.teardown();
      throw err;
    }
    return sb;
  }

  /** The node called `name`. */
  node(name: string): SandboxNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`Cannot find sandbox node ${name}`);
    return node;
  }

  /** The pod called `name`. */
  pod(name: string): SandboxPod {
    const pod = this.#pods.get(name);
    if (!pod) throw new Error(`Cannot find sandbox pod ${name}`);
    return pod;
  }

  /** Every pod, in creation order. */
  get pods(): readonly SandboxPod[] {
    return [...this.#pods.values()];
  }

  async #ip(args: string[], netns?: string): Promise<void> {
    await runCommand(netns ? ["ip", "-n", netns, ...args] : ["ip", ...args]);
  }

  async #addNamespace(name: string): Promise<void> {
    this.#state.namespaces.push(name);
    writeState(this.#state);
    await runCommand(["ip", "netns", "add", name]);
    await this.#ip(["link", "set", "lo", "up"], name);
  }

  async #sysctl(netns: string, key: string, value: string): Promise<void> {
    const path = `/proc/sys/${key.replaceAll(".", "/")}`;
    await runCommand(["sh", "-c", `echo ${value} > ${path}`], { netns });
  }

  async #build(): Promise<void> {
    const ul = this.underlayNetns;
    this.#log(`underlay ${ul}: bridge br0 ${UNDERLAY_BRIDGE_IP}/24`);
    await this.#addNamespace(ul);
    await this.#ip(["link", "add", "br0", "type", "bridge"], ul);
    await this.#ip(["addr", "add", `${UNDERLAY_BRIDGE_IP}/24`, "dev", "br0"], ul);
    await this.#ip(["link", "set", "br0", "up"], ul);

    for (const node of this.nodes) {
      this.#log(`${node.name} ${node.netns}: eth0 ${node.ip}, cbr0 ${node.bridgeIP}/24`);
      await this.#addNamespace(node.netns);
      await this.#attachToUnderlay(node.netns, node.name, node.ip);
      await this.#ip(["link", "add", "cbr0", "type", "bridge"], node.netns);
      await this.#ip(["addr", "add", `${node.bridgeIP}/24`, "dev", "cbr0"], node.netns);
      await this.#ip(["link", "set", "cbr0", "up"], node.netns);
      await this.#sysctl(node.netns, "net.ipv4.ip_forward", "1");
      await this.#sysctl(node.netns, "net.bridge.bridge-nf-call-iptables", "1");
      await this.#sysctl(node.netns, "net.bridge.bridge-nf-call-ip6tables", "1");
      this.#nextHost.set(node.name, 2);
    }
    for (const node of this.nodes) {
      for (const other of this.nodes) {
        if (other === node) continue;
        await this.#ip(["route", "add", other.podCIDR, "via", other.ip], node.netns);
      }
      // Locally generated traffic to a ClusterIP needs a route before the OUTPUT DNAT applies.
      await this.#ip(["route", "add", "default", "via", UNDERLAY_BRIDGE_IP], node.netns);
    }

    this.#log(`underlay client ${this.clientNetns}: eth0 ${UNDERLAY_CLIENT_IP}`);
    await this.#addNamespace(this.clientNetns);
    await this.#attachToUnderlay(this.clientNetns, "client", UNDERLAY_CLIENT_IP);
  }

  async #attachToUnderlay(netns: string, port: string, ip: string): Promise<void> {
    const ul = this.underlayNetns;
    await this.#ip(
      ["link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", ul],
      netns,
    );
    await this.#ip(["link", "set", port, "master", "br0", "up"], ul);
    await this.#ip(["addr", "add", `${ip}/24`, "dev", "eth0"], netns);
    await this.#ip(["link", "set", "eth0", "up"], netns);
  }

  /**
   * Creates a pod: its namespace, a veth into the node's cbr0 (hairpin on), the next free IP of
   * the node's pod CIDR and a default route via the bridge.
   *
   * @param name Pod name (unique in the sandbox).
   * @param nodeName `node1` or `node2`.
   * @returns The pod.
   */
  async addPod(name: string, nodeName: string): Promise<SandboxPod> {
    if (this.#pods.has(name)) throw new Error(`Cannot add pod ${name}: it exists`);
    const node = this.node(nodeName);
    const host = this.#nextHost.get(node.name)!;
    this.#nextHost.set(node.name, host + 1);
    const ip = node.podCIDR.replace(/0\/24$/, String(host));
    const netns = `${SANDBOX_PREFIX}${this.runId}-pod-${name}`;
    const veth = `veth${++this.#vethCount}`;
    this.#log(`pod ${name} on ${node.name}: ${ip} (${netns})`);
    await this.#addNamespace(netns);
    await this.#ip(
      ["link", "add", "eth0", "type", "veth", "peer", "name", veth, "netns", node.netns],
      netns,
    );
    await this.#ip(["link", "set", veth, "master", "cbr0", "up"], node.netns);
    await this.#ip(
      ["link", "set", "dev", veth, "type", "bridge_slave", "hairpin", "on"],
      node.netns,
    );
    await this.#ip(["addr", "add", `${ip}/24`, "dev", "eth0"], netns);
    await this.#ip(["link", "set", "eth0", "up"], netns);
    await this.#ip(["route", "add", "default", "via", node.bridgeIP], netns);
    const pod: SandboxPod = { name, netns, ip, node: node.name };
    this.#pods.set(name, pod);
    return pod;
  }

  /**
   * Deletes a pod: stops its processes and removes its namespace (and so its veth).
   *
   * @param name The pod.
   */
  async deletePod(name: string): Promise<void> {
    const pod = this.pod(name);
    for (const p of this.#podProcesses.get(name) ?? []) {
      await p.stop("SIGKILL");
      this.#processes.delete(p);
    }
    this.#podProcesses.delete(name);
    await deleteNamespace(pod.netns);
    this.#pods.delete(name);
    this.#state.namespaces = this.#state.namespaces.filter((n) => n !== pod.netns);
    writeState(this.#state);
    this.#log(`pod ${name} deleted`);
  }

  /**
   * Starts a long-running process in `netns`; the sandbox stops it on teardown.
   *
   * @param netns The namespace (a node's, a pod's, the underlay's or the client's).
   * @param argv The command.
   * @param opts Label, stdin, environment, output callback.
   * @returns The process.
   */
  startProcess(
    netns: string,
    argv: readonly string[],
    opts: Omit<NetnsProcessOptions, "netns">,
  ): NetnsProcess {
    const p = NetnsProcess.start(argv, { ...opts, netns });
    this.#processes.add(p);
    this.#state.pids.push(p.pid);
    writeState(this.#state);
    return p;
  }

  /**
   * Stops a process started by {@linkcode Sandbox.startProcess} and forgets it.
   *
   * @param p The process.
   * @param signal First signal (SIGTERM by default; SIGKILL follows after 5 s).
   */
  async stopProcess(p: NetnsProcess, signal: Deno.Signal = "SIGTERM"): Promise<void> {
    await p.stop(signal);
    this.#processes.delete(p);
    this.#state.pids = this.#state.pids.filter((pid) => pid !== p.pid);
    writeState(this.#state);
  }

  /**
   * Runs `pod_server.ts` in the pod (TCP and UDP on `port`, answering with the pod's name) and
   * waits until it listens.
   *
   * @param pod The pod.
   * @param port The port (8080 by default).
   * @returns The server process.
   */
  async startPodServer(pod: SandboxPod, port = POD_SERVER_PORT): Promise<NetnsProcess> {
    const p = this.startProcess(
      pod.netns,
      [
        Deno.execPath(),
        "run",
        "-A",
        repoPath("tests/sandbox/pod_server.ts"),
        "--name",
        pod.name,
        "--port",
        String(port),
      ],
      { label: `pod ${pod.name}` },
    );
    const list = this.#podProcesses.get(pod.name) ?? [];
    list.push(p);
    this.#podProcesses.set(pod.name, list);
    await p.waitForLine(/^ready/, 30_000);
    return p;
  }

  /**
   * Runs `pod_client.ts` in `netns`: `count` requests to `host:port`, one result per request.
   *
   * @param netns Where the client runs (a pod's namespace, or the underlay client's).
   * @param mode `tcp` (one line per connection), `http` or `udp`.
   * @param target `host:port`, or `host:port/path` for `http`.
   * @param count Number of requests (sequential, each on a new connection or socket).
   * @returns The replies (`<pod> <client-ip>:<port>`) or errors, in order.
   */
  async request(
    netns: string,
    mode: "tcp" | "http" | "udp",
    target: string,
    count = 1,
  ): Promise<ClientResult[]> {
    const i = target.lastIndexOf(":");
    const res = await runCommand([
      Deno.execPath(),
      "run",
      "-A",
      repoPath("tests/sandbox/pod_client.ts"),
      mode,
      target.slice(0, i),
      target.slice(i + 1),
      "--count",
      String(count),
    ], { netns, check: false });
    const results: ClientResult[] = [];
    for (const line of res.stdout.split("\n")) {
      if (line.startsWith("{")) results.push(JSON.parse(line));
    }
    if (results.length === 0) {
      results.push({ ok: false, error: `client failed: ${res.stderr.trim()}` });
    }
    return results;
  }

  /**
   * Creates a temporary directory that teardown removes.
   *
   * @returns Its path.
   */
  async makeTempDir(): Promise<string> {
    const dir = await Deno.makeTempDir({ prefix: `${SANDBOX_PREFIX}${this.runId}-` });
    this.#state.dirs.push(dir);
    writeState(this.#state);
    return dir;
  }

  /**
   * Runs a command to completion inside `netns`.
   *
   * @param netns The namespace.
   * @param argv The command.
   * @param stdin Optional standard input.
   * @returns Exit code and output (a failure is returned, not thrown).
   */
  exec(netns: string, argv: readonly string[], stdin?: string) {
    return runCommand(argv, { netns, stdin, check: false });
  }

  /**
   * Stops every process, deletes every namespace (newest first), the temporary directories and
   * the state file. Safe to call twice.
   */
  async teardown(): Promise<void> {
    if (this.#tornDown) return;
    this.#tornDown = true;
    await Promise.all([...this.#processes].map((p) => p.stop("SIGTERM", 3000)));
    this.#processes.clear();
    for (const ns of [...this.#state.namespaces].reverse()) await deleteNamespace(ns);
    for (const dir of this.#state.dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
    removeState(this.runId);
    this.#log(`sandbox ${this.runId} torn down`);
  }
}
