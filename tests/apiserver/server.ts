/**
 * An in-process Kubernetes API server for tests, the demo and the benchmarks: real HTTP(S) on the
 * real REST paths, LIST and WATCH with resourceVersions, chunked watch streams, bookmarks, 410 Gone
 * after compaction, create/update/delete, and fault injection. See `tests/apiserver/README.md`.
 *
 * @module
 */

import { type FixtureCertificates, generateCertificates } from "./certs.ts";
import { discoveryDocument } from "./discovery.ts";
import { openApiDocument, openApiV2Response } from "./openapi.ts";
import { parseManifests, readManifests } from "./manifests.ts";
import {
  ApiError,
  ObjectStore,
  type RawObject,
  type StoredEvent,
  type StoredObject,
} from "./object_store.ts";
import { applyPatch } from "./patch.ts";
import { type IncludeObject, includeObjectOf, toTable, wantsTable } from "./tables.ts";
import {
  findResourceType,
  parseResourcePath,
  RESOURCE_TYPES,
  type ResourceType,
} from "./resources.ts";

/** Options of `ApiServerFixture.start()`. */
export interface ApiServerOptions {
  /** Addresses to listen on, `host:port`; port 0 picks a free port. Default `127.0.0.1:0`. */
  readonly listen?: readonly string[];
  /**
   * Also serve plain HTTP on this Unix socket path (it reaches across network namespaces: the
   * sandbox relays `kubectl` on the host's loopback to its API server through it).
   */
  readonly unixSocket?: string;
  /** Serve HTTPS with a CA generated at start (see `certificates`). */
  readonly tls?: boolean;
  /** Extra names/IPs for the server certificate. */
  readonly tlsHosts?: readonly string[];
  /** Require `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** A folder (or file) of manifests applied at start. */
  readonly manifests?: string;
  /** Interval of BOOKMARK events on watches that allow them; default 1000 ms, 0 disables. */
  readonly bookmarkIntervalMs?: number;
  /** Events kept per resource type before automatic compaction; default 200,000. */
  readonly historyLimit?: number;
  /** Create a missing Namespace when a namespaced object is applied; default true. */
  readonly autoCreateNamespaces?: boolean;
  /** The resourceVersion before the first write; default the clock in microseconds. */
  readonly initialResourceVersion?: number;
}

/** Options of `cutWatches()`. */
export interface CutOptions {
  /**
   * "midEvent" (default): write the first half of an event line, then end the response;
   * "reset": the same, then abort the response (the client sees a broken connection);
   * "clean": end the response normally (as on the API server's watch timeout).
   */
  readonly mode?: "midEvent" | "reset" | "clean";
}

interface Watcher {
  readonly type: ResourceType;
  readonly namespace: string | undefined;
  readonly fieldSelector: Selector;
  readonly labelSelector: Selector;
  readonly bookmarks: boolean;
  /** Events as one-row Tables (`kubectl get -w`), carrying this much of the object. */
  readonly table: IncludeObject | undefined;
  readonly controller: ReadableStreamDefaultController<Uint8Array>;
  timer: ReturnType<typeof setTimeout> | undefined;
  closed: boolean;
}

type Selector = (
  namespace: string,
  name: string,
  labels: Readonly<Record<string, string>>,
) => boolean;

const encoder = new TextEncoder();

function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  });
}

function jsonResponse(body: string, status = 200): Response {
  return new Response(body, { status, headers: { "content-type": "application/json" } });
}

function errorResponse(err: ApiError): Response {
  return jsonResponse(statusBody(err.code, err.reason, err.message), err.code);
}

/** Parses `a=b,c!=d` (field or label selector; `k`/`!k` existence terms for labels). */
function parseSelector(text: string | null, field: boolean): Selector {
  if (text === null || text.trim() === "") return () => true;
  const terms = text.split(",").map((t) => t.trim()).filter((t) => t !== "").map((t) => {
    const m = t.match(/^(!?)([^=!]+?)\s*(==|=|!=)?\s*([^=!]*)$/);
    if (m === null) throw new ApiError(400, "BadRequest", `invalid selector term ${t}`);
    return { not: m[1] === "!", key: m[2], op: m[3], value: m[4] };
  });
  return (namespace, name, labels) =>
    terms.every(({ not, key, op, value }) => {
      let actual: string | undefined;
      if (field) {
        if (key === "metadata.name") actual = name;
        else if (key === "metadata.namespace") actual = namespace;
        else throw new ApiError(400, "BadRequest", `field label not supported: ${key}`);
      } else {
        actual = labels[key];
      }
      if (op === undefined) return not ? actual === undefined : actual !== undefined;
      return op === "!=" ? actual !== value : actual === value;
    });
}

