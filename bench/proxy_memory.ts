/**
 * The shared half of the memory-over-time benchmarks (`churn_memory.ts`, `dns_flood_memory.ts`):
 * `main.ts` in iptables mode inside a scratch network namespace, fed by the API server fixture,
 * with its resident set sampled once a second from `/proc/<pid>/status`.
 *
 * - {@linkcode runInScratchNetns} (outer, root namespace): runs a benchmark's inner half inside a
 *   fresh `kpbench-<random>` namespace and returns the JSON line it prints; removes the namespace
 *   in `finally`.
 * - {@linkcode startProxyUnderTest} (inner): the fixture on the namespace's loopback (in the bench
 *   process, so its objects do not count), the synthetic cluster loaded, then `main.ts` (or, with
 *   `probeDir`, `memory_probe_main.ts`, which runs the same `runKubeProxy` and also records the V8
 *   heap) started with `--v8-flags` (default: what `deno task compile` bakes into the binary), and
 *   waited for until `/healthz` says the first sync is done. DNS listens on 127.0.0.1:53.
 * - {@linkcode RssRecorder}: one VmRSS sample per second, and {@linkcode summarizeRss} for the
 *   figures the tables show.
 *
 * @module
 */

import type { ApiServerFixture } from "../tests/apiserver/server.ts";
import { renderNodeConfig } from "../tests/node_config.ts";
import { CHILD_ENV } from "../tests/sandbox/command.ts";
import { BenchFlags, BINARY_V8_FLAGS, writeBenchOutput } from "./flags.ts";
import { canUseNetns, ScratchNetns } from "./netns.ts";
import { quantile } from "./stats.ts";
import {
  generateSyntheticCluster,
  SYNTHETIC_CLUSTER_CIDR,
  SYNTHETIC_NODE_NAME,
  type SyntheticCluster,
} from "./synthetic.ts";

/** Port the proxy's DNS responder listens on (127.0.0.1, inside the scratch namespace). */
export const DNS_PORT = 53;

const HEALTHZ = "127.0.0.1:10256";

/**
 * Runs `script` with `args` inside a fresh scratch namespace and parses the last JSON line it
 * prints on stdout.
 *
 * @throws {Error} When the script prints no JSON line (its stderr tail is in the message).
 */
export async function runInScratchNetns(script: string, args: string[]): Promise<unknown> {
  const ns = await ScratchNetns.create();
  try {
    const r = await ns.run(Deno.execPath(), ["run", "-A", script, ...args]);
    const line = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
    if (!line) throw new Error(`no result (code ${r.code}): ${r.stderr.slice(-3000)}`);
    return JSON.parse(line);
  } finally {
    await ns.remove();
  }
}

/**
 * The `main` of a memory-over-time benchmark. With `--inner` (inside the namespace): prints
 * `inner(flags)` as one JSON line and exits. Otherwise: runs `script` again inside a scratch
 * namespace with `--v8-flags` resolved (default: the binary's), prints `render(result, v8Flags)`
 * and writes it with the raw result to `bench/out/<name>.*`. Skips itself without root.
 */
export async function runMemoryBenchmark(
  name: string,
  script: string,
  inner: (flags: BenchFlags) => Promise<unknown>,
  render: (result: Record<string, unknown>, v8Flags: string) => string,
): Promise<void> {
  const flags = new BenchFlags(Deno.args);
  if (flags.has("inner")) {
    console.log(JSON.stringify(await inner(flags)));
    Deno.exit(0);
  }
  if (!canUseNetns()) {
    console.error(`${name}: needs root (network namespaces); skipped`);
    return;
  }
  const v8Flags = flags.string("v8-flags", BINARY_V8_FLAGS);
  const result = await runInScratchNetns(script, [
    ...Deno.args.filter((a) => !a.startsWith("--v8-flags")),
    `--v8-flags=${v8Flags}`,
    "--inner",
  ]) as Record<string, unknown>;
  const md = render(result, v8Flags);
  await writeBenchOutput(name, result, md);
  console.log(md);
}

/** A proxy under test, its RSS recorder and the load averages noted so far. */
export interface InnerRun {
  readonly proxy: ProxyUnderTest;
  readonly recorder: RssRecorder;
  readonly load: string[];
  /** With `--probe-dir`: makes the probe force a GC (and a heap snapshot with `--snapshots`). */
  probeGc(): void;
}

