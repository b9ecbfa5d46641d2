import { assertEquals, assertThrows } from "../tests/assert.ts";
import {
  formatDuration,
  formatDurationNanos,
  parseDuration,
  parseDurationNanos,
} from "./duration.ts";

Deno.test("parseDurationNanos() accepts Go's duration grammar", () => {
  const cases: [string, bigint][] = [
    ["0", 0n],
    ["-0", 0n],
    ["+0", 0n],
    ["5s", 5_000_000_000n],
    ["30s", 30_000_000_000n],
    ["1478s", 1_478_000_000_000n],
    ["-5s", -5_000_000_000n],
    ["+5s", 5_000_000_000n],
    ["-0s", 0n],
    ["5.0s", 5_000_000_000n],
    ["5.6s", 5_600_000_000n],
    ["5.s", 5_000_000_000n],
    [".5s", 500_000_000n],
    ["1.004s", 1_004_000_000n],
    ["100.00100s", 100_001_000_000n],
    ["10ns", 10n],
    ["11us", 11_000n],
    ["12\u00b5s", 12_000n],
    ["12\u03bcs", 12_000n],
    ["13ms", 13_000_000n],
    ["14s", 14_000_000_000n],
    ["15m", 900_000_000_000n],
    ["16h", 57_600_000_000_000n],
    ["3h30m", 12_600_000_000_000n],
    ["10.5s4m", 250_500_000_000n],
    ["-2m3.4s", -123_400_000_000n],
    ["1h2m3s4ms5us6ns", 3_723_004_005_006n],
    ["39h9m14.425s", 140_954_425_000_000n],
    ["52763797000ns", 52_763_797_000n],
    ["0.3333333333333333333h", 1_200_000_000_000n],
    ["9007199254740993ns", 9_007_199_254_740_993n],
    ["9223372036854775807ns", 9_223_372_036_854_775_807n],
    ["-9223372036854775808ns", -9_223_372_036_854_775_808n],
    ["1.5h", 5_400_000_000_000n],
    ["24h0m0s", 86_400_000_000_000n],
  ];
  for (const [text, want] of cases) assertEquals(parseDurationNanos(text), want, text);
});

Deno.test("parseDurationNanos() rejects malformed text with Go's messages", () => {
  const cases: [string, string][] = [
    ["", 'time: invalid duration ""'],
    ["3", 'time: missing unit in duration "3"'],
    ["-", 'time: invalid duration "-"'],
    ["s", 'time: invalid duration "s"'],
    [".", 'time: invalid duration "."'],
    ["-.", 'time: invalid duration "-."'],
    [".s", 'time: invalid duration ".s"'],
    ["+.s", 'time: invalid duration "+.s"'],
    ["1d", 'time: unknown unit "d" in duration "1d"'],
    ["30 s", 'time: unknown unit " s" in duration "30 s"'],
    ["1s ", 'time: unknown unit "s " in duration "1s "'],
    ["3000000h", 'time: invalid duration "3000000h"'],
    ["9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'],
    ["9223372036854775.808us", 'time: invalid duration "9223372036854775.808us"'],
  ];
  for (const [text, message] of cases) {
    assertThrows(() => parseDurationNanos(text), SyntaxError, message);
  }
});

Deno.test("formatDurationNanos() spells durations as Go's Duration.String()", () => {
  const cases: [bigint, string][] = [
    [0n, "0s"],
    [1n, "1ns"],
    [1_100n, "1.1\u00b5s"],
    [2_200_000n, "2.2ms"],
    [3_300_000_000n, "3.3s"],
    [-4_000_000_000n - 4n * 60_000_000_000n, "-4m4s"],
    [4n * 60_000_000_000n + 5_001_000_000n, "4m5.001s"],
    [5n * 3_600_000_000_000n + 6n * 60_000_000_000n + 7_001_000_000n, "5h6m7.001s"],
    [8n * 60_000_000_000n + 1n, "8m0.000000001s"],
    [9_223_372_036_854_775_807n, "2562047h47m16.854775807s"],
    [-9_223_372_036_854_775_808n, "-2562047h47m16.854775808s"],
    [86_400_000_000_000n, "24h0m0s"],
    [3_600_000_000_000n, "1h0m0s"],
    [900_000_000_000n, "15m0s"],
    [500_000_000n, "500ms"],
  ];
  for (const [nanos, want] of cases) assertEquals(formatDurationNanos(nanos), want);
});

Deno.test("parseDuration() and formatDuration() work in milliseconds and round-trip", () => {
  assertEquals(parseDuration("30s"), 30_000);
  assertEquals(parseDuration("1.5s"), 1_500);
  assertEquals(parseDuration("500us"), 0.5);
  assertEquals(parseDuration("24h"), 86_400_000);
  assertEquals(formatDuration(30_000), "30s");
  assertEquals(formatDuration(0.5), "500\u00b5s");
  assertEquals(formatDuration(-1_000), "-1s");
  for (const text of ["1h0m0s", "15m0s", "1.5s", "2.25ms", "750\u00b5s", "3ns", "-1m1s", "0s"]) {
    assertEquals(formatDuration(parseDuration(text)), text);
  }
});
