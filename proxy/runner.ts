/**
 * The bounded-frequency runner that schedules proxy syncs, with an injectable clock.
 *
 * Upstream's `pkg/proxy/runner` runs the sync function under three bounds: never more often than
 * once per `minInterval` (measured from the end of one run to the start of the next), at least once
 * per `maxInterval` even with no requests, and, after a run that failed, again no later than
 * `retryInterval`. Requests (`run()`) that arrive while a run is in progress or while the minimum
 * interval has not elapsed are merged into one pending run. The function never runs concurrently
 * with itself.
 *
 * @module
 */

import { log } from "../config/log.ts";

import { type Clock, realClock } from "../config/clock.ts";

/** Bounds of a {@linkcode BoundedFrequencyRunner}. */
export interface BoundedFrequencyRunnerOptions {
  /** Minimum time between the end of one run and the start of the next (`minSyncPeriod`). */
  minIntervalMs: number;
  /** Maximum time between runs when nothing requests one (upstream: 1 h). */
  maxIntervalMs: number;
  /** After a failed run, the next run starts no later than this (`syncPeriod`). */
  retryIntervalMs: number;
  /** Time source; {@linkcode realClock} by default. */
  clock?: Clock;
}

/**
 * Runs an async function on request, rate-limited and with a periodic floor, as upstream's
 * `BoundedFrequencyRunner`.
 *
 * @example
 * ```ts
 * const runner = new BoundedFrequencyRunner("sync-runner", () => proxier.syncProxyRules(), {
 *   minIntervalMs: 1000, maxIntervalMs: 3600_000, retryIntervalMs: 30_000,
 * });
 * runner.start();
 * runner.run(); // coalesced with other requests
 * ```
 */
export class BoundedFrequencyRunner {
  #name: string;
  #fn: () => Promise<void>;
  #min: number;
  #max: number;
  #retry: number;
  #clock: Clock;
  #started = false;
  #stopped = false;
  #running = false;
  #pending = false;
  #failed = false;
  #lastEnd: number | undefined;
  #startedAt = 0;
  #timer: number | undefined;
  #timerDue: number | undefined;
  #current: Promise<void> | undefined;

  /**
   * @param name Name used in log lines.
   * @param fn The function to run; a rejection schedules a retry.
   * @param opts Interval bounds and clock.
   * @throws {RangeError} If an interval is negative or minInterval exceeds maxInterval.
   */
  constructor(name: string, fn: () => Promise<void>, opts: BoundedFrequencyRunnerOptions) {
    if (opts.minIntervalMs < 0 || opts.maxIntervalMs < 0 || opts.retryIntervalMs < 0) {
      throw new RangeError(`Cannot create runner ${name}: intervals must not be negative`);
    }
    if (opts.minIntervalMs > opts.maxIntervalMs) {
      throw new RangeError(
        `Cannot create runner ${name}: minInterval ${opts.minIntervalMs}ms exceeds maxInterval ${opts.maxIntervalMs}ms`,
      );
    }
    this.#name = name;
    this.#fn = fn;
    this.#min = opts.minIntervalMs;
    this.#max = opts.maxIntervalMs;
    this.#retry = opts.retryIntervalMs;
    this.#clock = opts.clock ?? realClock;
  }

  /** Whether `fn` is executing right now. */
  get running(): boolean {
    return this.#running;
  }

  /** Starts the loop: pending requests and the periodic run are scheduled from now on. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#startedAt = this.#clock.now();
    this.#schedule();
  }

  /**
   * Requests a run. Returns at once; the run happens as soon as the minimum interval allows, and
   * requests made before it starts are merged into it.
   */
  run(): void {
    if (this.#stopped) return;
    this.#pending = true;
    this.#schedule();
  }

  /**
   * Stops scheduling runs. A run in progress is not interrupted; {@linkcode wait} resolves when it
   * has finished.
   */
  stop(): void {
    this.#stopped = true;
    this.#clearTimer();
  }

  /** Resolves when the run in progress, if any, has finished. */
  async wait(): Promise<void> {
    await this.#current;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDue = undefined;
  }

  /** (Re)arms the single timer for the next run, or leaves it to the end of the current run. */
  #schedule(): void {
    if (!this.#started || this.#stopped || this.#running) return;
    const now = this.#clock.now();
    const base = this.#lastEnd ?? this.#startedAt;
    let due = base + this.#max;
    if (this.#failed) due = Math.min(due, base + Math.max(this.#retry, this.#min));
    if (this.#pending) {
      due = Math.min(due, this.#lastEnd === undefined ? now : this.#lastEnd + this.#min);
    }
    due = Math.max(due, now);
    if (this.#timer !== undefined && this.#timerDue === due) return;
    this.#clearTimer();
    this.#timerDue = due;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerDue = undefined;
      this.#current = this.#execute();
    }, due - now);
  }

  async #execute(): Promise<void> {
    if (this.#stopped || this.#running) return;
    this.#running = true;
    this.#pending = false;
    try {
      await this.#fn();
      this.#failed = false;
    } catch (err) {
      this.#failed = true;
      log.error("Sync failed", err, { runner: this.#name, retryingTime: `${this.#retry}ms` });
    } finally {
      this.#running = false;
      this.#lastEnd = this.#clock.now();
      this.#schedule();
    }
  }
}

/** Options of {@linkcode startRetrying}. */
export interface StartRetryingOptions {
  /** What is being started, for log lines (`proxy healthz`, `metrics server`). */
  name: string;
  /** `bindAddressHardFail`: reject on the first failure instead of retrying. */
  hardFail: boolean;
  /** Time between attempts; 5 s as upstream's `wait.Until(…, 5s)`. */
  retryIntervalMs?: number;
  /** Time source; {@linkcode realClock} by default. */
  clock?: Clock;
}

/** Stops the retries of {@linkcode startRetrying}. */
export interface RetryHandle {
  /** Whether a start attempt has succeeded. */
  readonly started: boolean;
  /** Cancels pending retries (does not stop what was started). */
  cancel(): void;
}

/**
 * Starts a server as upstream starts its healthz and metrics servers: on failure, either reject
 * (`hardFail`, so the caller exits) or log and try again every `retryIntervalMs` until it works or
 * the handle is cancelled.
 *
 * @param start Starts the server; rejects when it cannot bind.
 * @param opts Name, hard-fail flag, retry interval and clock.
 * @returns A handle once the first attempt is over (successful or not).
 * @throws {Error} The first failure when `hardFail` is set.
 * @example
 * ```ts
 * const handle = await startRetrying(() => healthz.start(), { name: "proxy healthz", hardFail: false });
 * // on shutdown:
 * handle.cancel();
 * await healthz.stop();
 * ```
 */
export async function startRetrying(
  start: () => Promise<void>,
  opts: StartRetryingOptions,
): Promise<RetryHandle> {
  const clock = opts.clock ?? realClock;
  const interval = opts.retryIntervalMs ?? 5000;
  let started = false;
  let cancelled = false;
  let timer: number | undefined;
  const attempt = async (): Promise<void> => {
    timer = undefined;
    if (cancelled) return;
    try {
      await start();
      started = true;
    } catch (err) {
      if (opts.hardFail) throw err;
      log.error(`Failed to start ${opts.name}, retrying`, err, { retryIntervalMs: interval });
      if (!cancelled) timer = clock.setTimeout(() => void attempt().catch(() => {}), interval);
    }
  };
  await attempt();
  return {
    get started() {
      return started;
    },
    cancel() {
      cancelled = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
    },
  };
}
