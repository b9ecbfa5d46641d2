/**
 * The proxy's own health server on `healthzBindAddress`: `/healthz` and `/livez`, as upstream's
 * `ProxyHealthServer` (kubeadm's liveness probe and cloud load balancers read these).
 *
 * Per IP family it keeps the time of the last successful sync (`updated(family)`) and the time of
 * the oldest change queued since (`queuedUpdate(family)`). The proxy is unhealthy when a queued
 * change has waited for `healthTimeout` (2 × syncPeriod upstream) without a successful sync: that
 * is the signature of iptables-restore failing over and over. `/healthz` additionally requires the
 * node to be eligible (known, not being deleted, not tainted ToBeDeletedByClusterAutoscaler) so
 * load balancers drain a node that is going away (KEP-3836); `/livez` ignores that.
 *
 * The clock is injected, so staleness is tested by moving a {@linkcode FakeClock}, not by waiting.
 *
 * @module
 */

import type { IPFamily, Node } from "../cache/objects.ts";
import { log } from "../config/log.ts";
import { type HttpListeners, serveHttp } from "./listen.ts";
import { type Clock, realClock } from "../config/clock.ts";

/** The taint cluster-autoscaler puts on a node it is about to delete. */
export const TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler";

/** Counters of answers; {@linkcode ProxyMetrics} implements this. */
export interface HealthzCounters {
  /** Counts one /healthz answer by status code. */
  countHealthz(code: number): void;
  /** Counts one /livez answer by status code. */
  countLivez(code: number): void;
}

/** Health of one IP family. */
export interface FamilyHealth {
  /** Last successful sync (ms since the epoch); undefined before the first. */
  lastUpdated: number | undefined;
  healthy: boolean;
}

/** The proxy's health at one instant, as upstream's `ProxyHealth`. */
export interface ProxyHealth {
  /** False when any family has a queued update older than the health timeout. */
  healthy: boolean;
  /** The most recent `lastUpdated` of all families (ms); undefined before any. */
  lastUpdated: number | undefined;
  /** The clock's time when this was computed (ms). */
  currentTime: number;
  /** Per-family detail, only for families that have registered. */
  status: Map<IPFamily, FamilyHealth>;
}

/** Options of {@linkcode ProxierHealthServer}. */
export interface ProxierHealthServerOptions {
  /** `healthzBindAddress` (`IP:port`; port 0 for an ephemeral port). */
  bindAddress: string;
  /** How long a queued update may wait for a successful sync (2 × syncPeriod), ms. */
  healthTimeoutMs: number;
  /** Time source; the wall clock by default. */
  clock?: Clock;
  /** Answer counters (the `kubeproxy_proxy_{healthz,livez}_total` metrics). */
  metrics?: HealthzCounters;
}

const HEADERS = {
  "Content-Type": "application/json",
  "X-Content-Type-Options": "nosniff",
};

/**
 * Formats a time as Go's `json.Marshal(time.Time)` does for UTC times: RFC 3339 with the
 * fractional seconds trimmed of trailing zeros, `0001-01-01T00:00:00Z` for the zero time.
 *
 * @param ms Milliseconds since the epoch, or undefined for Go's zero time.
 * @returns e.g. `2025-10-01T12:00:05.5Z`.
 * @example
 * ```ts
 * formatGoTime(Date.UTC(2025, 9, 1, 12, 0, 5, 500)); // "2025-10-01T12:00:05.5Z"
 * ```
 */
export function formatGoTime(ms: number | undefined): string {
  if (ms === undefined) return "0001-01-01T00:00:00Z";
  const iso = new Date(ms).toISOString(); // 2025-10-01T12:00:05.500Z
  return iso.replace(/\.(\d*?)0*Z$/, (_, frac: string) => frac === "" ? "Z" : `.${frac}Z`);
}

/**
 * Tells whether the proxy should advertise this node to load balancers: the Node is known, not
 * being deleted, and not tainted for deletion by cluster-autoscaler.
 *
 * @param node The node, or undefined when it is not (or no longer) known.
 * @returns Eligibility as /healthz reports it.
 */
export function isNodeEligible(node: Node | undefined): boolean {
  if (node === undefined) return false;
  if (node.deletionTimestamp !== undefined && node.deletionTimestamp !== "") return false;
  return !(node.taintKeys ?? []).includes(TO_BE_DELETED_TAINT);
}

/**
 * Serves `/healthz` and `/livez` from the proxier's sync bookkeeping.
 *
 * @example
 * ```ts
 * const healthz = new ProxierHealthServer({ bindAddress: "0.0.0.0:10256", healthTimeoutMs: 60_000 });
 * await healthz.start();
 * healthz.updated("IPv4");      // at SyncLoop start and after each successful sync
 * healthz.queuedUpdate("IPv4"); // whenever a change is queued
 * ```
 */
