/**
 * The connection to the API server: client configuration built as kube-proxy builds it
 * (`--kubeconfig`, `--master`, in-cluster service account), and LIST and WATCH of a resource path.
 *
 * This is the only file that imports `@kubernetes/client-node`. We use its `KubeConfig` for what
 * it does well: parsing kubeconfig files (contexts, relative paths, `*-data` fields, token files,
 * exec and auth-provider plugins) into TLS material and an `Authorization` header. We do NOT use
 * its `Watch`/`ListWatch`/informer for the transport, because:
 *
 * - its `update` callback passes only the new object (kube-proxy's handlers need the previous one);
 * - after a generic error its informer fires `error` and stops for good (no restart, no backoff);
 * - `informer.start()` resolves even when the first list failed, so "synced" cannot be read off it;
 * - a relist after 410 Gone replaces its cache without telling which objects the gap deleted;
 * - a malformed watch line is silently dropped (that event is then lost);
 * - its undici-based transport keeps sockets that `deno test`'s sanitizers flag, and a list is
 *   parsed whole (10,000 EndpointSlices become one 100 MB tree before anything is trimmed).
 *
 * So requests go through Deno's `fetch` with a `Deno.HttpClient` carrying the CA and client
 * certificate from the kubeconfig, lists are decoded item by item (`list_decoder.ts`), and
 * `reflector.ts` owns list-then-watch, relist on 410, backoff, and "synced".
 *
 * @module
 */

// @ts-types="./kube_config.d.ts"
import { KubeConfig } from "@kubernetes/client-node/dist/config.js";
import { decodeList } from "./list_decoder.ts";

/** Default directory of the in-cluster service account (token, ca.crt). */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** How to find the API server (kube-proxy's `--kubeconfig` and `--master`). */
export interface ClientConfigOptions {
  /** `--kubeconfig` / `clientConnection.kubeconfig`; "" or undefined for none. */
  readonly kubeconfig?: string;
  /** `--master`: overrides the kubeconfig's server; alone, it is the whole configuration. */
  readonly master?: string;
  /** Where the in-cluster token and CA live; tests point it at a temporary directory. */
  readonly serviceAccountDir?: string;
  /** Environment lookup (`KUBERNETES_SERVICE_HOST`/`PORT`); `Deno.env.get` by default. */
  readonly env?: (name: string) => string | undefined;
}

/** A resolved client configuration. */
export interface ClientConfig {
  /** Base URL of the API server, without a trailing slash. */
  readonly server: string;
  /** Where it came from, for log lines ("kubeconfig /path", "in-cluster", "--master"). */
  readonly source: string;
  /** PEM of the CA that must have signed the server's certificate (undefined: system roots). */
  readonly caCert: string | undefined;
  /** PEM client certificate and key, for client-certificate authentication. */
  readonly clientCert: string | undefined;
  readonly clientKey: string | undefined;
  /** Request headers (Authorization); re-evaluated per request so rotated tokens are picked up. */
  headers(): Promise<Record<string, string>>;
}

/** An error answer of the API server (non-2xx status, or an `ERROR` watch event). */
export class ApiStatusError extends Error {
  /** HTTP status code (410 means the resourceVersion is too old: relist). */
  readonly code: number;
  /**
   * @param code HTTP status code.
   * @param message The `Status` message or the status text.
   */
  constructor(code: number, message: string) {
    super(message);
    this.name = "ApiStatusError";
    this.code = code;
  }
}

function toText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  // Buffers from client-node (node:buffer), or strings.
  return typeof v === "string" ? v : new TextDecoder().decode(v as Uint8Array);
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Builds a ClientConfig out of a loaded KubeConfig. */
async function fromKubeConfig(kc: KubeConfig, source: string): Promise<ClientConfig> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) {
    throw new Error(
      `Cannot load ${source}: no cluster for the current context ${
        JSON.stringify(kc.getCurrentContext() ?? "")
      }`,
    );
  }
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw new Error(`Cannot load ${source}: server ${JSON.stringify(cluster.server)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`Cannot load ${source}: server ${cluster.server} is neither http nor https`);
  }
  if (url.protocol === "https:" && cluster.skipTLSVerify) {
    throw new Error(
      `Cannot load ${source}: insecure-skip-tls-verify is not supported; give the cluster's CA`,
    );
  }
  // client-node refuses plain http unless the cluster skips TLS verification; plain http has no
  // TLS to verify, so saying so changes nothing else.
  if (url.protocol === "http:" && !cluster.skipTLSVerify) {
    (cluster as { skipTLSVerify: boolean }).skipTLSVerify = true;
  }
  // deno-lint-ignore no-explicit-any
  const opts: any = { headers: {} };
  try {
    await kc.applyToHTTPSOptions(opts);
  } catch (err) {
    throw new Error(`Cannot load ${source}: ${describeError(err)}`);
  }
  const caCert = toText(opts.ca);
  const clientCert = toText(opts.cert);
  const clientKey = toText(opts.key);
  if ((clientCert === undefined) !== (clientKey === undefined)) {
    throw new Error(
      `Cannot load ${source}: a client certificate needs both a certificate and a key`,
    );
  }
  return {
    server: cluster.server.replace(/\/+$/, ""),
    source,
    caCert,
    clientCert,
    clientKey,
    async headers() {
      // deno-lint-ignore no-explicit-any
      const o: any = { headers: {} };
      await kc.applyToHTTPSOptions(o);
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(o.headers ?? {})) out[k] = String(v).trim();
      return out;
    },
  };
}

