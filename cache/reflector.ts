/**
 * A reflector keeps one resource type in step with the API server, as client-go's reflector
 * does, and tells a sink about every change of the trimmed objects:
 *
 * 1. LIST (decoded item by item), diffed against what the sink was last given: an `add` for a new
 *    key, an `update(previous, current)` for a changed one, and, after the whole list, a `delete`
 *    for every key the list no longer has. `synced()` fires once, after the first complete list.
 * 2. WATCH from the list's resourceVersion with `allowWatchBookmarks=true`; each event moves the
 *    resourceVersion forward (BOOKMARKs too), so a reconnect resumes exactly after the last event
 *    handled: no event is delivered twice and none is skipped.
 * 3. A watch that ends cleanly (server timeout) is resumed at once. A 410 Gone (HTTP status or
 *    `ERROR` event) means the events after our resourceVersion are gone: relist, and the diff of
 *    step 1 delivers what the gap hid (after a backoff when the watch had carried no event, so
 *    a server that refuses every watch with 410 is not relisted in a tight loop). Every other
 *    failure (network error, 5xx, a stream cut mid-event, a line that is not JSON) is retried
 *    with capped exponential backoff and jitter, forever, resuming the watch from the last
 *    resourceVersion (or relisting when no list has succeeded yet).
 * 4. With `onForbidden`, a 403 Forbidden (missing RBAC permission) is reported once through it
 *    and retried only every few minutes, quietly, until the permission appears.
 *
 * What "the gap" delivers: for each key, at most one change, from the object the sink was last
 * given to the listed object (add, update or delete); the intermediate states the gap hid are
 * not replayed. Updates in which the trimmed object is unchanged except for `resourceVersion` are
 * not delivered (the sink keeps the object it was given, older resourceVersion included).
 *
 * @module
 */

import { log } from "../config/log.ts";
import { type ApiClient, ApiStatusError, type WatchEvent } from "./client.ts";

/** The part of `ApiClient` a reflector uses (tests pass a fake). */
export type ListWatcher = Pick<ApiClient, "list" | "watch">;

/** Receives the changes of one resource type. */
export interface ReflectorSink<T> {
  add(obj: T): void;
  update(previous: T, current: T): void;
  delete(obj: T): void;
  /** Once, after the first complete list has been delivered. */
  synced(): void;
}

/** Retry timing: delay n is `min(maxMs, initialMs * 2^n)`, of which a random half is taken off. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Default backoff: 500 ms doubling up to 30 s (client-go's reflector uses 800 ms .. 30 s). */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/** What a reflector watches and how it converts. */
export interface ReflectorOptions<T> {
  /** Kind, for log lines. */
  readonly kind: string;
  /** Collection path, e.g. `/apis/discovery.k8s.io/v1/endpointslices`. */
  readonly path: string;
  readonly fieldSelector?: string;
  /** Raw object to trimmed object; undefined for an unusable object (already logged). */
  readonly convert: (raw: unknown) => T | undefined;
  readonly sink: ReflectorSink<T>;
  readonly backoff?: BackoffOptions;
  /** Random source for jitter and watch timeouts; `Math.random` by default. */
  readonly random?: () => number;
  /** Server-side watch timeout; default a random 5 to 10 minutes, as client-go picks. */
  readonly watchTimeoutSeconds?: number;
  /**
   * Client-side deadline of one LIST; default {@linkcode DEFAULT_LIST_TIMEOUT_MS}. A list on a
   * connection that died silently (an API server VIP failing over drops it without a reset)
   * would otherwise wait forever for its answer, and the cache would never sync.
   */
  readonly listTimeoutMs?: number;
  /**
   * Called when the API server refuses this resource with 403 Forbidden (RBAC), on the first
   * refusal of a run of them; with it set, a 403 is retried only every `forbiddenRetryMs` (and
   * without a warning per retry: the callback reports it) instead of with the normal backoff.
   * A later successful list delivers as usual (`synced()` if it is the first), and a later 403
   * calls it again. Without it, a 403 is retried like any other failure.
   */
  readonly onForbidden?: (err: ApiStatusError) => void;
  /**
   * Treat 404 Not Found like 403 (a resource an older API server does not serve, such as
   * ServiceCIDRs): reported through `onForbidden` and retried rarely.
   */
  readonly notFoundIsForbidden?: boolean;
  /** Delay between retries of a 403; default {@linkcode DEFAULT_FORBIDDEN_RETRY_MS}. */
  readonly forbiddenRetryMs?: number;
}

/**
 * Default delay between retries of a resource refused with 403: RBAC is not fixed in seconds,
 * and a permission granted later is picked up within this time.
 */
export const DEFAULT_FORBIDDEN_RETRY_MS = 300_000;

/**
 * Default LIST deadline: twice the API server's own 60 s limit for requests that are not
 * long-running (`--request-timeout`), so a list the server is still answering is never cut.
 */
