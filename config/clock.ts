/**
 * The project's one clock type: wall-clock milliseconds and timers, injectable so that time-driven
 * code (the sync runner, health staleness, canary checks) is tested by moving a
 * {@linkcode FakeClock} instead of waiting. {@linkcode realClock} in production.
 *
 * @module
 */

/** A clock and timer source; {@linkcode realClock} in production, {@linkcode FakeClock} in tests. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds; returns an id for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): number;
  /** Cancels a timer; unknown ids are ignored. */
  clearTimeout(id: number): void;
}

const realTimers = new Map<number, ReturnType<typeof setTimeout>>();
let nextRealTimerId = 1;

/** The wall clock and the runtime's timers. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const id = nextRealTimerId++;
    realTimers.set(
      id,
      setTimeout(() => {
        realTimers.delete(id);
        fn();
      }, ms),
    );
    return id;
  },
  clearTimeout: (id) => {
    const handle = realTimers.get(id);
    if (handle === undefined) return;
    clearTimeout(handle);
    realTimers.delete(id);
  },
};

interface FakeTimer {
  id: number;
  due: number;
  fn: () => void;
}

/**
 * A manual {@linkcode Clock} for tests: time moves only through {@linkcode FakeClock.tick}, which
 * fires the timers that fall due in order, each with the clock set to its due time.
 *
 * @example
 * ```ts
 * const clock = new FakeClock(0);
 * clock.setTimeout(() => console.log("fired at", clock.now()), 500);
 * clock.tick(1000); // fired at 500
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #timers: FakeTimer[] = [];
  #nextId = 1;

  /** @param start Initial time in milliseconds since the epoch. */
  constructor(start = 0) {
    this.#now = start;
  }

  /** {@inheritDoc Clock.now} */
  now(): number {
    return this.#now;
  }

  /** {@inheritDoc Clock.setTimeout} */
  setTimeout(fn: () => void, ms: number): number {
    const id = this.#nextId++;
    this.#timers.push({ id, due: this.#now + Math.max(0, ms), fn });
    return id;
  }

  /** {@inheritDoc Clock.clearTimeout} */
  clearTimeout(id: number): void {
    this.#timers = this.#timers.filter((t) => t.id !== id);
  }

  /** Number of timers not yet fired. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /**
   * Advances time by `ms`, firing every timer that falls due (including timers set by timers),
   * in due order.
   *
   * @param ms Milliseconds to advance.
   */
  tick(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const next = this.#nextDue(end);
      if (next === undefined) break;
      this.#now = next.due;
      next.fn();
    }
    this.#now = end;
  }

  /**
   * As {@linkcode FakeClock.tick}, but lets pending promise callbacks and I/O settle after each
   * fired timer and at the end, so async work started by a timer (a sync) completes before time
   * moves on.
   *
   * @param ms Milliseconds to advance.
   */
  async tickAsync(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#nextDue(end);
      if (next === undefined) break;
      this.#now = next.due;
      next.fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }

  #nextDue(end: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers) {
      if (t.due <= end && (best === undefined || t.due < best.due)) best = t;
    }
    if (best !== undefined) this.#timers = this.#timers.filter((t) => t !== best);
    return best;
  }
}

/** Lets queued promise callbacks run (one macrotask turn of the real event loop). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