/**
 * Resolves the client configuration as kube-proxy does (`clientcmd.BuildConfigFromFlags`):
 * with neither `kubeconfig` nor `master`, the in-cluster service account; with `master` alone,
 * that URL with no credentials; with a kubeconfig, its current context, its server replaced by
 * `master` when given.
 *
 * @param opts The flags.
 * @returns the configuration; TLS material and the token file are read now.
 * @throws {Error} naming the file and the problem when the kubeconfig is missing or broken, or
 *   the in-cluster environment is incomplete.
 */
export async function loadClientConfig(opts: ClientConfigOptions): Promise<ClientConfig> {
  const kubeconfig = opts.kubeconfig ?? "";
  const master = opts.master ?? "";
  const kc = new KubeConfig();
  if (kubeconfig !== "") {
    const source = `kubeconfig ${kubeconfig}`;
    let text: string;
    try {
      text = await Deno.readTextFile(kubeconfig);
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound ? "file does not exist" : describeError(err);
      throw new Error(`Cannot load kubeconfig ${kubeconfig}: ${why}`);
    }
    try {
      kc.loadFromString(text);
      const dir = kubeconfig.includes("/") ? kubeconfig.slice(0, kubeconfig.lastIndexOf("/")) : ".";
      kc.makePathsAbsolute(dir === "" ? "/" : dir);
    } catch (err) {
      throw new Error(`Cannot load kubeconfig ${kubeconfig}: ${describeError(err)}`);
    }
    if (kc.getCurrentContext() === undefined || kc.getCurrentContext() === "") {
      throw new Error(`Cannot load kubeconfig ${kubeconfig}: current-context is not set`);
    }
    if (master !== "") {
      const cluster = kc.getCurrentCluster();
      if (cluster !== null) (cluster as { server: string }).server = master;
    }
    return await fromKubeConfig(kc, source);
  }
  if (master !== "") {
    kc.loadFromOptions({
      clusters: [{ name: "master", server: master, skipTLSVerify: master.startsWith("http:") }],
      users: [{ name: "anonymous" }],
      contexts: [{ name: "master", cluster: "master", user: "anonymous" }],
      currentContext: "master",
    });
    return await fromKubeConfig(kc, `--master ${master}`);
  }
  const env = opts.env ?? ((name: string) => Deno.env.get(name));
  const host = env("KUBERNETES_SERVICE_HOST") ?? "";
  const port = env("KUBERNETES_SERVICE_PORT") ?? "";
  if (host === "" || port === "") {
    throw new Error(
      "Cannot load in-cluster configuration: KUBERNETES_SERVICE_HOST and " +
        "KUBERNETES_SERVICE_PORT must be set (or give --kubeconfig or --master)",
    );
  }
  const dir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  for (const file of ["token", "ca.crt"]) {
    try {
      await Deno.stat(`${dir}/${file}`);
    } catch {
      throw new Error(`Cannot load in-cluster configuration: ${dir}/${file} does not exist`);
    }
  }
  const hostPart = host.includes(":") ? `[${host}]` : host;
  kc.loadFromOptions({
    clusters: [{
      name: "inCluster",
      server: `https://${hostPart}:${port}`,
      caFile: `${dir}/ca.crt`,
    }],
    users: [{
      name: "inClusterUser",
      authProvider: { name: "tokenFile", config: { tokenFile: `${dir}/token` } },
    }],
    contexts: [{ name: "inClusterContext", cluster: "inCluster", user: "inClusterUser" }],
    currentContext: "inClusterContext",
  });
  return await fromKubeConfig(kc, "in-cluster configuration");
}

