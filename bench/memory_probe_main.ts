/**
 * main.ts with a memory probe, for finding what a long run retains: runs `runKubeProxy` with the
 * same arguments, and
 *
 * - once a second appends a JSON line to `$KPMEM_PROBE_DIR/probe.jsonl`: VmRSS, `Deno.memoryUsage()`
 *   (V8 heap used / committed, external = ArrayBuffers and other off-heap memory V8 knows of) and
 *   the committed size of each V8 heap space, so JS heap and native memory can be told apart;
 * - on SIGUSR2 runs two full GCs (needs `--v8-flags=--expose-gc`), appends a line marked
 *   `"gc": true` (what is live, not what V8 keeps committed), and with `KPMEM_SNAPSHOTS=1` writes a
 *   heap snapshot `$KPMEM_PROBE_DIR/<n>.heapsnapshot` (compare two with `heap_snapshot_diff.ts`;
 *   writing one costs the process hundreds of MB of RSS).
 *
 *     KPMEM_PROBE_DIR=/tmp/x deno run -A --v8-flags=--expose-gc,--max-semi-space-size=2 \
 *       bench/memory_probe_main.ts --config ...
 *
 * @module
 */

import v8 from "node:v8";
import { installCrashGuards, runKubeProxy } from "../main.ts";

const MB = 1024 * 1024;

function startProbe(dir: string): () => void {
  const file = Deno.openSync(`${dir}/probe.jsonl`, { append: true, create: true });
  const encoder = new TextEncoder();
  const t0 = performance.now();
  const sample = (gc: boolean) => {
    const mem = Deno.memoryUsage();
    const spaces: Record<string, number> = {};
    for (const s of v8.getHeapSpaceStatistics()) {
      spaces[s.space_name] = Math.round(s.physical_space_size / MB * 10) / 10;
    }
    const line = {
      t: Math.round((performance.now() - t0) / 1000),
      rssMb: Math.round(mem.rss / MB),
      heapUsedMb: Math.round(mem.heapUsed / MB),
      heapTotalMb: Math.round(mem.heapTotal / MB),
      externalMb: Math.round(mem.external / MB),
      mallocedMb: Math.round(v8.getHeapStatistics().malloced_memory / MB),
      spaces,
      ...(gc ? { gc } : {}),
    };
    file.writeSync(encoder.encode(JSON.stringify(line) + "\n"));
  };
  const timer = setInterval(() => sample(false), 1000);
  let snapshots = 0;
  const snapshot = () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    sample(true);
    if (Deno.env.get("KPMEM_SNAPSHOTS") === "1") {
      v8.writeHeapSnapshot(`${dir}/${snapshots++}.heapsnapshot`);
    }
  };
  Deno.addSignalListener("SIGUSR2", snapshot);
  return () => {
    clearInterval(timer);
    Deno.removeSignalListener("SIGUSR2", snapshot);
    file.close();
  };
}

if (import.meta.main) {
  installCrashGuards();
  const dir = Deno.env.get("KPMEM_PROBE_DIR");
  const stopProbe = dir === undefined ? () => {} : startProbe(dir);
  const code = await runKubeProxy(Deno.args);
  stopProbe();
  Deno.exit(code);
}