/**
 * The API server fixture. Start it with `ApiServerFixture.start()`, change objects with `apply()`
 * / `remove()`, inject faults, and `close()` it in `finally`.
 */
export class ApiServerFixture {
  #store: ObjectStore;
  #opts: ApiServerOptions;
  #servers: Deno.HttpServer<Deno.Addr>[] = [];
  #addrs: { hostname: string; port: number }[] = [];
  #certs: FixtureCertificates | undefined;
  #watchers = new Set<Watcher>();
  #bookmarkTimer: ReturnType<typeof setInterval> | undefined;
  #failures: { count: number; status: number; match: string } = {
    count: 0,
    status: 500,
    match: "",
  };
  #lists = 0;
  #watches = 0;
  #delay: { ms: number; count: number } = { ms: 0, count: 0 };
  #unsubscribe: () => void;
  #requests = 0;

  private constructor(opts: ApiServerOptions) {
    this.#opts = opts;
    // Versions start from the clock (in microseconds) so that a restarted fixture's versions are
    // newer than any its previous instance handed out: watches from before the restart get 410.
    this.#store = new ObjectStore(
      opts.historyLimit,
      opts.initialResourceVersion ?? Date.now() * 1000,
    );
    this.#unsubscribe = this.#store.subscribe((type, event) => this.#fanOut(type, event));
  }

  /**
   * Starts a fixture: generates certificates (with `tls`), loads `manifests`, listens.
   *
   * @param opts See `ApiServerOptions`.
   * @returns the running fixture.
   */
  static async start(opts: ApiServerOptions = {}): Promise<ApiServerFixture> {
    const fixture = new ApiServerFixture(opts);
    const listen = opts.listen ?? ["127.0.0.1:0"];
    fixture.#addrs = listen.map((l) => {
      const i = l.lastIndexOf(":");
      const hostname = l.slice(0, i).replace(/^\[|\]$/g, "");
      return { hostname: hostname === "" ? "127.0.0.1" : hostname, port: Number(l.slice(i + 1)) };
    });
    if (opts.tls) {
      fixture.#certs = await generateCertificates([
        ...fixture.#addrs.map((a) => a.hostname),
        ...(opts.tlsHosts ?? []),
      ]);
    }
    if (opts.manifests !== undefined) {
      for (const obj of await readManifests(opts.manifests)) fixture.apply(obj);
    }
    await fixture.#listen();
    const interval = opts.bookmarkIntervalMs ?? 1000;
    if (interval > 0) fixture.#bookmarkTimer = setInterval(() => fixture.bookmark(), interval);
    return fixture;
  }

  /** Base URL of the first listen address (`http://127.0.0.1:PORT` or `https://...`). */
  get url(): string {
    return this.urls[0];
  }

  /** Base URLs of every listen address. */
  get urls(): string[] {
    const scheme = this.#certs ? "https" : "http";
    return this.#addrs.map((a) =>
      `${scheme}://${a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname}:${a.port}`
    );
  }

  /** The generated CA and certificates (undefined without `tls`). */
  get certificates(): FixtureCertificates | undefined {
    return this.#certs;
  }

  /** The latest resourceVersion. */
  get resourceVersion(): string {
    return String(this.#store.resourceVersion);
  }

  /** Number of HTTP requests served so far (for tests that check retry behaviour). */
  get requestCount(): number {
    return this.#requests;
  }

  /** Number of LIST requests answered with 200 so far. */
  get listCount(): number {
    return this.#lists;
  }

  /** Number of WATCH requests that got a stream so far. */
  get watchRequestCount(): number {
    return this.#watches;
  }

  /** Number of open watch streams. */
  get watchCount(): number {
    return this.#watchers.size;
  }

  /**
   * Creates or replaces an object (any served kind; `metadata.namespace` defaults to "default").
   *
   * @returns the object's new resourceVersion (unchanged for a no-op apply).
   * @throws {Error} for an unsupported kind or a missing name.
   */
  apply(obj: RawObject): string {
    this.#ensureNamespace(obj);
    return String(this.#store.apply(obj).rv);
  }

  #ensureNamespace(obj: RawObject): void {
    const type = findResourceType(String(obj?.kind ?? ""), obj?.apiVersion);
    if (!type?.namespaced || !(this.#opts.autoCreateNamespaces ?? true)) return;
    const ns = String(obj.metadata?.namespace ?? "default");
    const nsType = findResourceType("Namespace")!;
    if (this.#store.get(nsType, "", ns) === undefined) {
      this.#store.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    }
  }

  /**
   * Applies every object of a YAML or JSON manifest text.
   *
   * @returns the resourceVersion after the last object.
   * @throws {SyntaxError} on unparsable text.
   */
  applyYaml(text: string): string {
    let rv = this.resourceVersion;
    for (const obj of parseManifests(text)) rv = this.apply(obj);
    return rv;
  }

  /** Applies every manifest under a folder (or one file). */
  async applyManifests(path: string): Promise<string> {
    let rv = this.resourceVersion;
    for (const obj of await readManifests(path)) rv = this.apply(obj);
    return rv;
  }

  /**
   * Deletes an object. `namespace` is ignored for cluster-scoped kinds.
   *
   * @returns the resourceVersion of the deletion.
   * @throws {Error} when the kind is unknown or the object does not exist.
   */
  remove(kind: string, namespace: string, name: string, apiVersion?: string): string {
    const type = findResourceType(kind, apiVersion);
    if (type === undefined) throw new ApiError(400, "BadRequest", `unsupported kind ${kind}`);
    return String(this.#store.remove(type, namespace, name).rv);
  }

  /** The current object (parsed JSON), or undefined; `apiVersion` tells the Event kinds apart. */
  get(kind: string, namespace: string, name: string, apiVersion?: string): RawObject | undefined {
    const type = findResourceType(kind, apiVersion);
    if (type === undefined) return undefined;
    const stored = this.#store.get(type, type.namespaced ? namespace : "", name);
    return stored === undefined ? undefined : JSON.parse(stored.json);
  }

  /** Every current object of a kind (parsed JSON), sorted by namespace/name. */
  list(kind: string, apiVersion?: string): RawObject[] {
    const type = findResourceType(kind, apiVersion);
    if (type === undefined) return [];
    return this.#store.list(type).map((o) => JSON.parse(o.json));
  }

  /**
   * Calls `listener` after every change (any path: HTTP or in-process), with the changed object's
   * kind and apiVersion. Listeners run inside the write: defer writes of your own.
   *
   * @returns a function that removes the listener.
   */
  onChange(listener: (kind: string, apiVersion: string) => void): () => void {
    return this.#store.subscribe((type) => listener(type.kind, type.apiVersion));
  }

  // ---- fault injection ----

  /**
   * Answers the next `count` API requests with `status` (default 500) and a `Status` body; with
   * `match`, only requests whose path contains it (e.g. "/namespaces") fail and count.
   */
  failRequests(count: number, status = 500, match = ""): void {
    this.#failures = { count, status, match };
  }

  /** Delays the next `count` API responses (default: all until reset with 0) by `ms`. */
  delayResponses(ms: number, count = Number.MAX_SAFE_INTEGER): void {
    this.#delay = { ms, count: ms > 0 ? count : 0 };
  }

  /** Cuts every open watch stream (see `CutOptions`). */
  cutWatches(opts: CutOptions = {}): void {
    for (const w of [...this.#watchers]) {
      if (opts.mode === "clean") {
        this.#closeWatcher(w);
        continue;
      }
      const line =
        `{"type":"BOOKMARK","object":{"kind":"${w.type.kind}","apiVersion":"${w.type.apiVersion}",` +
        `"metadata":{"resourceVersion":"${this.#store.resourceVersion}"}}}`;
      this.#send(w, encoder.encode(line.slice(0, line.length >> 1)));
      this.#closeWatcher(
        w,
        opts.mode === "reset" ? new InjectedResetError() : undefined,
      );
    }
  }

  /** Sends a line that is not valid JSON on every open watch stream. */
  sendMalformedEvent(): void {
    for (const w of this.#watchers) {
      this.#send(w, encoder.encode(`{"type":"MODIFIED","object":{\n`));
    }
  }

  /**
   * Expires every resourceVersion up to now. A later watch from an older version gets a 410
   * Gone `ERROR` event. With `closeWatches`, the open watches get that event right away and end.
   */
  compact(opts: { closeWatches?: boolean } = {}): void {
    this.#store.compact();
    if (opts.closeWatches) {
      for (const w of [...this.#watchers]) this.#sendGone(w, this.#store.resourceVersion - 1);
    }
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watch that allows bookmarks. */
  bookmark(): void {
    for (const w of this.#watchers) if (w.bookmarks) this.#sendBookmark(w, {});
  }

  /** Stops listening (open watches are cut); the objects are kept. See `resume()`. */
  async suspend(): Promise<void> {
    for (const w of [...this.#watchers]) this.#closeWatcher(w);
    const servers = this.#servers;
    this.#servers = [];
    await Promise.all(servers.map((s) => s.shutdown()));
  }

  /** Listens again on the same ports after `suspend()`. */
  async resume(): Promise<void> {
    if (this.#servers.length === 0) await this.#listen();
  }

  /**
   * Writes a kubeconfig (JSON, which is valid YAML) for this server: CA data with TLS, the token
   * when one is set.
   *
   * @param path Where to write it.
   * @param opts `server` overrides the URL; `token` the bearer token; `clientCert` adds the
   *   generated client certificate.
   */
  async writeKubeconfig(
    path: string,
    opts: { server?: string; token?: string; clientCert?: boolean } = {},
  ): Promise<void> {
    await Deno.writeTextFile(path, this.kubeconfigFor(opts));
  }

  /** The kubeconfig text `writeKubeconfig()` writes. */
  kubeconfigFor(opts: { server?: string; token?: string; clientCert?: boolean } = {}): string {
    const b64 = (s: string) => btoa(s);
    const cluster: RawObject = { server: opts.server ?? this.url };
    if (this.#certs) cluster["certificate-authority-data"] = b64(this.#certs.caCert);
    const user: RawObject = {};
    const token = opts.token ?? this.#opts.token;
    if (token !== undefined) user.token = token;
    if (opts.clientCert && this.#certs) {
      user["client-certificate-data"] = b64(this.#certs.clientCert);
      user["client-key-data"] = b64(this.#certs.clientKey);
    }
    return JSON.stringify(
      {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "fixture", cluster }],
        users: [{ name: "kube-proxy", user }],
        contexts: [{ name: "fixture", context: { cluster: "fixture", user: "kube-proxy" } }],
        "current-context": "fixture",
      },
      null,
      2,
    ) + "\n";
  }

  /** Stops everything: watches, listeners, timers. */
  async close(): Promise<void> {
    if (this.#bookmarkTimer !== undefined) clearInterval(this.#bookmarkTimer);
    this.#bookmarkTimer = undefined;
    this.#unsubscribe();
    await this.suspend();
  }

  /** `await using fixture = await ApiServerFixture.start()` support. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- HTTP ----

  async #listen(): Promise<void> {
    for (const addr of this.#addrs) {
      const { promise, resolve } = Promise.withResolvers<Deno.NetAddr>();
      const base = {
        hostname: addr.hostname,
        port: addr.port,
        onListen: (a: Deno.NetAddr) => resolve(a),
        // Deno.serve hands an error of a response body stream to onError, whose default prints
        // it with its stack: the injected reset is expected, anything else is still printed.
        onError: (err: unknown) => {
          if (!(err instanceof InjectedResetError)) console.error(err);
          return new Response("Internal Server Error", { status: 500 });
        },
      };
      const server = this.#certs
        ? Deno.serve(
          { ...base, cert: this.#certs.serverCert, key: this.#certs.serverKey },
          (r) => this.#handle(r),
        )
        : Deno.serve(base, (r) => this.#handle(r));
      this.#servers.push(server);
      const bound = await promise;
      addr.port = bound.port;
    }
    const path = this.#opts.unixSocket;
    if (path !== undefined) {
      await Deno.remove(path).catch(() => {});
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#servers.push(
        Deno.serve({ path, onListen: () => resolve() }, (r) => this.#handle(r)),
      );
      await promise;
    }
  }

  async #handle(req: Request): Promise<Response> {
    this.#requests++;
    const url = new URL(req.url);
    if (this.#opts.token !== undefined) {
      if (req.headers.get("authorization") !== `Bearer ${this.#opts.token}`) {
        return errorResponse(new ApiError(401, "Unauthorized", "Unauthorized"));
      }
    }
    if (this.#delay.count > 0) {
      this.#delay.count--;
      await new Promise((r) => setTimeout(r, this.#delay.ms));
    }
    if (this.#failures.count > 0 && url.pathname.includes(this.#failures.match)) {
      this.#failures.count--;
      const code = this.#failures.status;
      return errorResponse(new ApiError(code, "InternalError", "injected failure"));
    }
    try {
      return await this.#route(req, url);
    } catch (err) {
      if (err instanceof ApiError) return errorResponse(err);
      if (err instanceof SyntaxError) {
        return errorResponse(new ApiError(400, "BadRequest", err.message));
      }
      return errorResponse(new ApiError(500, "InternalError", String(err)));
    }
  }

  async #route(req: Request, url: URL): Promise<Response> {
    const p = url.pathname;
    if (p === "/healthz" || p === "/livez" || p === "/readyz") return new Response("ok");
    if (p === "/version") {
      return jsonResponse(
        JSON.stringify({ major: "1", minor: "31", gitVersion: "v1.31.0-fixture" }),
      );
    }
    if (p === "/openapi/v2") return openApiV2Response();
    const discovery = discoveryDocument(p) ?? openApiDocument(p);
    if (discovery !== undefined) return jsonResponse(JSON.stringify(discovery));
    const path = parseResourcePath(p);
    if (path === undefined) throw new ApiError(404, "NotFound", `the server could not find ${p}`);
    const { type, namespace, name } = path;
    const method = req.method;
    if (name === undefined) {
      if (method === "GET") {
        const q = url.searchParams;
        if (q.get("watch") === "true" || q.get("watch") === "1") {
          this.#watches++;
          return this.#watch(path, q, this.#tableOf(req, q));
        }
        const res = this.#list(type, namespace, q, this.#tableOf(req, q));
        this.#lists++;
        return res;
      }
      if (method === "POST") {
        const obj = await req.json();
        this.#checkBody(obj, type, namespace, undefined);
        return jsonResponse(this.#write(obj, { create: true, strict: true }), 201);
      }
      throw new ApiError(405, "MethodNotAllowed", `${method} not allowed on a collection`);
    }
    const ns = type.namespaced ? namespace ?? "default" : "";
    if (method === "GET") {
      const stored = this.#store.get(type, ns, name);
      if (stored === undefined) {
        throw new ApiError(404, "NotFound", `${type.plural} "${name}" not found`);
      }
      const table = this.#tableOf(req, url.searchParams);
      if (table === undefined) return jsonResponse(stored.json);
      const obj = JSON.parse(stored.json);
      return jsonResponse(JSON.stringify(toTable(type.kind, [obj], obj.metadata, table)));
    }
    if (method === "PUT") {
      const obj = await req.json();
      this.#checkBody(obj, type, namespace, name);
      return jsonResponse(this.#write(obj, { update: true, strict: true }));
    }
    if (method === "PATCH") {
      const stored = this.#store.get(type, ns, name);
      if (stored === undefined) {
        throw new ApiError(404, "NotFound", `${type.plural} "${name}" not found`);
      }
      const patched = applyPatch(
        req.headers.get("content-type") ?? "",
        JSON.parse(stored.json),
        await req.json(),
      );
      this.#checkBody(patched, type, namespace, name);
      return jsonResponse(this.#write(patched, { update: true, strict: true }));
    }
    if (method === "DELETE") {
      return jsonResponse(this.#store.remove(type, ns, name).json);
    }
    throw new ApiError(405, "MethodNotAllowed", `${method} not supported`);
  }

  #checkBody(obj: RawObject, type: ResourceType, ns: string | undefined, name: string | undefined) {
    if (obj === null || typeof obj !== "object") {
      throw new ApiError(400, "BadRequest", "body is not an object");
    }
    obj.kind ??= type.kind;
    obj.apiVersion ??= type.apiVersion;
    obj.metadata ??= {};
    if (ns !== undefined) obj.metadata.namespace ??= ns;
    if (name !== undefined && obj.metadata.name !== name) {
      throw new ApiError(400, "BadRequest", "the name of the object does not match the URL");
    }
  }

  /** The `includeObject` of a request that asks for a Table, or undefined. */
  #tableOf(req: Request, q: URLSearchParams): IncludeObject | undefined {
    return wantsTable(req.headers.get("accept")) ? includeObjectOf(q) : undefined;
  }

  #write(obj: RawObject, opts: { create?: boolean; update?: boolean; strict?: boolean }): string {
    this.#ensureNamespace(obj);
    return this.#store.apply(obj, opts).json;
  }

  #list(
    type: ResourceType,
    namespace: string | undefined,
    q: URLSearchParams,
    table: IncludeObject | undefined,
  ): Response {
    const fieldSel = parseSelector(q.get("fieldSelector"), true);
    const labelSel = parseSelector(q.get("labelSelector"), false);
    const limit = Number(q.get("limit") ?? "0");
    const cont = q.get("continue");
    let after = "";
    if (cont !== null && cont !== "") {
      try {
        after = JSON.parse(atob(cont)).after;
      } catch {
        throw new ApiError(400, "BadRequest", "invalid continue token");
      }
    }
    const rv = this.#store.resourceVersion;
    const items: string[] = [];
    let next = "";
    for (const o of this.#store.list(type)) {
      if (namespace !== undefined && o.namespace !== namespace) continue;
      const key = `${o.namespace}/${o.name}`;
      if (after !== "" && key <= after) continue;
      if (!fieldSel(o.namespace, o.name, o.labels) || !labelSel(o.namespace, o.name, o.labels)) {
        continue;
      }
      if (limit > 0 && items.length === limit) {
        next = btoa(JSON.stringify({ after: items.length ? lastKey(items) : after }));
        break;
      }
      items.push(o.json);
    }
    const metadata: RawObject = { resourceVersion: String(rv) };
    if (next !== "") metadata.continue = next;
    if (table !== undefined) {
      const objects = items.map((i) => JSON.parse(i));
      return jsonResponse(JSON.stringify(toTable(type.kind, objects, metadata, table)));
    }
    return jsonResponse(
      `{"kind":"${type.kind}List","apiVersion":"${type.apiVersion}","metadata":${
        JSON.stringify(metadata)
      },"items":[${items.join(",")}]}`,
    );
  }

  #watch(
    path: { type: ResourceType; namespace: string | undefined },
    q: URLSearchParams,
    table: IncludeObject | undefined,
  ): Response {
    const fieldSelector = parseSelector(q.get("fieldSelector"), true);
    const labelSelector = parseSelector(q.get("labelSelector"), false);
    const rvText = q.get("resourceVersion") ?? "";
    const bookmarks = q.get("allowWatchBookmarks") === "true";
    const timeoutSeconds = Number(q.get("timeoutSeconds") ?? "0");
    let watcher: Watcher;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        watcher = {
          type: path.type,
          namespace: path.namespace,
          fieldSelector,
          labelSelector,
          bookmarks,
          table,
          controller,
          timer: undefined,
          closed: false,
        };
        const initial = rvText === "" || rvText === "0" || q.get("sendInitialEvents") === "true";
        if (initial) {
          for (const o of this.#store.list(path.type)) {
            if (this.#matches(watcher, o)) {
              this.#send(watcher, this.#eventBytes(watcher, `{"type":"ADDED","object":${o.json}}`));
            }
          }
          if (q.get("sendInitialEvents") === "true") {
            this.#sendBookmark(watcher, { "k8s.io/initial-events-end": "true" });
          }
        } else {
          const since = Number(rvText);
          let history: StoredEvent[];
          try {
            if (!Number.isInteger(since) || since < 0) {
              throw new ApiError(400, "BadRequest", `invalid resourceVersion ${rvText}`);
            }
            history = this.#store.eventsSince(path.type, since);
          } catch (err) {
            if (!(err instanceof ApiError)) throw err;
            this.#send(
              watcher,
              encoder.encode(
                `{"type":"ERROR","object":${statusBody(err.code, err.reason, err.message)}}\n`,
              ),
            );
            watcher.closed = true;
            controller.close();
            return;
          }
          for (const e of history) {
            if (this.#matches(watcher, e)) this.#send(watcher, this.#eventBytes(watcher, e.line));
          }
        }
        this.#watchers.add(watcher);
        if (timeoutSeconds > 0) {
          watcher.timer = setTimeout(() => this.#closeWatcher(watcher), timeoutSeconds * 1000);
        }
      },
      cancel: () => {
        this.#forget(watcher);
      },
    });
    return new Response(body, {
      headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
    });
  }

  #matches(
    w: Watcher,
    o: { namespace: string; name: string; labels: Readonly<Record<string, string>> },
  ): boolean {
    if (w.namespace !== undefined && o.namespace !== w.namespace) return false;
    return w.fieldSelector(o.namespace, o.name, o.labels) &&
      w.labelSelector(o.namespace, o.name, o.labels);
  }

  #fanOut(type: ResourceType, event: StoredEvent): void {
    let bytes: Uint8Array | undefined;
    for (const w of this.#watchers) {
      if (w.type !== type || !this.#matches(w, event)) continue;
      if (w.table !== undefined) {
        this.#send(w, this.#eventBytes(w, event.line));
        continue;
      }
      bytes ??= encoder.encode(event.line + "\n");
      this.#send(w, bytes);
    }
  }

  /** One event line for `w`: as stored, or with its object as a one-row Table. */
  #eventBytes(w: Watcher, line: string): Uint8Array {
    if (w.table === undefined) return encoder.encode(line + "\n");
    const event = JSON.parse(line);
    const obj = event.object;
    const table = toTable(
      w.type.kind,
      [obj],
      { resourceVersion: obj.metadata?.resourceVersion },
      w.table,
    );
    return encoder.encode(JSON.stringify({ type: event.type, object: table }) + "\n");
  }

  #send(w: Watcher, bytes: Uint8Array): void {
    if (w.closed) return;
    try {
      w.controller.enqueue(bytes);
    } catch {
      this.#forget(w);
    }
  }

  #sendBookmark(w: Watcher, annotations: Record<string, string>): void {
    const metadata: RawObject = { resourceVersion: String(this.#store.resourceVersion) };
    if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
    const obj = { kind: w.type.kind, apiVersion: w.type.apiVersion, metadata };
    this.#send(w, encoder.encode(`{"type":"BOOKMARK","object":${JSON.stringify(obj)}}\n`));
  }

  #sendGone(w: Watcher, since: number): void {
    const msg = `too old resource version: ${since} (${this.#store.resourceVersion})`;
    this.#send(
      w,
      encoder.encode(`{"type":"ERROR","object":${statusBody(410, "Expired", msg)}}\n`),
    );
    this.#closeWatcher(w);
  }

  #closeWatcher(w: Watcher, err?: Error): void {
    if (w.closed) return;
    this.#forget(w);
    try {
      if (err) w.controller.error(err);
      else w.controller.close();
    } catch {
      // already closed by the client
    }
  }

  #forget(w: Watcher | undefined): void {
    if (w === undefined) return;
    w.closed = true;
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.timer = undefined;
    this.#watchers.delete(w);
  }
}

/** Errors a watch body on purpose (`cutWatches({ mode: "reset" })`); not logged by the server. */
class InjectedResetError extends Error {
  constructor() {
    super("watch stream reset by fault injection");
    this.name = "InjectedResetError";
  }
}

function lastKey(items: string[]): string {
  const o = JSON.parse(items[items.length - 1]);
  return `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

/** Every resource type the fixture serves (for tools that iterate over them). */
export const SERVED_RESOURCES: readonly ResourceType[] = RESOURCE_TYPES;
export type { RawObject, StoredObject };
