/**
 * The cluster cache: one reflector per resource the proxier and the DNS responder read
 * (Services, `discovery.k8s.io/v1` EndpointSlices, this proxy's Node, and Namespaces only when a
 * NamespaceHandler is registered), fanning the trimmed objects' changes out to the registered
 * handlers (`cache/handlers.ts`).
 *
 * Namespaces are optional twice over: upstream's `system:node-proxier` ClusterRole does not
 * grant `list`/`watch` on them, so a 403 on Namespaces is logged once, retried only every few
 * minutes (`forbiddenRetryMs`), reported to the handlers (`onNamespacesUnavailable`) and counted
 * as synced, so that the cache's `synced` does not wait for a permission that may never come.
 *
 * Lifecycle: `new ClusterCache(config, nodeName)`, `add*Handler()` for every consumer, then
 * `await start()` (returns once the watches are started), `await synced` (or poll `hasSynced()`)
 * before acting on the state, and `await stop()` at shutdown.
 *
 * Delivery guarantees are the reflector's (`cache/reflector.ts`): per object, changes arrive in
 * order and exactly once; after a 410 Gone relist, each object gets at most one change that
 * brings it from what the handler last saw to the listed state; resourceVersion-only changes are
 * not delivered; a handler that throws is logged and does not stop the others or the watch.
 *
 * @module
 */

import { log } from "../config/log.ts";
import { ApiClient, type ClientConfig } from "./client.ts";
import { toEndpointSlice, toNamespace, toNode, toService } from "./convert.ts";
import type {
  EndpointSliceHandler,
  NamespaceHandler,
  NodeHandler,
  ServiceHandler,
} from "./handlers.ts";
import type { EndpointSlice, Namespace, Node, Service } from "./objects.ts";
import {
  SERVICE_CIDRS_PATH,
  type ServiceCIDR,
  type ServiceCIDRHandler,
  toServiceCIDR,
} from "./service_cidr.ts";
import {
  type BackoffOptions,
  DEFAULT_FORBIDDEN_RETRY_MS,
  Reflector,
  type ReflectorSink,
} from "./reflector.ts";

/** Tuning of a ClusterCache (tests shorten the backoff). */
export interface ClusterCacheOptions {
  /** Retry timing of failed lists and watches. */
  readonly backoff?: BackoffOptions;
  /** Random source for jitter. */
  readonly random?: () => number;
  /** Server-side watch timeout in seconds; default a random 5 to 10 minutes. */
  readonly watchTimeoutSeconds?: number;
  /** Delay between retries of a Namespace list refused with 403; default 5 minutes. */
  readonly forbiddenRetryMs?: number;
}

function callEach<H>(handlers: readonly H[], what: string, call: (h: H) => void): void {
  for (const h of handlers) {
    try {
      call(h);
    } catch (err) {
      log.error(`Handler failed on ${what}`, err);
    }
  }
}

/** The watch cache. See the module comment. */
export class ClusterCache {
  #config: ClientConfig;
  #nodeName: string;
  #opts: ClusterCacheOptions;
  #serviceHandlers: ServiceHandler[] = [];
  #sliceHandlers: EndpointSliceHandler[] = [];
  #nodeHandlers: NodeHandler[] = [];
  #namespaceHandlers: NamespaceHandler[] = [];
  #serviceCIDRHandlers: ServiceCIDRHandler[] = [];
  #client: ApiClient | undefined;
  #abort: AbortController | undefined;
  #runs: Promise<void>[] = [];
  #services: Reflector<Service> | undefined;
  #slices: Reflector<EndpointSlice> | undefined;
  #node: Reflector<Node> | undefined;
  #namespaces: Reflector<Namespace> | undefined;
  /** Resources that count as synced (listed, or Namespaces refused). */
  #syncedKinds = new Set<string>();
  #kinds = 0;
  #resolveSynced: () => void;

  /**
   * Resolves once every watched resource has been listed successfully, Namespaces refused with
   * 403 counting as listed (never, if stopped before).
   */
  readonly synced: Promise<void>;

  /**
   * @param config From `loadClientConfig()`.
   * @param nodeName This proxy's node (`--hostname-override` or the hostname).
   * @param opts Tuning.
   */
  constructor(config: ClientConfig, nodeName: string, opts: ClusterCacheOptions = {}) {
    this.#config = config;
    this.#nodeName = nodeName;
    this.#opts = opts;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.synced = promise;
    this.#resolveSynced = resolve;
  }

