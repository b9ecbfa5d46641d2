/**
 * Memory of the whole proxy (`runKubeProxy` from main.ts: cache, proxier, DNS, metrics) after its
 * initial sync of the synthetic cluster, without a kernel: iptables and friends go to an injected
 * runner that streams and discards the restore input, so the figure is the process's own. The API
 * server fixture runs in a separate process. Reports VmRSS after the sync, then the V8 heap and
 * VmRSS after forced GCs, and VmHWM: the gap between heap and RSS is what V8 and the allocator
 * keep from the sync's peak.
 *
 *     deno run -A bench/main_memory.ts [--services=10000] [--endpoints=10] [--v8-flags=...]
 *       [--mode=iptables|nftables]
 *
 * `--v8-flags` (comma-separated, as DENO_V8_FLAGS) are passed to the proxy's process.
 *
 * @module
 */

import { renderNodeConfig } from "../tests/node_config.ts";
import { startFixtureProcess } from "./fixture_process.ts";
import { BenchFlags, writeBenchOutput } from "./flags.ts";
import {
  generateSyntheticCluster,
  SYNTHETIC_CLUSTER_CIDR,
  SYNTHETIC_NODE_NAME,
} from "./synthetic.ts";
import { CHILD_ENV } from "../tests/sandbox/command.ts";

const MB = 1024 * 1024;

async function readStatusMb(field: string): Promise<number> {
  const status = await Deno.readTextFile("/proc/self/status");
  const m = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

/** RSS (MB) by kind of mapping, from /proc/self/smaps: for finding what is not the V8 heap. */
async function summarizeSmaps(): Promise<Record<string, number>> {
  const text = await Deno.readTextFile("/proc/self/smaps");
  const out: Record<string, number> = {};
  let name = "";
  let size = 0;
  for (const line of text.split("\n")) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/);
    if (head) {
      name = head[1] === "" ? "[anon]" : head[1];
      const [a, b] = line.split(" ")[0].split("-").map((h) => parseInt(h, 16));
      size = b - a;
      continue;
    }
    const rss = line.match(/^Rss:\s+(\d+) kB/);
    if (rss) {
      const key = name.startsWith("/")
        ? "files"
        : name === "[anon]"
        ? `[anon] ${size >= 64 * MB ? ">=64MB" : size >= MB ? "1-64MB" : "<1MB"}`
        : name;
      out[key] = (out[key] ?? 0) + Number(rss[1]) / 1024;
    }
  }
  for (const k of Object.keys(out)) out[k] = Math.round(out[k]);
  return out;
}

