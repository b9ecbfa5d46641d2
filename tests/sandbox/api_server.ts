/**
 * The sandbox's API server: the fixture from `tests/apiserver/` run inside the underlay namespace
 * on 192.168.1.2:6443 (reachable from both nodes, as a control-plane address is), driven over the
 * control channel of `api_server_main.ts`.
 *
 * @module
 */

import { repoPath, type Sandbox, UNDERLAY_BRIDGE_IP } from "./sandbox.ts";
import type { NetnsProcess } from "./netns_process.ts";

/** Port the sandbox's API server listens on. */
export const API_SERVER_PORT = 6443;

/** A raw Kubernetes API object, as applied. */
// deno-lint-ignore no-explicit-any
export type ApiObject = Record<string, any>;

/**
 * The API server fixture running in the sandbox.
 *
 * @example
 * ```ts
 * const api = await SandboxApiServer.start(sb);
 * await api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } });
 * ```
 */
export class SandboxApiServer {
  /** `http://192.168.1.2:6443`. */
  readonly url: string;
  #process: NetnsProcess;
  #nextId = 1;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(process: NetnsProcess, url: string) {
    this.#process = process;
    this.url = url;
  }

  /**
   * Starts the fixture in the sandbox's underlay namespace and waits until it listens.
   *
   * @param sb The sandbox.
   * @param unixSocket Also serve on this Unix socket (see `loopback_relay.ts`).
   * @returns The running server.
   */
  static async start(sb: Sandbox, unixSocket?: string): Promise<SandboxApiServer> {
    const listen = `${UNDERLAY_BRIDGE_IP}:${API_SERVER_PORT}`;
    const p = sb.startProcess(
      sb.underlayNetns,
      [
        Deno.execPath(),
        "run",
        "-A",
        repoPath("tests/sandbox/api_server_main.ts"),
        "--listen",
        listen,
        ...(unixSocket ? ["--unix", unixSocket] : []),
      ],
      { label: "apiserver", stdin: true },
    );
    const line = await p.waitForLine(/^ready /, 60_000);
    return new SandboxApiServer(p, line.slice("ready ".length).trim());
  }

  /** The fixture's output so far (for failure messages). */
  get process(): NetnsProcess {
    return this.#process;
  }

  #call(req: Record<string, unknown>): Promise<ApiObject> {
    const run = async () => {
      const id = this.#nextId++;
      const from = this.#process.lines.length;
      await this.#process.writeLine(JSON.stringify({ ...req, id }));
      const line = await this.#process.waitForLine(
        new RegExp(`^\\{"id":${id},`),
        10_000,
        Math.max(0, from - 5),
      );
      const reply = JSON.parse(line);
      if (!reply.ok) throw new Error(`API server fixture refused ${req.op}: ${reply.error}`);
      return reply;
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }

  /**
   * Creates or replaces an object.
   *
   * @param obj The object (any kind the fixture serves).
   * @returns Its new resourceVersion.
   */
  async apply(obj: ApiObject): Promise<string> {
    return (await this.#call({ op: "apply", object: obj })).resourceVersion;
  }

  /**
   * Deletes an object.
   *
   * @param kind Its kind (`Service`, `EndpointSlice`, ...).
   * @param namespace Its namespace ("" for cluster-scoped kinds).
   * @param name Its name.
   */
  async remove(kind: string, namespace: string, name: string): Promise<void> {
    await this.#call({ op: "remove", kind, namespace, name });
  }

  /**
   * Every current object of a kind.
   *
   * @param kind Its kind (`EndpointSlice`, `Pod`, ...).
   * @returns The objects, sorted by namespace/name.
   */
  async list(kind: string): Promise<ApiObject[]> {
    return (await this.#call({ op: "list", kind })).items;
  }

  /**
   * A kubeconfig: the fixture over plain HTTP, no credentials.
   *
   * @param server The URL; default the underlay address the proxies use.
   * @returns The kubeconfig YAML text.
   */
  kubeconfig(server = this.url): string {
    return [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "  - name: sandbox",
      "    cluster:",
      `      server: ${server}`,
      "users:",
      "  - name: kube-proxy",
      "    user: {}",
      "contexts:",
      "  - name: sandbox",
      "    context:",
      "      cluster: sandbox",
      "      user: kube-proxy",
      "current-context: sandbox",
      "",
    ].join("\n");
  }
}