  /** Registers a Service handler (before `start()`, to see every object). */
  addServiceHandler(handler: ServiceHandler): void {
    this.#serviceHandlers.push(handler);
  }

  /** Registers an EndpointSlice handler (before `start()`). */
  addEndpointSliceHandler(handler: EndpointSliceHandler): void {
    this.#sliceHandlers.push(handler);
  }

  /** Registers a handler of this proxy's Node (before `start()`). */
  addNodeHandler(handler: NodeHandler): void {
    this.#nodeHandlers.push(handler);
  }

  /** Registers a Namespace handler (before `start()`). */
  addNamespaceHandler(handler: NamespaceHandler): void {
    this.#namespaceHandlers.push(handler);
  }

  /**
   * Registers a ServiceCIDR handler (before `start()`); only then are ServiceCIDRs watched.
   * A 403 or 404 (old clusters) reports them unavailable and counts them as synced.
   */
  addServiceCIDRHandler(handler: ServiceCIDRHandler): void {
    this.#serviceCIDRHandlers.push(handler);
  }

  /**
   * True once every watched resource has been listed successfully at least once (Namespaces:
   * or refused with 403).
   */
  hasSynced(): boolean {
    return this.#kinds > 0 && this.#syncedKinds.size === this.#kinds;
  }

  /** The Services the handlers were last given. */
  services(): Service[] {
    return [...(this.#services?.store.values() ?? [])];
  }

  /** The EndpointSlices the handlers were last given. */
  endpointSlices(): EndpointSlice[] {
    return [...(this.#slices?.store.values() ?? [])];
  }

  /** This proxy's Node, if it exists. */
  node(): Node | undefined {
    return this.#node?.store.values().next().value;
  }

  /** The Namespaces the handlers were last given. */
  namespaces(): Namespace[] {
    return [...(this.#namespaces?.store.values() ?? [])];
  }

  #markSynced(kind: string): void {
    if (this.#syncedKinds.has(kind)) return;
    this.#syncedKinds.add(kind);
    if (this.#syncedKinds.size === this.#kinds) {
      log.info("Cluster cache synced", {
        services: this.#services?.store.size,
        endpointSlices: this.#slices?.store.size,
        namespaces: this.#namespaces?.store.size,
      });
      this.#resolveSynced();
    }
  }

  /**
   * Starts the list/watch loops (three, four with a NamespaceHandler) and returns (it does not
   * wait for them to sync).
   *
   * @throws {Error} when called twice.
   */
  // deno-lint-ignore require-await
  async start(): Promise<void> {
    if (this.#abort !== undefined) {
      throw new Error("Cannot start the cluster cache: already started");
    }
    this.#abort = new AbortController();
    const client = this.#client = new ApiClient(this.#config);
    const common = {
      backoff: this.#opts.backoff,
      random: this.#opts.random,
      watchTimeoutSeconds: this.#opts.watchTimeoutSeconds,
    };
    const sh = this.#serviceHandlers;
    const serviceSink: ReflectorSink<Service> = {
      add: (s) => callEach(sh, "Service add", (h) => h.onServiceAdd(s)),
      update: (p, c) => callEach(sh, "Service update", (h) => h.onServiceUpdate(p, c)),
      delete: (s) => callEach(sh, "Service delete", (h) => h.onServiceDelete(s)),
      synced: () => {
        callEach(sh, "Services synced", (h) => h.onServicesSynced());
        this.#markSynced("Service");
      },
    };
    const eh = this.#sliceHandlers;
    const sliceSink: ReflectorSink<EndpointSlice> = {
      add: (s) => callEach(eh, "EndpointSlice add", (h) => h.onEndpointSliceAdd(s)),
      update: (p, c) => callEach(eh, "EndpointSlice update", (h) => h.onEndpointSliceUpdate(p, c)),
      delete: (s) => callEach(eh, "EndpointSlice delete", (h) => h.onEndpointSliceDelete(s)),
      synced: () => {
        callEach(eh, "EndpointSlices synced", (h) => h.onEndpointSlicesSynced());
        this.#markSynced("EndpointSlice");
      },
    };
    const nh = this.#nodeHandlers;
    const nodeSink: ReflectorSink<Node> = {
      add: (n) => callEach(nh, "Node add", (h) => h.onNodeAdd(n)),
      update: (p, c) => callEach(nh, "Node update", (h) => h.onNodeUpdate(p, c)),
      delete: (n) => callEach(nh, "Node delete", (h) => h.onNodeDelete(n)),
      synced: () => {
        callEach(nh, "Node synced", (h) => h.onNodeSynced());
        this.#markSynced("Node");
      },
    };
    const nsh = this.#namespaceHandlers;
    // A Namespace is only its name: an update of the trimmed object cannot happen (the name is
    // the key), so there is no onNamespaceUpdate.
    const namespaceSink: ReflectorSink<Namespace> = {
      add: (n) => callEach(nsh, "Namespace add", (h) => h.onNamespaceAdd(n)),
      update: () => {},
      delete: (n) => callEach(nsh, "Namespace delete", (h) => h.onNamespaceDelete(n)),
      synced: () => {
        callEach(nsh, "Namespaces synced", (h) => h.onNamespacesSynced());
        this.#markSynced("Namespace");
      },
    };
    this.#services = new Reflector(client, {
      ...common,
      kind: "Service",
      path: "/api/v1/services",
      convert: toService,
      sink: serviceSink,
    });
    this.#slices = new Reflector(client, {
      ...common,
      kind: "EndpointSlice",
      path: "/apis/discovery.k8s.io/v1/endpointslices",
      convert: toEndpointSlice,
      sink: sliceSink,
    });
    this.#node = new Reflector(client, {
      ...common,
      kind: "Node",
      path: "/api/v1/nodes",
      fieldSelector: `metadata.name=${this.#nodeName}`,
      convert: toNode,
      sink: nodeSink,
    });
    const reflectors: Reflector<unknown>[] = [
      this.#services as Reflector<unknown>,
      this.#slices as Reflector<unknown>,
      this.#node as Reflector<unknown>,
    ];
    if (nsh.length > 0) {
      this.#namespaces = new Reflector(client, {
        ...common,
        kind: "Namespace",
        path: "/api/v1/namespaces",
        convert: toNamespace,
        sink: namespaceSink,
        forbiddenRetryMs: this.#opts.forbiddenRetryMs,
        onForbidden: (err) => {
          log.warn(
            "Namespaces are forbidden: the proxy's ServiceAccount cannot list/watch namespaces " +
              "(upstream's system:node-proxier ClusterRole does not grant it; " +
              "deploy/daemonset.yaml does). Cluster DNS does without them: a namespace is " +
              "taken to exist while it holds a Service. Retrying rarely",
            {
              err: err.message,
              retryAfterMs: this.#opts.forbiddenRetryMs ?? DEFAULT_FORBIDDEN_RETRY_MS,
            },
          );
          callEach(nsh, "Namespaces unavailable", (h) => h.onNamespacesUnavailable?.());
          this.#markSynced("Namespace");
        },
      });
      reflectors.push(this.#namespaces as Reflector<unknown>);
    }
    if (this.#serviceCIDRHandlers.length > 0) {
      const ch = this.#serviceCIDRHandlers;
      const cidrSink: ReflectorSink<ServiceCIDR> = {
        add: (c) => callEach(ch, "ServiceCIDR add", (h) => h.onServiceCIDRAdd(c)),
        update: (p, c) => callEach(ch, "ServiceCIDR update", (h) => h.onServiceCIDRUpdate(p, c)),
        delete: (c) => callEach(ch, "ServiceCIDR delete", (h) => h.onServiceCIDRDelete(c)),
        synced: () => {
          callEach(ch, "ServiceCIDRs synced", (h) => h.onServiceCIDRsSynced());
          this.#markSynced("ServiceCIDR");
        },
      };
      reflectors.push(
        new Reflector(client, {
          ...common,
          kind: "ServiceCIDR",
          path: SERVICE_CIDRS_PATH,
          convert: toServiceCIDR,
          sink: cidrSink,
          forbiddenRetryMs: this.#opts.forbiddenRetryMs,
          notFoundIsForbidden: true,
          onForbidden: () => {
            callEach(ch, "ServiceCIDRs unavailable", (h) => h.onServiceCIDRsUnavailable());
            this.#markSynced("ServiceCIDR");
          },
        }) as Reflector<unknown>,
      );
    }
    this.#kinds = reflectors.length;
    const signal = this.#abort.signal;
    log.info("Starting cluster cache", {
      server: this.#config.server,
      node: this.#nodeName,
      namespaces: nsh.length > 0,
    });
    this.#runs = reflectors.map((r) => r.run(signal));
  }

  /** Stops the watches, waits for them to end, and releases the HTTP client. */
  async stop(): Promise<void> {
    this.#abort?.abort();
    await Promise.all(this.#runs);
    this.#runs = [];
    this.#client?.close();
    this.#client = undefined;
  }
}