/** Child mode: the proxy in this process against `server`; prints one JSON line. */
async function runProxyProcess(
  server: string,
  services: number,
  mode: "iptables" | "nftables",
): Promise<void> {
  const { runKubeProxy } = await import("../main.ts");
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  let restores = 0;
  let biggest = 0;
  let fullSyncSeen: () => void = () => {};
  const fullSync = new Promise<void>((r) => fullSyncSeen = r);
  const runner = {
    run(cmd: string, args: string[], opts: { stdin?: string | Iterable<string> } = {}) {
      // nftables mode's start-up check asks for nft's version.
      if (cmd === "nft" && args[0] === "--version") {
        return Promise.resolve({ code: 0, stdout: "nftables v1.0.6", stderr: "" });
      }
      let chars = 0;
      if (typeof opts.stdin === "string") chars = opts.stdin.length;
      else if (opts.stdin !== undefined) { for (const chunk of opts.stdin) chars += chunk.length; }
      if (cmd.includes("restore") || (cmd === "nft" && args[0] === "-f")) {
        restores++;
        biggest = Math.max(biggest, chars);
        // A full sync's nat table has a KUBE-SVC chain line per service: ~100 bytes each at least.
        if (chars > services * 100) fullSyncSeen();
      }
      return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    },
  };
  let stop: (v: string) => void = () => {};
  const stopSignal = new Promise<string>((r) => stop = r);
  const dir = await Deno.makeTempDir({ prefix: "kpmem-main-" });
  const port = () => 20000 + Math.floor(Math.random() * 30000);
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    renderNodeConfig({
      mode,
      nodeName: SYNTHETIC_NODE_NAME,
      clusterCIDR: SYNTHETIC_CLUSTER_CIDR,
      healthzBindAddress: `127.0.0.1:${port()}`,
      metricsBindAddress: `127.0.0.1:${port()}`,
      minSyncPeriod: "1s",
      dnsBindAddress: "127.0.0.1",
      dnsPort: port(),
    }),
  );
  const t0 = performance.now();
  const exit = runKubeProxy(["--config", `${dir}/config.yaml`, `--master=${server}`], {
    run: runner,
    stopSignal,
  });
  await Promise.race([fullSync, exit]);
  const syncMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 3000));
  const rssAfterSyncMb = await readStatusMb("VmRSS");
  gc();
  gc();
  await new Promise((r) => setTimeout(r, 1000));
  const mem = Deno.memoryUsage();
  const result = {
    syncMs: Math.round(syncMs),
    restores,
    biggestRestoreMb: Math.round(biggest / MB),
    rssAfterSyncMb,
    rssAfterGcMb: await readStatusMb("VmRSS"),
    heapUsedAfterGcMb: Math.round(mem.heapUsed / MB),
    heapTotalAfterGcMb: Math.round(mem.heapTotal / MB),
    externalMb: Math.round(mem.external / MB),
    peakRssMb: await readStatusMb("VmHWM"),
    rssAfter15sMb: 0,
  };
  // V8 keeps freed pages pooled for a few seconds (--memory-pool-timeout=8) before unmapping them.
  await new Promise((r) => setTimeout(r, 15000));
  result.rssAfter15sMb = await readStatusMb("VmRSS");
  if (Deno.env.get("KPMEM_SMAPS")) console.log(JSON.stringify(await summarizeSmaps()));
  stop("bench done");
  await exit;
  await Deno.remove(dir, { recursive: true });
  console.log(JSON.stringify(result));
}

async function main(): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  const services = flags.number("services", 10_000);
  if (flags.string("child-server", "") !== "") {
    await runProxyProcess(
      flags.string("child-server", ""),
      services,
      flags.string("mode", "iptables") as "iptables" | "nftables",
    );
    return;
  }
  const endpoints = flags.number("endpoints", 10);
  const v8Flags = flags.string("v8-flags", "");
  const cluster = generateSyntheticCluster({ services, endpointsPerService: endpoints });
  const dir = await Deno.makeTempDir({ prefix: "kpmem-bench-" });
  const root = new URL("..", import.meta.url).pathname;
  const fixture = await startFixtureProcess(cluster, dir);
  try {
    const child = await new Deno.Command(Deno.execPath(), {
      env: CHILD_ENV,
      args: [
        "run",
        "-A",
        `--v8-flags=--expose-gc${v8Flags === "" ? "" : "," + v8Flags}`,
        `${root}bench/main_memory.ts`,
        `--child-server=${fixture.url}`,
        `--services=${services}`,
        `--mode=${flags.string("mode", "iptables")}`,
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!child.success) throw new Error("proxy process failed");
    const lines = new TextDecoder().decode(child.stdout).trim().split("\n");
    if (lines.length > 1) console.error(lines.slice(0, -1).join("\n"));
    const r = JSON.parse(lines[lines.length - 1]);
    const md = [
      `${services} services x ${endpoints} endpoints, mode ${
        flags.string("mode", "iptables")
      }, V8 flags: ${v8Flags || "(none)"}`,
      "",
      "| first full sync | RSS after sync | RSS after GC | RSS 15 s later | V8 heap used / committed after GC | external | peak (VmHWM) |",
      "|---|---|---|---|---|---|---|",
      `| ${
        (r.syncMs / 1000).toFixed(1)
      } s | ${r.rssAfterSyncMb} MB | ${r.rssAfterGcMb} MB | ${r.rssAfter15sMb} MB | ${r.heapUsedAfterGcMb} / ${r.heapTotalAfterGcMb} MB | ${r.externalMb} MB | ${r.peakRssMb} MB |`,
      "",
    ].join("\n");
    await writeBenchOutput("main_memory", { services, endpoints, v8Flags, result: r }, md);
    console.log(md);
  } finally {
    await fixture.close();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
