/**
 * Cluster DNS rate and latency: `dnsperf` (Debian) against NSD (Debian) serving the same
 * cluster.local names from a generated zone file, and against our DnsServer
 * (`dns_server_main.ts`, a separate process) with and without its answer cache, on the four
 * kubernetes/perf-tests query mixes, with the same dnsperf settings, in one run. Loopback only;
 * every dnsperf run is bounded by `-l` seconds and `-n` passes.
 *
 *     deno run -A bench/dns_perf.ts [--services=1000] [--endpoints=10] [--seconds=8]
 *       [--latency-seconds=3] [--outstanding=100] [--rounds=2]
 *
 * Two dnsperf runs per (server, mix, round): one plain (QPS, lost queries, average latency), one
 * with `-v` (per-query latencies, for p50/p99; `-v` costs the client time, so its QPS is not used).
 * NSD runs with one server process and response rate limiting off (Debian's build enables RRL,
 * which otherwise drops most of a benchmark's queries).
 *
 * @module
 */

import { BenchFlags, writeBenchOutput, writePlot } from "./flags.ts";
import { runCommand } from "./netns.ts";
import { renderLinePlot } from "./plot.ts";
import { formatSummary, quantile, readLoadAverage, readMachineInfo, summarize } from "./stats.ts";
import type { Summary } from "./stats.ts";
import { generateSyntheticCluster, trimSyntheticCluster } from "./synthetic.ts";
import { queryMixes, renderNsdZone } from "./dns_zone.ts";
import { CHILD_ENV } from "../tests/sandbox/command.ts";

/** One dnsperf measurement. */
export interface DnsperfResult {
  readonly qps: number;
  readonly sent: number;
  readonly completed: number;
  readonly lost: number;
  readonly avgLatencyMs: number;
  readonly rcodes: string;
}

/** Parses dnsperf's statistics block. */
export function parseDnsperfOutput(text: string): DnsperfResult {
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    rcodes: /Response codes:\s+(.*)/.exec(text)?.[1]?.trim() ?? "",
  };
}

/** p50/p99 (ms) of the `> RCODE name type latency` lines of `dnsperf -v`. */
export function parseVerboseLatencies(text: string): { p50: number; p99: number; n: number } {
  const lat: number[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("> ")) continue;
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(v)) lat.push(v * 1000);
  }
  lat.sort((a, b) => a - b);
  return { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), n: lat.length };
}

function randomPort(): number {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    try {
      const u = Deno.listenDatagram({ hostname: "127.0.0.1", port, transport: "udp" });
      const t = Deno.listen({ hostname: "127.0.0.1", port });
      u.close();
      t.close();
      return port;
    } catch { /* taken; try another */ }
  }
  throw new Error("no free loopback port found");
}

interface RunningServer {
  readonly name: string;
  readonly port: number;
  stop(): Promise<void>;
}

