/**
 * One proxy under test, at cluster scale, for `latency.ts` and `rss.ts`. Two halves:
 *
 * - {@linkcode runProxyBench} (outer, root namespace): creates a scratch namespace
 *   `kpbench-<random>`, runs this file's `main` inside it with `ip netns exec`, returns the JSON
 *   it prints, and removes the namespace in `finally`.
 * - `main` (inner, inside that namespace): starts the API server fixture on the namespace's
 *   loopback, loads the synthetic cluster, starts `main.ts` (`--config` with upstream's defaults,
 *   `--kubeconfig`, `--hostname-override node-0`, `--iptables-backend`), waits until the rules of
 *   the last service are in the kernel (first sync), reads the proxy's RSS, then, if asked,
 *   changes one endpoint at the fixture per sample and waits until the kernel has the new
 *   endpoint's DNAT rule.
 *
 * Seeing a change in the kernel: in nftables mode, `nft monitor new` (`nft_monitor.ts`) reports
 * the commit of the rule `dnat to <new endpoint>` as it happens; the time is taken when its line
 * arrives, then one kernel read confirms it (a `nft --check` deletion of the new endpoint's
 * `hairpin-ips` element). In iptables mode the kernel is polled: on nft, `iptables-nft -t nat -S
 * KUBE-SEP-...` (reads only that chain; beside iptables-nft's table `nft monitor` takes a whole
 * core); on legacy, which has no events, `iptables-legacy-save -t nat` and a search,
 * which takes no xtables lock (see `chainHasDnat`). A poll's cost bounds its resolution. `pollMs`
 * is the median cost of one kernel read either way.
 *
 * @module
 */

import { renderNodeConfig } from "../tests/node_config.ts";
import { runInScratchNetns, stopChild } from "./proxy_memory.ts";
import { BenchFlags, BINARY_V8_FLAGS } from "./flags.ts";
import {
  generateSyntheticCluster,
  type RawObject,
  SYNTHETIC_CLUSTER_CIDR,
  syntheticClusterIP,
  syntheticNamespace,
  syntheticServiceName,
} from "./synthetic.ts";
import { CHILD_ENV } from "../tests/sandbox/command.ts";
import { NftMonitor } from "./nft_monitor.ts";

/** What one inner run measured. */
export interface ProxyRunResult {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly backend: string;
  /** What-if wrapper changes in effect ("" for none). */
  readonly whatIf?: string;
  /** Loading the objects into the fixture. */
  readonly loadMs: number;
  /** From starting main.ts to the last service's rules being in the kernel; -1 on timeout. */
  readonly firstSyncMs: number;
  readonly rssKb: number;
  readonly hwmKb: number;
  /** One per change: EndpointSlice write at the fixture to the new rule in the kernel (ms). */
  readonly latenciesMs: number[];
  /** Median cost of one kernel check (ms). */
  readonly pollMs: number;
  /**
   * How a change was seen in the kernel: `monitor` (`nft monitor` events timestamped on arrival,
   * each cross-checked by one kernel read; nftables mode) or `poll` (repeated kernel reads;
   * iptables mode).
   */
  readonly detection?: "monitor" | "poll";
  /** Sums and counts of the proxy's sync-duration histograms after the changes. */
  readonly syncMetrics?: Record<string, number>;
  /** The proxy mode measured (`iptables` when unset). */
  readonly mode?: string;
  readonly error?: string;
}

/** Options of {@linkcode runProxyBench}. */
export interface ProxyBenchOptions {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly backend: "nft" | "legacy";
  /** Latency samples (0: first sync and RSS only). */
  readonly changes: number;
  /** Give up on the first sync after this long. */
  readonly syncTimeoutMs: number;
  /** `iptables.minSyncPeriod` of the proxy (upstream default 1s). */
  readonly minSyncPeriod?: string;
  /**
   * What-if changes applied by `restore_wrapper.sh` in front of `iptables-nft-restore`
   * (`list-first`, `own-chains`, comma-separated); empty: the proxy as it is.
   */
  readonly whatIf?: string;
  /** Run main.ts with `--cpu-prof` into this directory (written when it exits on SIGTERM). */
  readonly cpuProfDir?: string;
  /** The proxy mode (`iptables` by default); nftables mode's kernel check reads its chains. */
  readonly mode?: "iptables" | "nftables";
}