export const DEFAULT_LIST_TIMEOUT_MS = 120_000;

/** Whether two trimmed objects differ only in their resourceVersion. */
export function sameExceptVersion(a: unknown, b: unknown): boolean {
  return JSON.stringify({ ...(a as object), resourceVersion: "" }) ===
    JSON.stringify({ ...(b as object), resourceVersion: "" });
}

// deno-lint-ignore no-explicit-any
function keyOf(raw: any): string | undefined {
  const name = raw?.metadata?.name;
  if (typeof name !== "string" || name === "") return undefined;
  const ns = raw?.metadata?.namespace;
  return `${typeof ns === "string" ? ns : ""}/${name}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Keeps one resource type in step with the API server. See the module comment. */
export class Reflector<T> {
  #client: ListWatcher;
  #opts: ReflectorOptions<T>;
  #delivered = new Map<string, T>();
  #resourceVersion = "";
  #synced = false;
  #random: () => number;
  #backoff: BackoffOptions;
  /** In a run of 403 refusals (`onForbidden` already called for it). */
  #refused = false;

  /**
   * @param client The API client.
   * @param opts What to watch.
   */
  constructor(client: ListWatcher, opts: ReflectorOptions<T>) {
    this.#client = client;
    this.#opts = opts;
    this.#random = opts.random ?? Math.random;
    this.#backoff = opts.backoff ?? DEFAULT_BACKOFF;
  }

  /** True once the first list has been delivered. */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** The resourceVersion the next watch starts from ("" before the first list). */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** The objects the sink was last given, by `namespace/name` ("/name" for cluster-scoped). */
  get store(): ReadonlyMap<string, T> {
    return this.#delivered;
  }

  #delay(attempt: number): number {
    const d = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** Math.min(attempt, 30));
    return d / 2 + this.#random() * d / 2;
  }

  /**
   * Lists and watches until `signal` aborts. Never throws.
   *
   * @param signal Stops the reflector (the pending request is aborted).
   */
  async run(signal: AbortSignal): Promise<void> {
    const { kind } = this.#opts;
    let needList = true;
    let attempt = 0;
    let expired = 0; // watches refused with 410 in a row, each before any event
    while (!signal.aborted) {
      if (needList) {
        try {
          await this.#list(signal);
          this.#refused = false;
          needList = false;
          attempt = 0;
        } catch (err) {
          if (signal.aborted) break;
          if (this.#isForbidden(err)) {
            await this.#forbidden(err as ApiStatusError, signal);
            continue;
          }
          const delay = this.#delay(attempt++);
          log.warn(`Failed to list ${kind}; retrying`, {
            err: String(err),
            retryAfterMs: Math.round(delay),
          });
          await sleep(delay, signal);
          continue;
        }
      }
      let received = false;
      // Each watch gets its own abort: stop aborts it, and so does a client-side deadline a
      // little after the server's timeoutSeconds, in case the connection died silently (no FIN)
      // and the server's end of the stream can never arrive.
      const timeout = this.#opts.watchTimeoutSeconds ?? Math.floor(300 + this.#random() * 300);
      const watchAbort = new AbortController();
      const onStop = () => watchAbort.abort();
      signal.addEventListener("abort", onStop, { once: true });
      // A stop that came during the list has already fired: the listener above never will.
      if (signal.aborted) break;
      const deadline = setTimeout(() => watchAbort.abort(), (timeout + 30) * 1000);
      try {
        const query: Record<string, string> = {
          resourceVersion: this.#resourceVersion,
          allowWatchBookmarks: "true",
          timeoutSeconds: String(timeout),
        };
        if (this.#opts.fieldSelector) query.fieldSelector = this.#opts.fieldSelector;
        const events = this.#client.watch(this.#opts.path, query, watchAbort.signal);
        for await (const event of events) {
          received = true;
          this.#refused = false;
          attempt = 0;
          expired = 0;
          this.#handle(event);
        }
        // A clean end (the server's timeoutSeconds): resume at once; back off only when the
        // stream carried nothing, so a server that closes every watch at once is not hammered.
        if (!received) await sleep(this.#delay(attempt++), signal);
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof ApiStatusError && err.code === 410) {
          log.v(2).info(`Watch of ${kind} expired; relisting`, {
            resourceVersion: this.#resourceVersion,
          });
          needList = true;
          // Refused before any event: back off (growing while it repeats), or a server that
          // always answers 410 right after a list would be relisted in a loop that never
          // yields to timers. A list alone does not reset `attempt`; a watch event does.
          if (!received) await sleep(this.#delay(expired++), signal);
          continue;
        }
        if (this.#isForbidden(err)) {
          await this.#forbidden(err as ApiStatusError, signal);
          continue;
        }
        if (watchAbort.signal.aborted) {
          log.warn(`Watch of ${kind} got no end from the server in time; reconnecting`, {
            resourceVersion: this.#resourceVersion,
            timeoutSeconds: timeout,
          });
          continue;
        }
        const delay = this.#delay(attempt++);
        log.warn(`Watch of ${kind} failed; reconnecting`, {
          err: String(err),
          resourceVersion: this.#resourceVersion,
          retryAfterMs: Math.round(delay),
        });
        await sleep(delay, signal);
      } finally {
        clearTimeout(deadline);
        signal.removeEventListener("abort", onStop);
      }
    }
  }

  #isForbidden(err: unknown): boolean {
    return this.#opts.onForbidden !== undefined && err instanceof ApiStatusError &&
      (err.code === 403 || (err.code === 404 && this.#opts.notFoundIsForbidden === true));
  }

  /** Reports the first 403 of a run, then waits the (long) forbidden retry delay. */
  async #forbidden(err: ApiStatusError, signal: AbortSignal): Promise<void> {
    const ms = this.#opts.forbiddenRetryMs ?? DEFAULT_FORBIDDEN_RETRY_MS;
    if (!this.#refused) {
      this.#refused = true;
      try {
        this.#opts.onForbidden!(err);
      } catch (e) {
        log.error(`Handler failed on ${this.#opts.kind} forbidden`, e);
      }
    } else {
      log.v(2).info(`${this.#opts.kind} still forbidden; retrying later`, { retryAfterMs: ms });
    }
    await sleep(ms / 2 + this.#random() * ms / 2, signal);
  }

  async #list(signal: AbortSignal): Promise<void> {
    const seen = new Set<string>();
    const query: Record<string, string> = {};
    if (this.#opts.fieldSelector) query.fieldSelector = this.#opts.fieldSelector;
    const listAbort = new AbortController();
    const onStop = () => listAbort.abort();
    signal.addEventListener("abort", onStop, { once: true });
    if (signal.aborted) listAbort.abort();
    const timeoutMs = this.#opts.listTimeoutMs ?? DEFAULT_LIST_TIMEOUT_MS;
    const deadline = setTimeout(
      () =>
        listAbort.abort(new Error(`list of ${this.#opts.kind} got no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    let result;
    try {
      result = await this.#client.list(this.#opts.path, query, (raw) => {
        const key = keyOf(raw);
        if (key === undefined) return;
        seen.add(key);
        this.#apply(key, raw);
      }, listAbort.signal);
    } finally {
      clearTimeout(deadline);
      signal.removeEventListener("abort", onStop);
    }
    for (const [key, previous] of this.#delivered) {
      if (!seen.has(key)) {
        this.#delivered.delete(key);
        this.#opts.sink.delete(previous);
      }
    }
    this.#resourceVersion = result.resourceVersion;
    if (!this.#synced) {
      this.#synced = true;
      log.v(2).info(`Synced ${this.#opts.kind}`, { count: this.#delivered.size });
      this.#opts.sink.synced();
    }
  }

  /** Delivers the new state of one key: add, update, or delete when it became unusable. */
  #apply(key: string, raw: unknown): void {
    let current: T | undefined;
    try {
      current = this.#opts.convert(raw);
    } catch (err) {
      log.error(`Cannot convert ${this.#opts.kind}`, err, { key });
      current = undefined;
    }
    const previous = this.#delivered.get(key);
    if (current === undefined) {
      if (previous !== undefined) {
        this.#delivered.delete(key);
        this.#opts.sink.delete(previous);
      }
      return;
    }
    if (previous === undefined) {
      this.#delivered.set(key, current);
      this.#opts.sink.add(current);
    } else if (!sameExceptVersion(previous, current)) {
      this.#delivered.set(key, current);
      this.#opts.sink.update(previous, current);
    }
  }

  #handle(event: WatchEvent): void {
    const obj = event.object;
    const rv = obj?.metadata?.resourceVersion;
    switch (event.type) {
      case "ADDED":
      case "MODIFIED": {
        const key = keyOf(obj);
        if (key !== undefined) this.#apply(key, obj);
        break;
      }
      case "DELETED": {
        const key = keyOf(obj);
        const previous = key === undefined ? undefined : this.#delivered.get(key);
        if (key !== undefined && previous !== undefined) {
          this.#delivered.delete(key);
          this.#opts.sink.delete(previous);
        }
        break;
      }
      case "BOOKMARK":
        break;
      case "ERROR": {
        const code = typeof obj?.code === "number" ? obj.code : 500;
        throw new ApiStatusError(code, `watch of ${this.#opts.kind}: ${obj?.message ?? "error"}`);
      }
      default:
        throw new SyntaxError(`watch of ${this.#opts.kind}: unknown event type ${event.type}`);
    }
    if (typeof rv === "string" && rv !== "") this.#resourceVersion = rv;
  }
}
