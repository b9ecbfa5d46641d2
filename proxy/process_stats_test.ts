import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { parseProcessStats, readProcessStats } from "./process_stats.ts";

const STAT = "4242 (deno (main) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 9 0 " +
  "37952 1073741824 5000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";

Deno.test("parseProcessStats() reads proc(5)'s fields, also with spaces and parentheses in comm", () => {
  const stats = parseProcessStats({
    stat: STAT,
    status: "Name:\tdeno\nVmSize:\t 1048576 kB\nVmRSS:\t   20000 kB\n",
    limits: "Limit                     Soft Limit           Hard Limit           Units     \n" +
      "Max open files            1024                 524288               files     \n",
    procStat: "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n",
    openFds: 12,
  });
  assertEquals(stats, {
    cpuSeconds: 3.8,
    startTimeSeconds: 1700000379.52,
    virtualMemoryBytes: 1073741824,
    residentMemoryBytes: 20000 * 1024,
    openFds: 12,
    maxFds: 1024,
  });
});

Deno.test("parseProcessStats() refuses a text without the fields", () => {
  assertThrows(
    () => parseProcessStats({ stat: STAT, status: "", limits: "", procStat: "", openFds: 0 }),
    SyntaxError,
  );
});

Deno.test("readProcessStats() describes this process", () => {
  const before = Date.now() / 1000;
  const stats = readProcessStats();
  assert(stats !== undefined);
  const file = Deno.openSync("/proc/self/stat");
  try {
    const more = readProcessStats()!;
    assertEquals(more.openFds, stats.openFds + 1);
  } finally {
    file.close();
  }
  assert(stats.startTimeSeconds <= before && stats.startTimeSeconds > before - 3600);
  assert(stats.residentMemoryBytes > 1 << 20);
  assert(stats.virtualMemoryBytes > stats.residentMemoryBytes);
  assert(stats.maxFds > stats.openFds);
  assert(stats.cpuSeconds > 0);
});
