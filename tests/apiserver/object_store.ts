/**
 * The API server fixture's storage: the current objects of every resource type, a global
 * resourceVersion counter, and a per-resource event log with compaction (the part of etcd plus
 * the watch cache that a watch client can observe).
 *
 * Objects are kept as their JSON text only (a list is a string join, no re-serialization), so
 * applying an object costs one `JSON.stringify` and no copy of the rest of the state: loading
 * 100,000 objects is linear.
 *
 * @module
 */

import { ServiceAllocator } from "./allocator.ts";
import { ApiError, type RawObject } from "./errors.ts";
import { findResourceType, RESOURCE_TYPES, type ResourceType } from "./resources.ts";

export { ApiError, type RawObject };

/** Watch event types the store produces. */
export type EventType = "ADDED" | "MODIFIED" | "DELETED";

/** One entry of a resource's event log. */
export interface StoredEvent {
  readonly rv: number;
  readonly type: EventType;
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The complete watch event line, `{"type":...,"object":...}` without the newline. */
  readonly line: string;
}

/** One current object. */
export interface StoredObject {
  readonly namespace: string;
  readonly name: string;
  readonly rv: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly json: string;
}

class ResourceState {
  readonly objects = new Map<string, StoredObject>();
  events: StoredEvent[] = [];
  /** Events with rv <= compactedRv are gone: a watch from before it gets 410 Gone. */
  compactedRv = 0;
  constructor(readonly type: ResourceType) {}
}

/** Options of an apply. */
export interface ApplyOptions {
  /** Fail with 409 AlreadyExists when the object exists (POST). */
  readonly create?: boolean;
  /** Fail with 404 when the object does not exist (PUT). */
  readonly update?: boolean;
  /**
   * Refuse a Service's requested cluster IP or node port that another Service holds (422), as
   * the API server does for HTTP writes. Without it, any object is accepted.
   */
  readonly strict?: boolean;
}

/** The result of a write. */
export interface WriteResult {
  readonly rv: number;
  readonly json: string;
  /** False for a no-op apply (identical object: no new resourceVersion, no event). */
  readonly changed: boolean;
}

/** Listener of new events (the server fans them out to watchers). */
export type EventListener = (type: ResourceType, event: StoredEvent) => void;

/** Storage of the fixture. See the module comment. */
export class ObjectStore {
  #rv: number;
  #states = new Map<ResourceType, ResourceState>();
  #historyLimit: number;
  #listeners = new Set<EventListener>();
  #allocator = new ServiceAllocator();

  /**
   * @param historyLimit events kept per resource type before the oldest are compacted away.
   * @param initialResourceVersion the version before the first write. Everything older counts
   *   as compacted, so a client still watching from an earlier instance of the fixture (a
   *   restart) gets 410 Gone and relists, as it would after a real etcd compaction.
   */
  constructor(historyLimit = 200_000, initialResourceVersion = 1) {
    this.#historyLimit = historyLimit;
    this.#rv = initialResourceVersion;
    for (const type of RESOURCE_TYPES) {
      const state = new ResourceState(type);
      state.compactedRv = initialResourceVersion;
      this.#states.set(type, state);
    }
  }

  /** The current (latest) resourceVersion. */
  get resourceVersion(): number {
    return this.#rv;
  }

