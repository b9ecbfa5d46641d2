import { assertEquals, assertThrows } from "../tests/assert.ts";
import { quantile, summarize } from "./stats.ts";

Deno.test("summarize() gives median, extremes, p90 and spread", () => {
  const s = summarize([5, 1, 4, 2, 3]);
  assertEquals(s.runs, 5);
  assertEquals(s.median, 3);
  assertEquals(s.min, 1);
  assertEquals(s.max, 5);
  assertEquals(s.p90, 4.6);
  assertEquals(s.spread, 4 / 3);
});

Deno.test("summarize() takes the mean of the middle pair for an even count", () => {
  assertEquals(summarize([4, 1, 3, 2]).median, 2.5);
});

Deno.test("summarize() rejects an empty sample set", () => {
  assertThrows(() => summarize([]), RangeError);
});

Deno.test("quantile() interpolates between closest ranks", () => {
  assertEquals(quantile([0, 10], 0.25), 2.5);
  assertEquals(quantile([7], 0.99), 7);
});