async function startNsd(dir: string, zone: string): Promise<RunningServer> {
  const port = randomPort();
  await Deno.writeTextFile(`${dir}/cluster.local.zone`, zone);
  await Deno.writeTextFile(
    `${dir}/nsd.conf`,
    [
      "server:",
      `  ip-address: 127.0.0.1@${port}`,
      `  port: ${port}`,
      '  username: ""',
      '  chroot: ""',
      `  zonesdir: "${dir}"`,
      `  pidfile: "${dir}/nsd.pid"`,
      `  xfrdfile: "${dir}/xfrd.state"`,
      `  zonelistfile: "${dir}/zone.list"`,
      '  database: ""',
      `  logfile: "${dir}/nsd.log"`,
      "  server-count: 1",
      "  verbosity: 0",
      "  rrl-ratelimit: 0",
      "  rrl-whitelist-ratelimit: 0",
      "remote-control:",
      "  control-enable: no",
      "zone:",
      "  name: cluster.local",
      `  zonefile: "${dir}/cluster.local.zone"`,
      "",
    ].join("\n"),
  );
  const child = new Deno.Command("nsd", {
    args: ["-d", "-c", `${dir}/nsd.conf`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitForAnswer(port);
  return {
    name: "NSD 4 (1 server process)",
    port,
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
    },
  };
}

async function waitForAnswer(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await runCommand("dig", [
      "+short",
      "+time=1",
      "+tries=1",
      "-p",
      String(port),
      "@127.0.0.1",
      "kube-dns.kube-system.svc.cluster.local",
    ]);
    if (r.code === 0 && r.stdout.trim() !== "") return;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`no DNS answer on 127.0.0.1:${port}`);
}

async function startOurs(
  services: number,
  endpoints: number,
  answerCache: number,
): Promise<RunningServer> {
  const main = new URL("./dns_server_main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    env: CHILD_ENV,
    args: [
      "run",
      "-A",
      main,
      `--services=${services}`,
      `--endpoints=${endpoints}`,
      `--answer-cache=${answerCache}`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const deadline = Date.now() + 60_000;
  while (!/PORT (\d+)/.test(buf)) {
    if (Date.now() > deadline) throw new Error("our DNS server did not start within 60 s");
    const { value, done } = await reader.read();
    if (done) throw new Error("our DNS server exited before listening");
    buf += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => undefined);
  const port = Number(/PORT (\d+)/.exec(buf)![1]);
  await waitForAnswer(port);
  return {
    name: answerCache > 0 ? "ours (answer cache on)" : "ours (answer cache off)",
    port,
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
    },
  };
}

/** Figures for one server on one mix, over the rounds. */
export interface MixResult {
  readonly server: string;
  readonly mix: string;
  readonly qps: Summary;
  readonly lost: number;
  readonly sent: number;
  readonly avgLatencyMs: Summary;
  readonly p50Ms: Summary;
  readonly p99Ms: Summary;
  readonly rcodes: string;
}

async function dnsperf(port: number, file: string, args: string[]): Promise<string> {
  const r = await runCommand("dnsperf", [
    "-s",
    "127.0.0.1",
    "-p",
    String(port),
    "-d",
    file,
    "-c",
    "1",
    "-T",
    "1",
    "-t",
    "2",
    ...args,
  ]);
  return r.stdout + r.stderr;
}

async function main(): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  for (const tool of ["dnsperf", "nsd"]) {
    const r = await runCommand("which", [tool]).catch(() => ({ code: 1 }));
    if (r.code !== 0) {
      console.error(`dns_perf: ${tool} missing (apt-get install dnsperf nsd); skipped`);
      return;
    }
  }
  const services = flags.number("services", 1000);
  const endpoints = flags.number("endpoints", 10);
  const seconds = flags.number("seconds", 8);
  const latencySeconds = flags.number("latency-seconds", 3);
  const outstanding = flags.number("outstanding", 100);
  const rounds = flags.number("rounds", 2);
  const maxRuns = flags.number("max-passes", 2_000_000);
  const cluster = trimSyntheticCluster(
    generateSyntheticCluster({ services, endpointsPerService: endpoints }),
  );
  const dir = await Deno.makeTempDir({ prefix: "kpbench-dns-" });
  const servers: RunningServer[] = [];
  const results: MixResult[] = [];
  const loads: number[] = [];
  try {
    const mixes = queryMixes(cluster);
    for (const [name, text] of Object.entries(mixes)) {
      await Deno.writeTextFile(`${dir}/${name}.txt`, text);
    }
    servers.push(await startNsd(dir, renderNsdZone(cluster)));
    servers.push(await startOurs(services, endpoints, 10000));
    servers.push(await startOurs(services, endpoints, 0));
    const samples = new Map<string, { r: DnsperfResult[]; p50: number[]; p99: number[] }>();
    for (let round = 0; round < rounds; round++) {
      for (const mix of Object.keys(mixes)) {
        for (const server of servers) {
          const key = `${server.name}|${mix}`;
          const s = samples.get(key) ?? { r: [], p50: [], p99: [] };
          samples.set(key, s);
          loads.push(await readLoadAverage());
          const file = `${dir}/${mix}.txt`;
          const common = ["-q", String(outstanding), "-n", String(maxRuns)];
          const plain = await dnsperf(server.port, file, [...common, "-l", String(seconds)]);
          s.r.push(parseDnsperfOutput(plain));
          const verbose = await dnsperf(server.port, file, [
            ...common,
            "-l",
            String(latencySeconds),
            "-v",
          ]);
          const lat = parseVerboseLatencies(verbose);
          s.p50.push(lat.p50);
          s.p99.push(lat.p99);
          console.error(
            `dns_perf: ${mix} ${server.name}: ${s.r.at(-1)!.qps.toFixed(0)} qps, ` +
              `lost ${s.r.at(-1)!.lost}, p50 ${lat.p50.toFixed(3)} ms, p99 ${
                lat.p99.toFixed(3)
              } ms`,
          );
        }
      }
    }
    for (const [key, s] of samples) {
      const [server, mix] = key.split("|");
      results.push({
        server,
        mix,
        qps: summarize(s.r.map((r) => r.qps)),
        lost: s.r.reduce((n, r) => n + r.lost, 0),
        sent: s.r.reduce((n, r) => n + r.sent, 0),
        avgLatencyMs: summarize(s.r.map((r) => r.avgLatencyMs)),
        p50Ms: summarize(s.p50),
        p99Ms: summarize(s.p99),
        rcodes: s.r.at(-1)!.rcodes,
      });
    }
  } finally {
    for (const s of servers) await s.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => undefined);
  }
  const md = renderMarkdown(results, { services, endpoints, seconds, outstanding, loads });
  await writeBenchOutput("dns_perf", { machine: await readMachineInfo(), results }, md);
  const mixNames = [...new Set(results.map((r) => r.mix))];
  await writePlot(
    "dns_perf",
    renderLinePlot({
      title: "dnsperf QPS per query mix (loopback, 1 client, 100 outstanding)",
      xLabel: "mix: 1 service, 2 NXDOMAIN, 3 pod IP, 4 twenty services",
      yLabel: "queries per second",
      series: [...new Set(results.map((r) => r.server))].map((server) => ({
        label: server,
        points: mixNames.map((m, i) =>
          [i + 1, results.find((r) => r.server === server && r.mix === m)!.qps.median] as const
        ),
      })),
    }),
  );
  console.log(md);
}