  /** Registers a listener for every new event; returns a function that unregisters it. */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The state of a resource type. */
  #state(type: ResourceType): ResourceState {
    return this.#states.get(type)!;
  }

  /** Looks up one object. */
  get(type: ResourceType, namespace: string, name: string): StoredObject | undefined {
    return this.#state(type).objects.get(`${namespace}/${name}`);
  }

  /** Current objects of a type, sorted by namespace/name. */
  list(type: ResourceType): StoredObject[] {
    const state = this.#state(type);
    const keys = [...state.objects.keys()].sort();
    return keys.map((k) => state.objects.get(k)!);
  }

  /** Number of objects of a type. */
  count(type: ResourceType): number {
    return this.#state(type).objects.size;
  }

  /**
   * Events of a type with rv > `since`, oldest first.
   *
   * @throws {ApiError} 410 Gone when events after `since` were compacted away.
   */
  eventsSince(type: ResourceType, since: number): StoredEvent[] {
    const state = this.#state(type);
    if (since < state.compactedRv) {
      throw new ApiError(
        410,
        "Expired",
        `too old resource version: ${since} (${state.compactedRv})`,
      );
    }
    const events = state.events;
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (events[mid].rv <= since) lo = mid + 1;
      else hi = mid;
    }
    return events.slice(lo);
  }

  /** Expires every resourceVersion up to now: a watch from any earlier version gets 410 Gone. */
  compact(): void {
    for (const state of this.#states.values()) {
      state.events = [];
      state.compactedRv = this.#rv;
    }
  }

  /**
   * Creates or replaces an object; sets `metadata.resourceVersion`, `uid` and
   * `creationTimestamp`, and defaults a Service's cluster IP and node ports when unset.
   *
   * @throws {ApiError} 400 for an object without kind or name; 404/409 per `opts`.
   */
  apply(raw: RawObject, opts: ApplyOptions = {}): WriteResult {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      throw new ApiError(400, "BadRequest", "object must be a JSON object");
    }
    const type = typeof raw.kind === "string"
      ? findResourceType(raw.kind, raw.apiVersion)
      : undefined;
    if (type === undefined) {
      throw new ApiError(400, "BadRequest", `unsupported kind ${JSON.stringify(raw.kind)}`);
    }
    const meta = raw.metadata ?? {};
    const name = meta.name;
    if (typeof name !== "string" || name === "") {
      throw new ApiError(400, "BadRequest", `${type.kind} without metadata.name`);
    }
    const namespace = type.namespaced ? String(meta.namespace ?? "default") : "";
    const state = this.#state(type);
    const key = `${namespace}/${name}`;
    const old = state.objects.get(key);
    if (old !== undefined && opts.create) {
      throw new ApiError(409, "AlreadyExists", `${type.plural} "${name}" already exists`);
    }
    if (old === undefined && opts.update) {
      throw new ApiError(404, "NotFound", `${type.plural} "${name}" not found`);
    }
    const oldObj: RawObject | undefined = old === undefined ? undefined : JSON.parse(old.json);
    if (
      old !== undefined && meta.resourceVersion !== undefined && meta.resourceVersion !== "" &&
      opts.update && String(meta.resourceVersion) !== String(old.rv)
    ) {
      throw new ApiError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${type.plural} "${name}": the object has been modified`,
      );
    }
    const metadata: RawObject = {
      ...meta,
      name,
      ...(type.namespaced ? { namespace } : {}),
      uid: oldObj?.metadata?.uid ?? meta.uid ?? crypto.randomUUID(),
      creationTimestamp: oldObj?.metadata?.creationTimestamp ?? meta.creationTimestamp ??
        new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    };
    delete metadata.resourceVersion;
    const obj: RawObject = {
      ...raw,
      apiVersion: type.apiVersion,
      kind: type.kind,
      metadata,
    };
    if (type.kind === "Service") this.#defaultService(key, obj, oldObj, opts.strict ?? false);
    // A write that changes nothing gets no new resourceVersion and no event, as in the real API.
    if (old !== undefined) {
      metadata.resourceVersion = String(old.rv);
      const same = JSON.stringify(obj);
      if (same === old.json) return { rv: old.rv, json: old.json, changed: false };
    }
    const rv = ++this.#rv;
    metadata.resourceVersion = String(rv);
    const json = JSON.stringify(obj);
    const labels = metadata.labels ?? {};
    state.objects.set(key, { namespace, name, rv, labels, json });
    if (type.kind === "Service") this.#allocator.record(key, obj.spec, oldObj?.spec);
    this.#record(state, {
      rv,
      type: old === undefined ? "ADDED" : "MODIFIED",
      namespace,
      name,
      labels,
      line: `{"type":"${old === undefined ? "ADDED" : "MODIFIED"}","object":${json}}`,
    });
    return { rv, json, changed: true };
  }

  /**
   * Deletes an object; the DELETED event carries the object with a new resourceVersion.
   *
   * @throws {ApiError} 404 when it does not exist.
   */
  remove(type: ResourceType, namespace: string, name: string): WriteResult {
    const state = this.#state(type);
    const key = `${type.namespaced ? namespace : ""}/${name}`;
    const old = state.objects.get(key);
    if (old === undefined) {
      throw new ApiError(404, "NotFound", `${type.plural} "${name}" not found`);
    }
    state.objects.delete(key);
    const rv = ++this.#rv;
    const obj = JSON.parse(old.json);
    if (type.kind === "Service") this.#allocator.record(key, undefined, obj.spec);
    obj.metadata.resourceVersion = String(rv);
    const json = JSON.stringify(obj);
    this.#record(state, {
      rv,
      type: "DELETED",
      namespace: old.namespace,
      name,
      labels: old.labels,
      line: `{"type":"DELETED","object":${json}}`,
    });
    return { rv, json, changed: true };
  }

  #record(state: ResourceState, event: StoredEvent): void {
    state.events.push(event);
    // Compact in batches so that trimming stays amortized O(1) per event.
    if (state.events.length > this.#historyLimit + Math.max(1000, this.#historyLimit >> 2)) {
      const drop = state.events.length - this.#historyLimit;
      state.compactedRv = state.events[drop - 1].rv;
      state.events = state.events.slice(drop);
    }
    for (const listener of this.#listeners) listener(state.type, event);
  }

  /** Defaults a Service's type, cluster IP, node ports and IP families as the API server does. */
  #defaultService(key: string, obj: RawObject, old: RawObject | undefined, strict: boolean): void {
    const spec: RawObject = obj.spec = { ...(obj.spec ?? {}) };
    spec.type ??= "ClusterIP";
    if (spec.type === "ExternalName") return;
    this.#allocator.assign(key, obj, old, strict);
    if (spec.ipFamilies === undefined && spec.clusterIP !== "None") {
      spec.ipFamilies = (spec.clusterIPs as string[]).map((ip) =>
        String(ip).includes(":") ? "IPv6" : "IPv4"
      );
    }
  }
}