/** One watch event, with the raw object. */
export interface WatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  // deno-lint-ignore no-explicit-any
  readonly object: any;
}

/** The outcome of a LIST. */
export interface ListResult {
  readonly resourceVersion: string;
  readonly itemCount: number;
}

/** LIST and WATCH over HTTP(S) with one client configuration. */
export class ApiClient {
  #config: ClientConfig;
  #http: Deno.HttpClient | undefined;

  /** @param config From `loadClientConfig()`. */
  constructor(config: ClientConfig) {
    this.#config = config;
    if (config.caCert !== undefined || config.clientCert !== undefined) {
      this.#http = Deno.createHttpClient({
        caCerts: config.caCert !== undefined ? [config.caCert] : undefined,
        ...(config.clientCert !== undefined && config.clientKey !== undefined
          ? { cert: config.clientCert, key: config.clientKey }
          : {}),
      });
    }
  }

  /** The API server URL. */
  get server(): string {
    return this.#config.server;
  }

  async #get(path: string, query: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const url = new URL(this.#config.server + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const headers = { accept: "application/json", ...(await this.#config.headers()) };
    const res = await fetch(url, { headers, signal, client: this.#http });
    if (res.status !== 200) {
      let message = res.statusText;
      try {
        const body = await res.json();
        if (typeof body?.message === "string") message = body.message;
      } catch {
        // not a Status body
      }
      throw new ApiStatusError(res.status, `GET ${path}: ${res.status} ${message}`);
    }
    return res;
  }

  /**
   * Lists a collection, handing each raw item to `onItem` as it is decoded.
   *
   * @param path e.g. `/api/v1/services`.
   * @param query e.g. `{ fieldSelector: "metadata.name=node1" }`.
   * @param onItem Called per item, in order.
   * @param signal Aborts the request.
   * @returns the list's resourceVersion.
   * @throws {ApiStatusError} on a non-200 answer; other errors on network or decoding problems.
   */
  async list(
    path: string,
    query: Record<string, string>,
    onItem: (item: unknown) => void,
    signal: AbortSignal,
  ): Promise<ListResult> {
    const res = await this.#get(path, query, signal);
    const env = await decodeList(res.body!, onItem, signal);
    const rv = env.fields.metadata?.resourceVersion;
    if (typeof rv !== "string" || rv === "") {
      throw new SyntaxError(`GET ${path}: list has no metadata.resourceVersion`);
    }
    return { resourceVersion: rv, itemCount: env.itemCount };
  }

  /**
   * Watches a collection: yields events until the server ends the stream.
   *
   * @param path e.g. `/api/v1/services`.
   * @param query `resourceVersion`, `allowWatchBookmarks`, `fieldSelector`, `timeoutSeconds`
   *   (`watch=true` is added).
   * @param signal Aborts the stream.
   * @throws {ApiStatusError} on a non-200 answer; SyntaxError on a line that is not JSON;
   *   other errors when the stream breaks.
   */
  async *watch(
    path: string,
    query: Record<string, string>,
    signal: AbortSignal,
  ): AsyncGenerator<WatchEvent> {
    const res = await this.#get(path, { ...query, watch: "true" }, signal);
    // NOTE: aborting the fetch does not end a body read that is already pending (it waits for
    // the next chunk, which on a quiet watch may be minutes away), so abort cancels the reader.
    const reader = res.body!.getReader();
    const cancel = () => reader.cancel().catch(() => {});
    signal.addEventListener("abort", cancel, { once: true });
    const decoder = new TextDecoder();
    let buffered = "";
    try {
      while (true) {
        const { value, done } = await reader.read();
        signal.throwIfAborted();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line === "") continue;
          let event: WatchEvent;
          try {
            event = JSON.parse(line);
          } catch {
            throw new SyntaxError(`Cannot decode watch event of ${path}: ${line.slice(0, 80)}`);
          }
          yield event;
        }
      }
      if (buffered.trim() !== "") {
        throw new SyntaxError(`Watch of ${path} ended in the middle of an event`);
      }
    } finally {
      signal.removeEventListener("abort", cancel);
      await reader.cancel().catch(() => {});
    }
  }

  /** Releases the HTTP client (TLS sessions, pooled connections). */
  close(): void {
    this.#http?.close();
    this.#http = undefined;
  }
}
