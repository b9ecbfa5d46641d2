import { assertEquals } from "../tests/assert.ts";
import { parseDnsperfOutput, parseVerboseLatencies } from "./dns_perf.ts";

Deno.test("parseDnsperfOutput() reads QPS, lost queries and latency", () => {
  const r = parseDnsperfOutput(`Statistics:

  Queries sent:         150491
  Queries completed:    150391 (99.93%)
  Queries lost:         100 (0.07%)

  Response codes:       NOERROR 150391 (100.00%)
  Run time (s):         3.001852
  Queries per second:   50132.718069

  Average Latency (s):  0.001690 (min 0.000015, max 0.113823)
`);
  assertEquals(r.sent, 150491);
  assertEquals(r.completed, 150391);
  assertEquals(r.lost, 100);
  assertEquals(r.qps, 50132.718069);
  assertEquals(r.avgLatencyMs.toFixed(3), "1.690");
  assertEquals(r.rcodes, "NOERROR 150391 (100.00%)");
});

Deno.test("parseVerboseLatencies() takes percentiles of the per-query lines only", () => {
  const lines = ["[Status] Sending queries"];
  for (let i = 1; i <= 100; i++) {
    lines.push(`> NOERROR a.b.svc.cluster.local A 0.${String(i).padStart(6, "0")}`);
  }
  const r = parseVerboseLatencies(lines.join("\n"));
  assertEquals(r.n, 100);
  assertEquals(r.p50.toFixed(4), "0.0505");
  assertEquals(r.p99.toFixed(4), "0.0990");
});
