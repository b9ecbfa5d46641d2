/**
 * The connection to the API server: client configuration built as kube-proxy builds it
 * (`--kubeconfig`, `--master`, in-cluster service account), and LIST and WATCH of a resource path.
 *
 * This is the only file that imports `@kubernetes/client-node`. We use its kubeconfig model
 * (`newClusters`/`newUsers`/`newContexts`: validation and normalization of the entries, with
 * errors naming the bad entry) and its `exec` credential plugin runner, and we resolve the
 * current context into TLS material and an `Authorization` header here. We do not import its
 * `KubeConfig` class or package root: they load the 839 generated API models, which cost about
 * 80 MB of resident memory in every kube-proxy process (measured: bench/cache_memory.ts). The
 * YAML of a kubeconfig is read by `config/load.ts`'s `parseYamlDocuments` (YAML 1.2 core schema,
 * as the js-yaml that client-node uses reads it).
 *
 * We do NOT use client-node's `Watch`/`ListWatch`/informer for the transport either, because:
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
 * certificate, lists are decoded item by item (`list_decoder.ts`), and `reflector.ts` owns
 * list-then-watch, relist on 410, backoff, and "synced".
 *
 * @module
 */

// @ts-types="./kube_config.d.ts"
import { newClusters, newContexts, newUsers } from "@kubernetes/client-node/dist/config_types.js";
// @ts-types="./exec_auth.d.ts"
import type { ExecAuth } from "@kubernetes/client-node/dist/exec_auth.js";
import { parseYamlDocuments } from "../config/load.ts";
import type { Cluster, User } from "./kube_config.d.ts";
import { ApiConnectionError, describeFetchError } from "./fetch_error.ts";
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

/**
 * One request to the API server, as client-go's `rest_client_*` metrics see it: `code` is the
 * HTTP status, or `<error>` when no answer came; `seconds` runs until the response headers.
 */