/**
 * An inner run: the proxy as the flags say (`--services` default 2,000, `--endpoints` 10,
 * `--backend` nft, `--v8-flags`, `--probe-dir`, `--snapshots`), RSS sampling in phase "before" for
 * `--settle` seconds (default 20) and a probe GC, then `body`; its result is returned with the load
 * averages and the RSS samples. The proxy is stopped in any case.
 */
export async function withInnerRun(
  flags: BenchFlags,
  body: (run: InnerRun) => Promise<Record<string, unknown>>,
): Promise<Record<string, unknown>> {
  const probeDir = flags.string("probe-dir", "");
  const proxy = await startProxyUnderTest({
    services: flags.number("services", 2000),
    endpointsPerService: flags.number("endpoints", 10),
    backend: flags.string("backend", "nft"),
    v8Flags: flags.string("v8-flags", BINARY_V8_FLAGS),
    probeDir: probeDir === "" ? undefined : probeDir,
    snapshots: flags.has("snapshots"),
  });
  const recorder = new RssRecorder(proxy.pid);
  const probeGc = () => {
    if (probeDir !== "") Deno.kill(proxy.pid, "SIGUSR2");
  };
  try {
    const load = [await readLoadAverages()];
    recorder.phase = "before";
    recorder.start();
    await new Promise((r) => setTimeout(r, flags.number("settle", 20) * 1000));
    probeGc();
    const result = await body({ proxy, recorder, load, probeGc });
    return { ...result, load, samples: recorder.samples };
  } finally {
    recorder.stop();
    await proxy.close();
  }
}

/** What the proxy under test runs with. */
export interface ProxyUnderTestOptions {
  readonly services: number;
  readonly endpointsPerService: number;
  /** `--iptables-backend` (`nft` or `legacy`). */
  readonly backend: string;
  /** Comma-separated V8 flags for the proxy's process; "" for none. */
  readonly v8Flags: string;
  /** Run `memory_probe_main.ts` instead of main.ts, recording the V8 heap into this directory. */
  readonly probeDir?: string;
  /** With `probeDir`: write a heap snapshot at each SIGUSR2 (inflates RSS while written). */
  readonly snapshots?: boolean;
  /** Give up on the first sync after this long. */
  readonly syncTimeoutMs?: number;
}

/** A running proxy and its fixture. */
export interface ProxyUnderTest {
  readonly api: ApiServerFixture;
  readonly cluster: SyntheticCluster;
  readonly pid: number;
  /** From spawning the proxy to `/healthz` answering 200. */
  readonly firstSyncMs: number;
  /** The last 3,000 characters of the proxy's log. */
  logTail(): Promise<string>;
  /** Stops the proxy (SIGTERM, SIGKILL after 5 s) and the fixture; removes the scratch files. */
  close(): Promise<void>;
}

/**
 * Starts the fixture and the proxy inside the current (scratch) namespace and waits for the
 * first sync.
 *
 * @throws {Error} When the proxy exits or does not sync within the timeout.
 */
