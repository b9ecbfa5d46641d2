import { assert, assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import { configureLogging } from "../config/log.ts";
import { FakeClock } from "../config/clock.ts";
import { BoundedFrequencyRunner, startRetrying } from "./runner.ts";

configureLogging({ write: () => {} });

const OPTS = { minIntervalMs: 1000, maxIntervalMs: 60_000, retryIntervalMs: 5000 };

function makeRunner(fn?: () => Promise<void>) {
  const clock = new FakeClock(0);
  const starts: number[] = [];
  const runner = new BoundedFrequencyRunner("test", async () => {
    starts.push(clock.now());
    if (fn) await fn();
  }, { ...OPTS, clock });
  return { clock, starts, runner };
}

Deno.test("FakeClock.tick() fires due timers in order at their due time", () => {
  const clock = new FakeClock(100);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 50);
  clock.setTimeout(() => {
    fired.push(`a@${clock.now()}`);
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 5);
  }, 10);
  const cancelled = clock.setTimeout(() => fired.push("never"), 20);
  clock.clearTimeout(cancelled);
  clock.tick(40);
  assertEquals(fired, ["a@110", "c@115"]);
  clock.tick(10);
  assertEquals(fired, ["a@110", "c@115", "b@150"]);
  assertEquals(clock.now(), 150);
});

Deno.test("BoundedFrequencyRunner.run() runs at once when idle", async () => {
  const { clock, starts, runner } = makeRunner();
  runner.start();
  runner.run();
  await clock.tickAsync(0);
  assertEquals(starts, [0]);
  runner.stop();
});

Deno.test("BoundedFrequencyRunner.run() before start() runs when started", async () => {
  const { clock, starts, runner } = makeRunner();
  runner.run();
  await clock.tickAsync(500);
  assertEquals(starts, []);
  runner.start();
  await clock.tickAsync(0);
  assertEquals(starts, [500]);
  runner.stop();
});

Deno.test("BoundedFrequencyRunner.run() coalesces requests within minInterval", async () => {
  const { clock, starts, runner } = makeRunner();
  runner.start();
  runner.run();
  await clock.tickAsync(0);
  runner.run();
  runner.run();
  await clock.tickAsync(200);
  runner.run();
  await clock.tickAsync(700);
  assertEquals(starts, [0], "no second run before minInterval");
  await clock.tickAsync(100);
  assertEquals(starts, [0, 1000], "the three requests became one run at end+minInterval");
  await clock.tickAsync(5000);
  assertEquals(starts, [0, 1000]);
  runner.stop();
});

Deno.test("BoundedFrequencyRunner never runs fn concurrently and measures minInterval from the end", async () => {
  let release: () => void = () => {};
  let active = 0;
  let maxActive = 0;
  const { clock, starts, runner } = makeRunner(async () => {
    active++;
    maxActive = Math.max(maxActive, active);
    await new Promise<void>((r) => release = r);
    active--;
  });
  runner.start();
  runner.run();
  await clock.tickAsync(0);
  assert(runner.running);
  runner.run();
  await clock.tickAsync(3000);
  assertEquals(starts, [0], "request during a run waits for it");
  release();
  await clock.tickAsync(0);
  assert(!runner.running);
  await clock.tickAsync(999);
  assertEquals(starts, [0]);
  await clock.tickAsync(1);
  assertEquals(starts, [0, 4000], "next run starts minInterval after the previous ended");
  release();
  await clock.tickAsync(0);
  assertEquals(maxActive, 1);
  runner.stop();
});

Deno.test("BoundedFrequencyRunner runs at least every maxInterval", async () => {
  const { clock, starts, runner } = makeRunner();
  runner.start();
  await clock.tickAsync(59_999);
  assertEquals(starts, []);
  await clock.tickAsync(1);
  assertEquals(starts, [60_000]);
  await clock.tickAsync(60_000);
  assertEquals(starts, [60_000, 120_000]);
  runner.stop();
});

Deno.test("BoundedFrequencyRunner retries a failed run within retryInterval", async () => {
  let failures = 2;
  const { clock, starts, runner } = makeRunner(() => {
    if (failures-- > 0) return Promise.reject(new Error("iptables-restore failed"));
    return Promise.resolve();
  });
  runner.start();
  runner.run();
  await clock.tickAsync(0);
  await clock.tickAsync(4999);
  assertEquals(starts, [0]);
  await clock.tickAsync(1);
  assertEquals(starts, [0, 5000]);
  await clock.tickAsync(5000);
  assertEquals(starts, [0, 5000, 10_000]);
  await clock.tickAsync(30_000);
  assertEquals(starts, [0, 5000, 10_000], "success stops the retries");
  runner.stop();
});

Deno.test("BoundedFrequencyRunner.run() after a failure runs before the retry is due", async () => {
  let fail = true;
  const { clock, starts, runner } = makeRunner(() => {
    if (fail) {
      fail = false;
      return Promise.reject(new Error("boom"));
    }
    return Promise.resolve();
  });
  runner.start();
  runner.run();
  await clock.tickAsync(0);
  runner.run();
  await clock.tickAsync(1000);
  assertEquals(starts, [0, 1000]);
  runner.stop();
});

Deno.test("BoundedFrequencyRunner.stop() cancels pending and periodic runs", async () => {
  const { clock, starts, runner } = makeRunner();
  runner.start();
  runner.run();
  await clock.tickAsync(0);
  runner.run();
  runner.stop();
  await clock.tickAsync(120_000);
  assertEquals(starts, [0]);
  assertEquals(clock.pendingTimers, 0);
});

Deno.test("BoundedFrequencyRunner() rejects minInterval above maxInterval", () => {
  assertThrows(
    () =>
      new BoundedFrequencyRunner("bad", () => Promise.resolve(), {
        minIntervalMs: 10,
        maxIntervalMs: 5,
        retryIntervalMs: 1,
      }),
    RangeError,
    "minInterval",
  );
});

Deno.test("startRetrying() retries a failed start every interval until it works", async () => {
  const clock = new FakeClock(0);
  let failures = 2;
  const attempts: number[] = [];
  const handle = await startRetrying(() => {
    attempts.push(clock.now());
    return failures-- > 0 ? Promise.reject(new Error("address in use")) : Promise.resolve();
  }, { name: "proxy healthz", hardFail: false, clock });
  assertEquals(handle.started, false);
  await clock.tickAsync(5000);
  assertEquals(handle.started, false);
  await clock.tickAsync(5000);
  assertEquals(handle.started, true);
  await clock.tickAsync(60_000);
  assertEquals(attempts, [0, 5000, 10_000]);
  assertEquals(clock.pendingTimers, 0);
});

Deno.test("startRetrying() rejects at once with hardFail and stops retrying when cancelled", async () => {
  const clock = new FakeClock(0);
  await assertRejects(
    () =>
      startRetrying(() => Promise.reject(new Error("address in use")), {
        name: "metrics server",
        hardFail: true,
        clock,
      }),
    Error,
    "address in use",
  );
  let attempts = 0;
  const handle = await startRetrying(() => {
    attempts++;
    return Promise.reject(new Error("address in use"));
  }, { name: "metrics server", hardFail: false, clock });
  handle.cancel();
  await clock.tickAsync(30_000);
  assertEquals(attempts, 1);
});