/** Renders the DNS results as a Markdown table with ours as a share of NSD's rate. */
export function renderMarkdown(
  results: readonly MixResult[],
  ctx: {
    services: number;
    endpoints: number;
    seconds: number;
    outstanding: number;
    loads: number[];
  },
): string {
  const out = [
    `Cluster of ${ctx.services} services x ${ctx.endpoints} endpoints; dnsperf -c 1 -T 1 ` +
    `-q ${ctx.outstanding} -t 2 -l ${ctx.seconds}; load average ${
      Math.min(...ctx.loads).toFixed(2)
    }-${Math.max(...ctx.loads).toFixed(2)}.`,
    "",
    "| mix | server | QPS | share of NSD | lost / sent | avg latency | p50 | p99 | rcodes |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    const nsd = results.find((x) => x.mix === r.mix && x.server.startsWith("NSD"));
    const share = nsd ? `${(100 * r.qps.median / nsd.qps.median).toFixed(0)} %` : "-";
    out.push(
      `| ${r.mix} | ${r.server} | ${
        formatSummary(r.qps, "", 0)
      } | ${share} | ${r.lost} / ${r.sent} | ${formatSummary(r.avgLatencyMs, "ms", 3)} | ${
        formatSummary(r.p50Ms, "ms", 3)
      } | ${formatSummary(r.p99Ms, "ms", 3)} | ${r.rcodes} |`,
    );
  }
  return out.join("\n") + "\n";
}

if (import.meta.main) await main();