export interface RequestRecord {
  /** `GET`, `POST`. */
  readonly method: string;
  /** The API server's `host:port` as in the URL. */
  readonly host: string;
  /** The status code as text, or `<error>`. */
  readonly code: string;
  /** Time to the response headers (or to the failure). */
  readonly seconds: number;
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
  /** Told about every request (main.ts records the `rest_client_*` metrics with it). */
  readonly onRequest?: (request: RequestRecord) => void;
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

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function absolute(dir: string, file: string): string {
  return file.startsWith("/") ? file : `${dir}/${file}`;
}

/** Reads `*-data` (base64) or a file; undefined when neither is set. */
async function readPem(
  data: string | null | undefined,
  file: string | null | undefined,
  dir: string,
  what: string,
): Promise<string | undefined> {
  if (data) {
    try {
      return new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
    } catch {
      throw new Error(`${what} data is not valid base64`);
    }
  }
  if (file) {
    const path = absolute(dir, file);
    try {
      return await Deno.readTextFile(path);
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound ? "does not exist" : describeError(err);
      throw new Error(`${what} file ${path} ${why}`);
    }
  }
  return undefined;
}

/** A bearer token read from a file at most once a minute (rotated service-account tokens). */
function tokenFileReader(path: string): () => Promise<string> {
  let token = "";
  let readAt = -Infinity;
  return async () => {
    if (performance.now() - readAt > 60_000) {
      token = (await Deno.readTextFile(path)).trim();
      readAt = performance.now();
    }
    return token;
  };
}

interface Resolved {
  readonly cluster: Cluster;
  readonly user: User | undefined;
  /** `token-file` of the user, absolute (client-node would read it relative to the cwd, once). */
  readonly tokenFile: string | undefined;
  readonly dir: string;
}

/** Builds a ClientConfig out of the resolved cluster and user. */
async function buildConfig(r: Resolved, source: string): Promise<ClientConfig> {
  const { cluster, user, dir } = r;
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
  if (cluster.proxyUrl) throw new Error(`Cannot load ${source}: proxy-url is not supported`);
  if (user?.authProvider && user.authProvider.name !== "exec") {
    throw new Error(
      `Cannot load ${source}: auth-provider ${JSON.stringify(user.authProvider.name)} is not ` +
        "supported (use a token, a token file, a client certificate or an exec plugin)",
    );
  }
  let caCert: string | undefined;
  let clientCert: string | undefined;
  let clientKey: string | undefined;
  try {
    caCert = await readPem(cluster.caData, cluster.caFile, dir, "certificate-authority");
    clientCert = await readPem(user?.certData, user?.certFile, dir, "client-certificate");
    clientKey = await readPem(user?.keyData, user?.keyFile, dir, "client-key");
  } catch (err) {
    throw new Error(`Cannot load ${source}: ${describeError(err)}`);
  }
  if ((clientCert === undefined) !== (clientKey === undefined)) {
    throw new Error(
      `Cannot load ${source}: a client certificate needs both a certificate and a key`,
    );
  }
  // Malformed TLS material must fail here, at start-up, before the node is touched, not when
  // the cache builds its HTTP client (or, for a CA without any certificate, on every request).
  if (caCert !== undefined && !caCert.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(`Cannot load ${source}: certificate-authority holds no PEM certificate`);
  }
  try {
    createHttpClient({ caCert, clientCert, clientKey })?.close();
  } catch (err) {
    throw new Error(`Cannot load ${source}: unusable TLS material: ${describeError(err)}`);
  }
  let token: (() => Promise<string>) | undefined;
  if (r.tokenFile !== undefined) {
    const path = absolute(dir, r.tokenFile);
    try {
      await Deno.stat(path);
    } catch {
      throw new Error(`Cannot load ${source}: token file ${path} does not exist`);
    }
    token = tokenFileReader(path);
  } else if (user?.token) {
    const t = user.token.trim();
    token = () => Promise.resolve(t);
  }
  const exec = user !== undefined && (user.exec || user.authProvider)
    ? new (await loadExecAuth())()
    : undefined;
  const fixed: Record<string, string> = {};
  if (user?.username && user.password) {
    fixed.Authorization = `Basic ${btoa(`${user.username}:${user.password}`)}`;
  }
  if (user?.impersonateUser) fixed["Impersonate-User"] = user.impersonateUser;
  return {
    server: cluster.server.replace(/\/+$/, ""),
    source,
    caCert,
    clientCert,
    clientKey,
    async headers() {
      const out: Record<string, string> = { ...fixed };
      if (token !== undefined) out.Authorization = `Bearer ${await token()}`;
      if (exec !== undefined && user !== undefined) {
        const opts: { headers: Record<string, string> } = { headers: {} };
        await exec.applyAuthentication(user, opts);
        Object.assign(out, opts.headers);
      }
      return out;
    },
  };
}

/**
 * The library's exec/auth-provider credential plugin support, loaded only for a user that needs
 * it: the module and what it pulls in cost ~9 MB of resident memory in every other process.
 */
async function loadExecAuth(): Promise<new () => ExecAuth> {
  const mod = await import("@kubernetes/client-node/dist/exec_auth.js");
  return (mod as unknown as { ExecAuth: new () => ExecAuth }).ExecAuth;
}

/** Parses a kubeconfig text and resolves its current context. */
function resolveKubeconfig(text: string, dir: string): Resolved {
  const docs = parseYamlDocuments(text);
  if (docs.length === 0) throw new Error("expected a document, but the input is empty");
  if (docs.length > 1) throw new Error("expected a single document in the stream, but found more");
  // deno-lint-ignore no-explicit-any
  const doc: any = docs[0];
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new Error("not a kubeconfig (expected a mapping with clusters, users and contexts)");
  }
  const clusters = newClusters(doc.clusters);
  const users = newUsers(
    // token-file is handled here (read per request, relative to the kubeconfig's folder).
    Array.isArray(doc.users)
      ? doc.users.map((u: { user?: Record<string, unknown> }) =>
        u?.user?.["token-file"] ? { ...u, user: { ...u.user, "token-file": undefined } } : u
      )
      : doc.users,
  );
  const contexts = newContexts(doc.contexts);
  const current = doc["current-context"];
  if (typeof current !== "string" || current === "") throw new Error("current-context is not set");
  const context = contexts.find((c) => c.name === current);
  if (context === undefined) {
    throw new Error(`current-context ${JSON.stringify(current)} is not among the contexts`);
  }
  const cluster = clusters.find((c) => c.name === context.cluster);
  if (cluster === undefined) {
    throw new Error(
      `no cluster for the current context ${JSON.stringify(current)} ` +
        `(cluster ${JSON.stringify(context.cluster)} is not defined)`,
    );
  }
  const user = users.find((u) => u.name === context.user);
  const rawUser = Array.isArray(doc.users)
    ? doc.users.find((u: { name?: string }) => u?.name === context.user)
    : undefined;
  const tokenFile = rawUser?.user?.["token-file"];
  return {
    cluster,
    user,
    tokenFile: typeof tokenFile === "string" && tokenFile !== "" ? tokenFile : undefined,
    dir,
  };
}

/**
 * Resolves the client configuration as kube-proxy does (`clientcmd.BuildConfigFromFlags`):
 * with neither `kubeconfig` nor `master`, the in-cluster service account; with `master` alone,
 * that URL with no credentials; with a kubeconfig, its current context, its server replaced by
 * `master` when given.
 *
 * @param opts The flags.
 * @returns the configuration; TLS material is read now, token files per request (at most once
 *   a minute).
 * @throws {Error} naming the file and the problem when the kubeconfig is missing or broken, or
 *   the in-cluster environment is incomplete.
 */
