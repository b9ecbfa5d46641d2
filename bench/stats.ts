/**
 * Summaries of repeated benchmark runs: median, min, max, p90 and the spread, so that every
 * figure in `bench/RESULTS.md` comes from several runs and says how much they varied.
 *
 * @module
 */

/** Summary of a set of samples (same unit as the samples). */
export interface Summary {
  readonly runs: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly p90: number;
  /** (max - min) / median, 0 for a single run. */
  readonly spread: number;
}

/** The `q` quantile (0..1) of sorted samples, by linear interpolation between closest ranks. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Summarizes samples.
 *
 * @throws RangeError when there are no samples.
 */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError("summarize() needs at least one sample");
  const sorted = [...samples].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  const min = sorted[0];
  const max = sorted[sorted.length - 1];
  return {
    runs: sorted.length,
    median,
    min,
    max,
    p90: quantile(sorted, 0.9),
    spread: median === 0 ? 0 : (max - min) / median,
  };
}

/** Runs `fn` `runs` times (after `warmup` unmeasured runs) and summarizes the milliseconds. */
export async function measureMs(
  fn: () => unknown | Promise<unknown>,
  runs: number,
  warmup = 0,
): Promise<Summary> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return summarize(samples);
}

/** Formats a summary for a Markdown table cell: `median (min-max, n=runs)`. */
export function formatSummary(s: Summary, unit = "ms", digits = 1): string {
  const f = (v: number) => v.toFixed(digits);
  return `${f(s.median)} ${unit} (${f(s.min)}-${f(s.max)}, n=${s.runs})`;
}

/** The machine a benchmark ran on, for the results' header. */
export interface MachineInfo {
  readonly nproc: number;
  readonly memTotalMb: number;
  readonly kernel: string;
  readonly loadAvg: string;
  readonly iptablesLegacy: string;
  readonly iptablesNft: string;
  readonly deno: string;
}

async function commandOutput(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "unavailable";
  }
}

/** Reads the machine facts: CPUs, memory, kernel, load, iptables and Deno versions. */
export async function readMachineInfo(): Promise<MachineInfo> {
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0);
  const loadAvg = (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ")
    .slice(0, 3).join(" ");
  return {
    nproc: navigator.hardwareConcurrency,
    memTotalMb: Math.round(memKb / 1024),
    kernel: Deno.osRelease(),
    loadAvg,
    iptablesLegacy: await commandOutput("iptables-legacy", ["--version"]),
    iptablesNft: await commandOutput("iptables-nft", ["--version"]),
    deno: Deno.version.deno,
  };
}

/** The 1-minute load average now (to note the machine's load next to a figure). */
export async function readLoadAverage(): Promise<number> {
  const text = await Deno.readTextFile("/proc/loadavg").catch(() => "0");
  return Number(text.split(" ")[0]);
}