/** Runs one proxy benchmark in a fresh scratch namespace (root only). */
export async function runProxyBench(opts: ProxyBenchOptions): Promise<ProxyRunResult> {
  return await runInScratchNetns(new URL(import.meta.url).pathname, [
    `--services=${opts.services}`,
    `--endpoints=${opts.endpointsPerService}`,
    `--backend=${opts.backend}`,
    `--changes=${opts.changes}`,
    `--sync-timeout=${opts.syncTimeoutMs}`,
    `--min-sync-period=${opts.minSyncPeriod ?? "1s"}`,
    `--what-if=${opts.whatIf ?? ""}`,
    `--cpu-prof-dir=${opts.cpuProfDir ?? ""}`,
    `--mode=${opts.mode ?? "iptables"}`,
  ]) as ProxyRunResult;
}

function renderConfig(
  kubeconfig: string,
  minSyncPeriod: string,
  mode: "iptables" | "nftables",
): string {
  return renderNodeConfig({
    mode,
    kubeconfig,
    nodeName: "node-0",
    clusterCIDR: SYNTHETIC_CLUSTER_CIDR,
    healthzBindAddress: "127.0.0.1:10256",
    metricsBindAddress: "127.0.0.1:10249",
    minSyncPeriod,
    dnsBindAddress: "127.0.0.1",
    dnsPort: 53,
    podRecords: true,
  });
}

async function readStatus(pid: number): Promise<{ rssKb: number; hwmKb: number }> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  return {
    rssKb: Number(/VmRSS:\s+(\d+)/.exec(text)?.[1] ?? 0),
    hwmKb: Number(/VmHWM:\s+(\d+)/.exec(text)?.[1] ?? 0),
  };
}

/**
 * Whether `chain` holds a rule containing `dest`. On nft, `iptables-nft -t nat -S CHAIN` reads only
 * that chain. On legacy, `iptables-legacy-save -t nat` (no xtables lock; listing one chain with
 * `iptables-legacy -S` takes the lock for as long as it reads the whole table, and a poller holding
 * it back to back starves the proxy's own `iptables-restore -w 5`), then a search of the chain's
 * lines.
 */
