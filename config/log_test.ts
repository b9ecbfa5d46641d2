import { assert, assertEquals, assertMatch } from "../tests/assert.ts";
import { configureLogging, errorText, log } from "./log.ts";

Deno.test("JSON lines carry ts as fractional milliseconds since the epoch, as component-base", () => {
  // First test of the file: `now` is still the default clock, which is what is under test.
  const lines: string[] = [];
  configureLogging({ format: "json", verbosity: 0, write: (l) => lines.push(l) });
  const before = Date.now();
  log.info("Caches are synced");
  const after = Date.now();
  const record = JSON.parse(lines[0]);
  assertEquals(typeof record.ts, "number");
  assert(record.ts >= before - 1 && record.ts <= after + 1, `ts ${record.ts} not in ms`);
  assert(Math.abs(record.ts - Date.now()) < 1000);
});

function capture(format: "text" | "json", verbosity: number): string[] {
  const lines: string[] = [];
  configureLogging({
    format,
    verbosity,
    write: (line) => lines.push(line),
    now: () => Date.UTC(2026, 10, 21, 12, 0, 0, 123),
  });
  return lines;
}

Deno.test("log.info() writes a klog text line with the caller and quoted fields", () => {
  const lines = capture("text", 0);
  log.info("Syncing iptables rules", { ipFamily: "IPv4", count: 3 });
  assertEquals(lines.length, 1);
  assertMatch(
    lines[0],
    /^I1121 12:00:00\.123000 +\d+ log_test\.ts:\d+\] "Syncing iptables rules" ipFamily="IPv4" count=3$/,
  );
});

Deno.test("log.v() drops lines above the configured verbosity", () => {
  const lines = capture("text", 2);
  log.v(2).info("kept");
  log.v(3).info("dropped");
  assertEquals(lines.length, 1);
  assertEquals(log.v(3).enabled, false);
});

Deno.test("log.error() in JSON format carries err and fields", () => {
  const lines = capture("json", 0);
  log.error("Failed to sync", new Error("boom"), { table: "nat" });
  const record = JSON.parse(lines[0]);
  assertEquals(record.msg, "Failed to sync");
  assertEquals(record.err, "boom");
  assertEquals(record.table, "nat");
  assertMatch(record.caller, /^log_test\.ts:\d+$/);
});

Deno.test("errors are written with their cause chain, in both formats", () => {
  const inner = new Error("connect: connection refused");
  const outer = new Error("Cannot list Services", { cause: inner });
  let lines = capture("json", 0);
  log.error("Failed to list", outer, { other: new Error("a", { cause: new Error("b") }) });
  const record = JSON.parse(lines[0]);
  assertEquals(record.err, "Cannot list Services: connect: connection refused");
  assertEquals(record.other, "a: b");
  lines = capture("text", 0);
  log.error("Failed to list", outer);
  assertMatch(lines[0], /err="Cannot list Services: connect: connection refused"$/);
  // A message that already includes its cause's is not repeated.
  assertEquals(errorText(new Error("x: y", { cause: new Error("y") })), "x: y");
});