export class ProxierHealthServer {
  #opts: ProxierHealthServerOptions;
  #clock: Clock;
  #lastUpdated = new Map<IPFamily, number>();
  #oldestPendingQueued = new Map<IPFamily, number>();
  #nodeEligible = false;
  #server: HttpListeners | undefined;
  #port = 0;

  /** @param opts Address, timeout, clock and counters. */
  constructor(opts: ProxierHealthServerOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? realClock;
  }

  /** The port listened on (after {@linkcode ProxierHealthServer.start}). */
  get port(): number {
    return this.#port;
  }

  /**
   * Records that a change for `family` was queued; only the oldest pending one counts.
   *
   * @param family The proxier's family.
   */
  queuedUpdate(family: IPFamily): void {
    if (!this.#oldestPendingQueued.has(family)) {
      this.#oldestPendingQueued.set(family, this.#clock.now());
    }
  }

  /**
   * Records a successful sync of `family` (also called when its sync loop starts, to register
   * the family) and clears its pending queued update.
   *
   * @param family The proxier's family.
   */
  updated(family: IPFamily): void {
    this.#lastUpdated.set(family, this.#clock.now());
    this.#oldestPendingQueued.delete(family);
  }

  /**
   * Updates node eligibility from the node object (undefined when deleted or unknown).
   *
   * @param node This proxy's Node.
   */
  syncNode(node: Node | undefined): void {
    this.#nodeEligible = isNodeEligible(node);
  }

  /** Whether /healthz considers the node eligible. */
  get nodeEligible(): boolean {
    return this.#nodeEligible;
  }

  /** The proxy's health now (the /livez notion; node eligibility is not part of it). */
  health(): ProxyHealth {
    const now = this.#clock.now();
    const status = new Map<IPFamily, FamilyHealth>();
    let lastUpdated: number | undefined;
    for (const [family, t] of this.#lastUpdated) {
      status.set(family, { lastUpdated: t, healthy: true });
      if (lastUpdated === undefined || t > lastUpdated) lastUpdated = t;
    }
    let healthy = true;
    // Only families whose sync loop registered are judged (a family that never started is
    // "starting up"), as upstream's Health() does.
    for (const [family, s] of status) {
      const queued = this.#oldestPendingQueued.get(family);
      if (queued !== undefined && now - queued >= this.#opts.healthTimeoutMs) {
        healthy = false;
        s.healthy = false;
      }
    }
    return { healthy, lastUpdated, currentTime: now, status };
  }

  /**
   * Answers one request (exposed for tests and for embedding in another server).
   *
   * @param req The request; only the path matters.
   * @returns The /healthz or /livez answer, or a 404.
   */
  handle(req: Request): Response {
    const path = new URL(req.url).pathname;
    if (path !== "/healthz" && path !== "/livez") {
      return new Response("404 page not found\n", {
        status: 404,
        headers: {
          "Content-Type": "text/plain; charset=utf-8",
          "X-Content-Type-Options": "nosniff",
        },
      });
    }
    const h = this.health();
    const isHealthz = path === "/healthz";
    const ok = h.healthy && (!isHealthz || this.#nodeEligible);
    const code = ok ? 200 : 503;
    if (isHealthz) this.#opts.metrics?.countHealthz(code);
    else this.#opts.metrics?.countLivez(code);
    // Backwards compatibility with clients reading lastUpdated as "recent if healthy".
    const lastUpdated = ok ? h.currentTime : h.lastUpdated;
    const body: Record<string, unknown> = {
      lastUpdated: formatGoTime(lastUpdated),
      currentTime: formatGoTime(h.currentTime),
    };
    if (isHealthz) body.nodeEligible = this.#nodeEligible;
    body.healthy = h.healthy;
    if (h.status.size > 0) {
      const status: Record<string, unknown> = {};
      for (const family of [...h.status.keys()].sort()) {
        const s = h.status.get(family)!;
        status[family] = { lastUpdated: formatGoTime(s.lastUpdated), healthy: s.healthy };
      }
      body.status = status;
    }
    return new Response(JSON.stringify(body), { status: code, headers: HEADERS });
  }

  /**
   * Starts listening on the bind address.
   *
   * @throws {Error} `failed to start proxy healthz on <addr>: …` when it cannot bind.
   */
  start(): Promise<void> {
    if (this.#server) return Promise.resolve();
    try {
      this.#server = serveHttp({
        bindAddress: this.#opts.bindAddress,
        handler: (req) => this.handle(req),
      });
      this.#port = this.#server.port;
      log.info("Serving proxy health", { address: this.#opts.bindAddress, port: this.#port });
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(
        new Error(
          `failed to start proxy healthz on ${this.#opts.bindAddress}: ${
            err instanceof Error ? err.message : err
          }`,
          { cause: err },
        ),
      );
    }
  }

  /** Stops listening. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await server.shutdown();
  }
}