async function chainHasDnat(backend: string, chain: string, dest: string): Promise<boolean> {
  const legacy = backend === "legacy";
  const out = await new Deno.Command(legacy ? "iptables-legacy-save" : "iptables-nft", {
    args: legacy ? ["-t", "nat"] : ["-t", "nat", "-S", chain],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (out.code !== 0) return false;
  const text = new TextDecoder().decode(out.stdout);
  if (!legacy) return text.includes(dest);
  const prefix = `-A ${chain} `;
  let at = text.indexOf(prefix);
  while (at >= 0) {
    const end = text.indexOf("\n", at);
    if (text.slice(at, end < 0 ? undefined : end).includes(dest)) return true;
    at = text.indexOf(prefix, at + prefix.length);
  }
  return false;
}

/** nftables mode: whether a set of the `kube-proxy` table holds `element`. */
async function nftSetHas(set: string, element: string): Promise<boolean> {
  const out = await new Deno.Command("nft", {
    args: ["list", "set", "ip", "kube-proxy", set],
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  return out.code === 0 && new RegExp(`[ {]${element.replaceAll(".", "\\.")}[,\\s}]`).test(text);
}

/**
 * nftables mode's check of a change: whether `element` is in `set`, asked as a `nft --check`
 * deletion (refused when absent; changes nothing). The new endpoint's `hairpin-ips` element is
 * written in the same atomic transaction as its DNAT rule. Listing a chain or getting an element
 * would cost ~1.5 s at 10,000 services (nft 1.0.6 dumps every set's elements first).
 */
async function nftHasElement(set: string, element: string): Promise<boolean> {
  const child = new Deno.Command("nft", {
    args: ["--check", "-f", "-"],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(`delete element ip kube-proxy ${set} { ${element} }\n`));
  await w.close();
  return (await child.status).code === 0;
}

async function inner(flags: BenchFlags): Promise<ProxyRunResult> {
  const { ApiServerFixture } = await import("../tests/apiserver/server.ts");
  const { servicePortEndpointChainName } = await import("../proxy/iptables/chains.ts");
  const services = flags.number("services", 1000);
  const m = flags.number("endpoints", 10);
  const backend = flags.string("backend", "nft");
  const mode = flags.string("mode", "iptables") as "iptables" | "nftables";
  const base = {
    mode,
    services,
    endpointsPerService: m,
    backend,
    whatIf: flags.string("what-if", ""),
    loadMs: 0,
    firstSyncMs: -1,
    rssKb: 0,
    hwmKb: 0,
    latenciesMs: [] as number[],
    pollMs: 0,
  };
  await new Deno.Command("ip", { args: ["link", "set", "lo", "up"] }).output();
  const api = await ApiServerFixture.start({ listen: ["127.0.0.1:0"] });
  const dir = await Deno.makeTempDir({ prefix: "kpbench-proxy-" });
  let child: Deno.ChildProcess | undefined;
  let monitor: NftMonitor | undefined;
  try {
    const cluster = generateSyntheticCluster({ services, endpointsPerService: m });
    const t0 = performance.now();
    for (const o of cluster.namespaces) api.apply(o);
    api.apply(cluster.node);
    for (const o of cluster.services) api.apply(o);
    for (const o of cluster.endpointSlices) api.apply(o);
    base.loadMs = performance.now() - t0;
    const kubeconfig = `${dir}/kubeconfig`;
    await api.writeKubeconfig(kubeconfig);
    await Deno.writeTextFile(
      `${dir}/config.yaml`,
      renderConfig(kubeconfig, flags.string("min-sync-period", "1s"), mode),
    );
    const mainTs = new URL("../main.ts", import.meta.url).pathname;
    const logFile = await Deno.open(`${dir}/proxy.log`, { write: true, create: true });
    const env: Record<string, string> = {};
    const whatIf = flags.string("what-if", "");
    if (whatIf !== "") {
      // The proxy finds iptables-nft-restore on PATH: put the what-if wrapper first.
      await Deno.mkdir(`${dir}/bin`);
      await Deno.symlink(
        new URL("./restore_wrapper.sh", import.meta.url).pathname,
        `${dir}/bin/iptables-nft-restore`,
      );
      env.PATH = `${dir}/bin:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`;
      env.KPBENCH_WHAT_IF = whatIf;
      env.KPBENCH_STATE_DIR = `${dir}/restore-state`;
    }
    const start = performance.now();
    child = new Deno.Command(Deno.execPath(), {
      env: { ...CHILD_ENV, ...env },
      args: [
        "run",
        "-A",
        // What `deno task compile` bakes into the shipped binary (deno.json): measure that.
        `--v8-flags=${flags.string("v8-flags", BINARY_V8_FLAGS)}`,
        ...(flags.string("cpu-prof-dir", "") !== ""
          ? ["--cpu-prof", `--cpu-prof-dir=${flags.string("cpu-prof-dir", "")}`]
          : []),
        mainTs,
        "--config",
        `${dir}/config.yaml`,
        "--kubeconfig",
        kubeconfig,
        "--hostname-override",
        "node-0",
        `--iptables-backend=${backend}`,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    child.stderr.pipeTo(logFile.writable).catch(() => undefined);
    // The last ClusterIP service with a plain port (slot < 55 of the mix) and its first endpoint.
    let last = services - 1;
    while (last > 0 && (last % 100 >= 55 || last % 10 === 0)) last--;
    const lastChain = servicePortEndpointChainName(
      `${syntheticNamespace(last)}/${syntheticServiceName(last)}`,
      "tcp",
      `${ipOf(cluster, last, 0)}:8080`,
    );
    const timeout = flags.number("sync-timeout", 300_000);
    let exited = false;
    child.status.then(() => exited = true);
    // nftables mode: the last service's ClusterIP in `cluster-ips` (one transaction writes it
    // with every chain); listing that one set costs ~40 ms at 10,000 services.
    const lastIP = syntheticClusterIP(last);
    const lastSynced = () =>
      mode === "nftables"
        ? nftSetHas("cluster-ips", lastIP)
        : chainHasDnat(backend, lastChain, "DNAT");
    while (!(await lastSynced())) {
      if (exited) throw new Error(`main.ts exited: ${await tail(`${dir}/proxy.log`)}`);
      if (performance.now() - start > timeout) {
        const st = await readStatus(child.pid);
        return { ...base, ...st, error: `first sync not done after ${timeout} ms` };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    base.firstSyncMs = performance.now() - start;
    await new Promise((r) => setTimeout(r, 2000));
    Object.assign(base, await readStatus(child.pid));
    const polls: number[] = [];
    const changes = flags.number("changes", 0);
    // nftables mode only: beside iptables-nft's table at 10,000 services `nft monitor` took a
    // whole core and 1 GB decoding each restore's events (13:42), competing with the proxy.
    if (changes > 0 && mode === "nftables") monitor = await NftMonitor.start(300_000);
    for (let k = 0; k < changes; k++) {
      // Service j: a ClusterIP service with one plain port, not the terminating-endpoint ones.
      let j = 1 + k * 7;
      while (j % 100 >= 55 || j % 10 === 0) j++;
      j %= services;
      const slice = structuredClone(
        cluster.endpointSlices.find((s) =>
          (s.metadata as RawObject).name === `${syntheticServiceName(j)}-xxxx0`
        )!,
      );
      const newIP = `10.250.${(k >> 8) & 255}.${k & 255}`;
      const changed = (slice.endpoints as RawObject[])[0] as RawObject;
      changed.addresses = [newIP];
      // nftables mode: the new endpoint is on this node, so that its `hairpin-ips` element
      // (local endpoints only) marks the transaction in the kernel for `nftHasElement`.
      if (mode === "nftables") changed.nodeName = "node-0";
      const chain = servicePortEndpointChainName(
        `${syntheticNamespace(j)}/${syntheticServiceName(j)}`,
        "tcp",
        `${newIP}:8080`,
      );
      const dest = `--to-destination ${newIP}:8080`;
      const inKernel = async () => {
        const p0 = performance.now();
        const ok = mode === "nftables"
          ? await nftHasElement("hairpin-ips", `${newIP} . ${newIP}`)
          : await chainHasDnat(backend, chain, dest);
        polls.push(performance.now() - p0);
        return ok;
      };
      monitor?.clear();
      const written = performance.now();
      api.apply(slice);
      if (monitor !== undefined) {
        const at = await monitor.waitFor(`dnat to ${newIP}:8080`, written, 60_000);
        if (at === undefined) throw new Error(`change ${k} not seen in 60 s`);
        if (!(await inKernel())) throw new Error(`change ${k}: event seen, kernel read disagrees`);
        base.latenciesMs.push(at - written);
      } else {
        while (!(await inKernel())) {
          if (performance.now() - written > 60_000) throw new Error(`change ${k} not seen in 60 s`);
        }
        base.latenciesMs.push(performance.now() - written);
      }
      // Past minSyncPeriod, so the next change is synced as soon as it arrives.
      await new Promise((r) => setTimeout(r, 1500));
    }
    polls.sort((a, b) => a - b);
    base.pollMs = polls.length ? polls[Math.floor(polls.length / 2)] : 0;
    return {
      ...base,
      detection: monitor !== undefined ? "monitor" : "poll",
      syncMetrics: await scrapeSyncMetrics(),
    };
  } catch (err) {
    return { ...base, error: String(err) };
  } finally {
    await monitor?.close();
    if (child) await stopChild(child);
    await api.close();
    if (!flags.has("keep")) await Deno.remove(dir, { recursive: true }).catch(() => undefined);
  }
}

function ipOf(cluster: ReturnType<typeof generateSyntheticCluster>, i: number, e: number): string {
  const slice = cluster.endpointSlices.find((s) =>
    (s.metadata as RawObject).name === `${syntheticServiceName(i)}-xxxx0`
  )!;
  return (((slice.endpoints as RawObject[])[e] as RawObject).addresses as string[])[0];
}

/**
 * The proxy's own sync-duration metrics (sum and count per histogram), to split a latency into
 * the proxy's sync and everything before it.
 */
export async function scrapeSyncMetrics(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    const text = await (await fetch("http://127.0.0.1:10249/metrics")).text();
    for (const line of text.split("\n")) {
      const m =
        /^(kubeproxy_(?:sync_\w*proxy_rules\w*duration_seconds|network_programming_duration_seconds)_(?:sum|count))(?:\{[^}]*\})? ([\d.e+-]+)$/
          .exec(line);
      if (m) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
    }
  } catch { /* metrics not served */ }
  return out;
}

async function tail(path: string): Promise<string> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.slice(-1500);
}

if (import.meta.main) {
  const result = await inner(new BenchFlags(Deno.args));
  console.log(JSON.stringify(result));
  Deno.exit(0);
}
