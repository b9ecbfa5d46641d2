import { assertEquals, assertMatch } from "../tests/assert.ts";
import { configureLogging, log } from "./log.ts";

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