export async function loadClientConfig(opts: ClientConfigOptions): Promise<ClientConfig> {
  const kubeconfig = opts.kubeconfig ?? "";
  const master = opts.master ?? "";
  if (kubeconfig !== "") {
    const source = `kubeconfig ${kubeconfig}`;
    let text: string;
    try {
      text = await Deno.readTextFile(kubeconfig);
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound ? "file does not exist" : describeError(err);
      throw new Error(`Cannot load kubeconfig ${kubeconfig}: ${why}`);
    }
    const slash = kubeconfig.lastIndexOf("/");
    const dir = slash < 0 ? Deno.cwd() : slash === 0 ? "/" : kubeconfig.slice(0, slash);
    let resolved: Resolved;
    try {
      resolved = resolveKubeconfig(text, dir);
    } catch (err) {
      throw new Error(`Cannot load kubeconfig ${kubeconfig}: ${describeError(err)}`);
    }
    if (master !== "") resolved = { ...resolved, cluster: { ...resolved.cluster, server: master } };
    return await buildConfig(resolved, source);
  }
  if (master !== "") {
    return await buildConfig({
      cluster: { name: "master", server: master, skipTLSVerify: false },
      user: undefined,
      tokenFile: undefined,
      dir: Deno.cwd(),
    }, `--master ${master}`);
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
  return await buildConfig({
    cluster: {
      name: "inCluster",
      server: `https://${hostPart}:${port}`,
      skipTLSVerify: false,
      caFile: `${dir}/ca.crt`,
    },
    user: { name: "inClusterUser" },
    tokenFile: `${dir}/token`,
    dir,
  }, "in-cluster configuration");
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

/** The HTTP client carrying the CA and client certificate; undefined when there is neither. */
function createHttpClient(
  tls: Pick<ClientConfig, "caCert" | "clientCert" | "clientKey">,
): Deno.HttpClient | undefined {
  if (tls.caCert === undefined && tls.clientCert === undefined) return undefined;
  return Deno.createHttpClient({
    caCerts: tls.caCert !== undefined ? [tls.caCert] : undefined,
    ...(tls.clientCert !== undefined && tls.clientKey !== undefined
      ? { cert: tls.clientCert, key: tls.clientKey }
      : {}),
  });
}

/** LIST and WATCH over HTTP(S) with one client configuration. */
export class ApiClient {
  #config: ClientConfig;
  #http: Deno.HttpClient | undefined;

  /** @param config From `loadClientConfig()`. */
  constructor(config: ClientConfig) {
    this.#config = config;
    this.#http = createHttpClient(config);
  }

  /** The API server URL. */
  get server(): string {
    return this.#config.server;
  }

  /**
   * `fetch` with this client's TLS, reporting the request to `onRequest` and turning a failure
   * without an answer into an {@linkcode ApiConnectionError} that says why (an abort stays as is).
   */
  async #fetch(url: URL, init: RequestInit & { method: string }): Promise<Response> {
    const started = performance.now();
    const report = (code: string) =>
      this.#config.onRequest?.({
        method: init.method,
        host: url.host,
        code,
        seconds: (performance.now() - started) / 1000,
      });
    let res: Response;
    try {
      res = await fetch(url, { ...init, client: this.#http });
    } catch (err) {
      report("<error>");
      if (init.signal?.aborted) throw err;
      throw new ApiConnectionError(describeFetchError(err, init.method, url), err);
    }
    report(String(res.status));
    return res;
  }

  async #get(path: string, query: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const url = new URL(this.#config.server + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const headers = { accept: "application/json", ...(await this.#config.headers()) };
    const res = await this.#fetch(url, { method: "GET", headers, signal });
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
   * @throws {ApiStatusError} on a non-200 answer; {@linkcode ApiConnectionError} when no answer
   *   came (refused, TLS, DNS); other errors on decoding problems.
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
    // The abort may have come while the response was arriving: then the listener never fires.
    if (signal.aborted) cancel();
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

  /**
   * Creates an object (POST to a collection path).
   *
   * @param path e.g. `/apis/events.k8s.io/v1/namespaces/default/events`.
   * @param body The object.
   * @param signal Aborts the request.
   * @returns the created object as the server returned it.
   * @throws {ApiStatusError} on a non-2xx answer; {@linkcode ApiConnectionError} when no answer
   *   came.
   */
  async create(path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    const headers = {
      accept: "application/json",
      "content-type": "application/json",
      ...(await this.#config.headers()),
    };
    const res = await this.#fetch(new URL(this.#config.server + path), {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal,
    });
    // deno-lint-ignore no-explicit-any
    let answer: any = undefined;
    try {
      answer = await res.json();
    } catch {
      // no JSON body
    }
    if (res.status < 200 || res.status > 299) {
      const message = typeof answer?.message === "string" ? answer.message : res.statusText;
      throw new ApiStatusError(res.status, `POST ${path}: ${res.status} ${message}`);
    }
    return answer;
  }

  /** Releases the HTTP client (TLS sessions, pooled connections). */
  close(): void {
    this.#http?.close();
    this.#http = undefined;
  }
}