export async function startProxyUnderTest(opts: ProxyUnderTestOptions): Promise<ProxyUnderTest> {
  const { ApiServerFixture } = await import("../tests/apiserver/server.ts");
  await new Deno.Command("ip", { args: ["link", "set", "lo", "up"] }).output();
  const cluster = generateSyntheticCluster({
    services: opts.services,
    endpointsPerService: opts.endpointsPerService,
  });
  const api = await ApiServerFixture.start({ listen: ["127.0.0.1:0"] });
  for (const o of [...cluster.namespaces, cluster.node, ...cluster.services]) api.apply(o);
  for (const o of cluster.endpointSlices) api.apply(o);
  const dir = await Deno.makeTempDir({ prefix: "kpbench-mem-" });
  const kubeconfig = `${dir}/kubeconfig`;
  await api.writeKubeconfig(kubeconfig);
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    renderNodeConfig({
      kubeconfig,
      nodeName: SYNTHETIC_NODE_NAME,
      clusterCIDR: SYNTHETIC_CLUSTER_CIDR,
      healthzBindAddress: HEALTHZ,
      metricsBindAddress: "127.0.0.1:10249",
      minSyncPeriod: "1s",
      dnsBindAddress: "127.0.0.1",
      dnsPort: DNS_PORT,
    }),
  );
  const entry = opts.probeDir === undefined
    ? new URL("../main.ts", import.meta.url).pathname
    : new URL("./memory_probe_main.ts", import.meta.url).pathname;
  const v8Flags = [opts.probeDir === undefined ? "" : "--expose-gc", opts.v8Flags]
    .filter((f) => f !== "").join(",");
  const log = await Deno.open(`${dir}/proxy.log`, { write: true, create: true });
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...(v8Flags === "" ? [] : [`--v8-flags=${v8Flags}`]),
      entry,
      "--config",
      `${dir}/config.yaml`,
      `--iptables-backend=${opts.backend}`,
    ],
    env: opts.probeDir === undefined ? CHILD_ENV : {
      ...CHILD_ENV,
      KPMEM_PROBE_DIR: opts.probeDir,
      KPMEM_SNAPSHOTS: opts.snapshots ? "1" : "0",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  child.stderr.pipeTo(log.writable).catch(() => undefined);
  let exited = false;
  child.status.then(() => exited = true);
  const logTail = async () => (await Deno.readTextFile(`${dir}/proxy.log`)).slice(-3000);
  const close = async () => {
    await stopChild(child);
    await child.status;
    await api.close();
    await Deno.remove(dir, { recursive: true }).catch(() => undefined);
  };
  const timeout = opts.syncTimeoutMs ?? 300_000;
  while (!(await healthy())) {
    if (exited || performance.now() - started > timeout) {
      const tail = await logTail();
      await close();
      throw new Error(`proxy not synced (${exited ? "exited" : "timeout"}): ${tail}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    api,
    cluster,
    pid: child.pid,
    firstSyncMs: performance.now() - started,
    logTail,
    close,
  };
}

/** SIGTERM, then SIGKILL if the process has not exited 5 s later. */
export async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* exited */ }
  await Promise.race([child.status, new Promise((r) => setTimeout(r, 5000))]);
  try {
    child.kill("SIGKILL");
  } catch { /* exited */ }
}

async function healthy(): Promise<boolean> {
  try {
    const res = await fetch(`http://${HEALTHZ}/healthz`);
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** VmRSS and VmHWM of a process, MiB. */
export async function readProcessMemory(pid: number): Promise<{ rssMb: number; hwmMb: number }> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)?.[1] ?? 0);
  return { rssMb: kb("VmRSS") / 1024, hwmMb: kb("VmHWM") / 1024 };
}

/** CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`. */
export async function readCpuSeconds(pid: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}

/** One sample: seconds since the recorder started, VmRSS in MiB, and a phase label. */
export interface RssSample {
  readonly t: number;
  readonly rssMb: number;
  readonly phase: string;
}

/** Samples a process's VmRSS once a second, labelled with the phase the benchmark is in. */
export class RssRecorder {
  readonly samples: RssSample[] = [];
  phase = "start";
  #timer: ReturnType<typeof setInterval> | undefined;
  #pid: number;
  #t0 = performance.now();

  constructor(pid: number) {
    this.#pid = pid;
  }

  /** Starts sampling (one sample now, then every second). */
  start(): void {
    this.#t0 = performance.now();
    const take = async () => {
      const { rssMb } = await readProcessMemory(this.#pid);
      const t = (performance.now() - this.#t0) / 1000;
      if (rssMb > 0) this.samples.push({ t, rssMb, phase: this.phase });
    };
    take();
    this.#timer = setInterval(take, 1000);
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** The samples of one phase. */
  of(phase: string): number[] {
    return this.samples.filter((s) => s.phase === phase).map((s) => s.rssMb);
  }
}

/** Peak, median and last of a list of RSS samples (MiB, rounded); zeros when empty. */
export function summarizeRss(
  samples: readonly number[],
): { peak: number; median: number; last: number } {
  if (samples.length === 0) return { peak: 0, median: 0, last: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    peak: Math.round(sorted[sorted.length - 1]),
    median: Math.round(quantile(sorted, 0.5)),
    last: Math.round(samples[samples.length - 1]),
  };
}

/** The 1-, 5- and 15-minute load averages, as `uptime` prints them. */
export async function readLoadAverages(): Promise<string> {
  const text = await Deno.readTextFile("/proc/loadavg").catch(() => "");
  return text.split(" ").slice(0, 3).join(" ");
}
